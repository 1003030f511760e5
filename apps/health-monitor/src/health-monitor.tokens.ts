export const EVENT_WRITER = Symbol('EVENT_WRITER');
export const MONITOR_PROJECTOR = Symbol('MONITOR_PROJECTOR');
export const MONITOR_STORE = Symbol('MONITOR_STORE');
