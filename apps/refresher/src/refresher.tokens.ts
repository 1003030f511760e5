export const EVENT_WRITER = Symbol('EVENT_WRITER');
