import fc from 'fast-check';

/*
 * Hostile values shared by the HTTP and NATS fuzz suites: strings that attack a store, a path, a header, a page or an
 * object's prototype, values of every JSON type, and byte sequences that are not UTF-8.
 */

/** The suites' default seed: fixed so that a run is reproducible; FUZZ_SEED replays another one. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20261127);

/** RESILIENCE_SCALE (default 1) multiplies how many cases each property runs. */
export const FUZZ_SCALE = Math.max(1, Number(process.env.RESILIENCE_SCALE ?? 1) || 1);

export const runs = (base: number): number => Math.round(base * FUZZ_SCALE);

/** Marks a page or problem must never reflect verbatim (reflected XSS). */
export const SCRIPT_MARKER = '<script>alert(1)</script>';

export const INJECTION_STRINGS: readonly string[] = [
  // NoSQL operators, as they reach a mingo or MongoDB filter through a string or a parsed query.
  '$where',
  '{"$gt":""}',
  '{"$ne":null}',
  '$regex',
  '.*',
  // Path traversal, plain and encoded.
  '../../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '%2e%2e%2f%2e%2e%2f',
  '..\\..\\windows\\win.ini',
  '/v1/admin/tenants',
  // Header injection and response splitting.
  'x\r\nSet-Cookie: injected=1',
  '%0d%0aX-Injected:%201',
  // Script and markup.
  SCRIPT_MARKER,
  '"><img src=x onerror=alert(1)>',
  "javascript:alert('x')",
  // Prototype pollution keys.
  '__proto__',
  'constructor',
  'prototype',
  // Others: SQL, template, log forging, NUL, control and format characters, lone surrogates, very long.
  "' OR '1'='1",
  '${jndi:ldap://127.0.0.1/x}',
  '{{7*7}}',
  'line\nforged [query-api] log line',
  'nul\u0000byte',
  '\u202Egnp.exe',
  '\uD800',
  '\uFEFF',
  '🔥'.repeat(50),
  'a'.repeat(5_000),
];

export const injectionString = (): fc.Arbitrary<string> => fc.constantFrom(...INJECTION_STRINGS);

/** Any string, weighted towards the hostile ones. */
export const hostileString = (): fc.Arbitrary<string> =>
  fc.oneof({ weight: 3, arbitrary: injectionString() }, { weight: 2, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) });

/** Objects that attack a prototype or a query engine when merged or used as a filter. */
export const hostileObject = (): fc.Arbitrary<Record<string, unknown>> =>
  fc.constantFrom<Record<string, unknown>>(
    JSON.parse('{"__proto__":{"polluted":true}}'),
    JSON.parse('{"constructor":{"prototype":{"polluted":true}}}'),
    { $gt: '' },
    { $ne: null },
    { $where: 'sleep(1000)' },
    { $regex: '.*' },
    { toString: 'x', valueOf: 1 },
  );

/** A value of a type a field did not ask for. */
export const wrongValue = (): fc.Arbitrary<unknown> =>
  fc.oneof(
    hostileString(),
    hostileObject(),
    fc.integer(),
    fc.double(),
    fc.constantFrom(null, true, false, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, '', [], {}),
    fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), hostileObject()), { maxLength: 4 }),
    fc.jsonValue({ maxDepth: 3 }),
  );

/** Bytes that are not valid UTF-8 (lone continuation bytes, overlong forms, surrogates, truncated sequences). */
export const badUtf8 = (): fc.Arbitrary<Buffer> =>
  fc
    .tuple(
      fc.constantFrom(
        [0xff],
        [0xfe, 0xff],
        [0xc0, 0xaf],
        [0xe0, 0x80, 0xaf],
        [0xed, 0xa0, 0x80],
        [0xf4, 0x90, 0x80, 0x80],
        [0x80],
        [0xc3],
        [0xe2, 0x82],
      ),
      fc.string({ maxLength: 20 }),
      fc.string({ maxLength: 20 }),
    )
    .map(([bad, before, after]) => Buffer.concat([Buffer.from(`{"x":"${before.replace(/["\\]/g, '')}`), Buffer.from(bad), Buffer.from(`${after.replace(/["\\]/g, '')}"}`)]));

/** Text that is not JSON (nor empty), or JSON cut short. */
export const malformedJson = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom('{', '{"a":', '{"a":1,}', "{'a':1}", '[1,2', 'undefined', 'NaN', '{"a":01}', '{"a":"\\x41"}', '\u0000', '{"__proto__":', '}{'),
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)).filter((s) => s.length > 2).map((s) => s.slice(0, -1)),
    fc.string({ minLength: 1, maxLength: 60 }).filter((s) => {
      try {
        JSON.parse(s);
        return false;
      } catch {
        return true;
      }
    }),
  );

/** JSON nested deeper than any parser should be asked to recurse. */
export const deeplyNested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Percent-encode a string's UTF-8 bytes (encodeURIComponent throws on a lone surrogate; this sends U+FFFD's bytes). */
export const encodePart = (value: string): string =>
  [...Buffer.from(value, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
