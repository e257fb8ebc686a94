/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key, anything else
 * (arrays included) replaces. With a `depth`, objects below it are replaced whole. Keys are defined as own properties, so `__proto__` in a patch stays a
 * plain key that strict validation then refuses, instead of reaching a prototype.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function mergePatch(target: unknown, patch: unknown, depth = Number.POSITIVE_INFINITY): unknown {
  if (!isObject(patch) || depth <= 0) return patch;
  const result: Record<string, unknown> = {};
  if (isObject(target)) {
    for (const key of Object.keys(target)) define(result, key, target[key]);
  }
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete result[key];
    else
      define(result, key, mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value, depth - 1));
  }
  return result;
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
