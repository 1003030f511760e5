export const EVENT_WRITER = Symbol('EVENT_WRITER');
export const REFRESH_LOCK = Symbol('REFRESH_LOCK');
/** The refresher's own in-memory view of connections and the projector that keeps it (and the plan book). */
export const REFRESHER_STORE = Symbol('REFRESHER_STORE');
export const REFRESHER_PROJECTOR = Symbol('REFRESHER_PROJECTOR');
export const PLAN_BOOK = Symbol('PLAN_BOOK');
