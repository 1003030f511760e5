export const PROJECTOR = Symbol('PROJECTOR');
export const EVENT_WRITER = Symbol('EVENT_WRITER');
