/** DI tokens of the gateway. */
export const FLOW_STORE = Symbol('FLOW_STORE');
export const EVENT_WRITER = Symbol('EVENT_WRITER');
