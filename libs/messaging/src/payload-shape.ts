/**
 * Keys that reach an object's prototype when a payload is merged or turned into a class instance. class-transformer
 * takes a nested object's `constructor` for its type (a TypeError on `{"constructor": {}}`), and `__proto__` swaps
 * an instance's prototype; no contract has such a field, so a payload carrying one is refused before it is read.
 */
const PROTOTYPE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Deeper than any contract nests (a credential inside a store request is two levels). */
export const MAX_PAYLOAD_DEPTH = 16;

/**
 * Why a parsed JSON payload must not reach class-transformer and class-validator (both recurse, and a body nested
 * thousands of levels deep overflows their stack), or undefined when its shape is safe. Walks iteratively.
 */
export function unsafePayloadShape(payload: unknown): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value: payload, depth: 0 }];
  while (stack.length) {
    const { value, depth } = stack.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_PAYLOAD_DEPTH) return `it is nested more than ${MAX_PAYLOAD_DEPTH} levels deep`;
    for (const key of Object.keys(value)) {
      if (!Array.isArray(value) && PROTOTYPE_KEYS.has(key)) return `a key "${key}" is not allowed`;
      stack.push({ value: (value as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return undefined;
}
