import { Errors, MAX_DOCUMENT_DEPTH } from './errors.ts';

/**
 * JSON Merge Patch (RFC 7396): objects merge key by key, `null` removes a key, anything else
 * (arrays included) replaces. With a `depth`, objects below it are replaced whole. Keys are defined as own properties, so `__proto__` in a patch stays a
 * plain key that strict validation then refuses, instead of reaching a prototype. The merge
 * recurses as deep as the patch nests: past MAX_DOCUMENT_DEPTH it refuses (`json_too_deep`)
 * rather than overflow the stack, whoever forgot to bound the input.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function mergePatch(target: unknown, patch: unknown, depth = Number.POSITIVE_INFINITY): unknown {
  return merge(target, patch, depth, 0);
}

function merge(target: unknown, patch: unknown, depth: number, level: number): unknown {
  if (!isObject(patch) || depth <= 0) return patch;
  if (level >= MAX_DOCUMENT_DEPTH) throw Errors.jsonTooDeep();
  const result: Record<string, unknown> = {};
  if (isObject(target)) {
    for (const key of Object.keys(target)) define(result, key, target[key]);
  }
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete result[key];
    else
      define(
        result,
        key,
        merge(Object.hasOwn(result, key) ? result[key] : undefined, value, depth - 1, level + 1),
      );
  }
  return result;
}

function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
