export const PROJECTOR = Symbol('PROJECTOR');
export const EVENT_WRITER = Symbol('EVENT_WRITER');
/** HistoryHead of the configured event store: where the history ends now (read-your-writes). */
export const HISTORY_HEAD = Symbol('HISTORY_HEAD');
