/**
 * Redaction of what a log line carries. Two rules, applied to everything the platform logger writes:
 * - in a structured value, the value of every key that names a secret (SECRET_KEY) is replaced, however deep;
 * - in text, bearer and basic credentials, tenant API keys (`apk_<id>_<secret>`: the key id is kept, it is not
 *   secret) and `key=value` / `"key": "value"` pairs whose key names a secret are replaced.
 * Text rules can only catch secrets that look like one; the code's own rule stays first: never put a secret in a
 * message (errors name ids and fields, not values).
 */
export const SECRET_KEY = /token|secret|password|api_?key|authorization|code_?verifier|credential|cookie/i;

export const REDACTED = '[REDACTED]';

const SCHEME_CREDENTIAL = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const API_KEY = /\bapk_[A-Za-z0-9_-]+/g;
const API_KEY_ID = /^apk_([A-Za-z0-9]{12})_/;
const KEY_CHARS = 'A-Za-z0-9_.-';
const SECRET_PAIR = new RegExp(
  `(["']?)([${KEY_CHARS}]*(?:${SECRET_KEY.source})[${KEY_CHARS}]*)\\1(\\s*[:=]\\s*)("(?:[^"\\\\]|\\\\.)*"|'[^']*'|[^\\s&,;}\\]]+)`,
  'gi',
);

/** `text` with every credential that looks like one replaced by [REDACTED]. */
export function redactText(text: string): string {
  return text
    .replace(SCHEME_CREDENTIAL, (_match, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(API_KEY, (key) => {
      const id = API_KEY_ID.exec(key);
      return id ? `apk_${id[1]}_${REDACTED}` : `apk_${REDACTED}`;
    })
    .replace(SECRET_PAIR, (_match, quote: string, key: string, separator: string, value: string) => {
      const quoted = value.startsWith('"') ? `"${REDACTED}"` : value.startsWith("'") ? `'${REDACTED}'` : REDACTED;
      return `${quote}${key}${quote}${separator}${quoted}`;
    });
}

const MAX_DEPTH = 8;

/** A copy of `value` safe to log: secret-named keys replaced at any depth, text redacted, cycles and depth cut. */
export function redact(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[truncated]';
  seen.add(value);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return '[binary]';
  if (value instanceof Date) return value.toISOString();
  // An error's message may quote input: redacted like any text. Its stack is left out (see PlatformLogger).
  if (value instanceof Error) return { name: value.name, message: redactText(value.message) };
  if (Array.isArray(value)) return value.map((item) => redact(item, depth + 1, seen));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = SECRET_KEY.test(key) && item !== null && item !== undefined ? REDACTED : redact(item, depth + 1, seen);
  }
  return copy;
}
