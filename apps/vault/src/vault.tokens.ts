/** DI tokens of vault's ports (CONFIG, NATS_CONNECTION and CLOCK come from @authpipe/platform). */
export const SECRET_STORE = Symbol('SECRET_STORE');
export const KEY_ENCRYPTION_KEY_PROVIDER = Symbol('KEY_ENCRYPTION_KEY_PROVIDER');
export const AUDIT_LOG = Symbol('AUDIT_LOG');
export const JOB_STATE_STORE = Symbol('JOB_STATE_STORE');
