/** DI tokens shared by the apps. */
export const CONFIG = Symbol('CONFIG');
export const EVENT_STORE = Symbol('EVENT_STORE');
export const READ_MODELS = Symbol('READ_MODELS');
export const NATS_CONNECTION = Symbol('NATS_CONNECTION');
export const PROVIDER_CATALOG = Symbol('PROVIDER_CATALOG');
export const CLOCK = Symbol('CLOCK');

/** Time comes in through this, never `new Date()` inside a rule, so tests can move it. */
export interface Clock {
  now(): Date;
}
export const systemClock: Clock = { now: () => new Date() };
