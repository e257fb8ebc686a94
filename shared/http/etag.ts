import { Errors } from '../errors.ts';
import type { HttpRequest } from './types.ts';

/** The ETag of a versioned resource: its version number, quoted. */
export const etagOf = (version: number): Record<string, string> => ({ etag: `"${version}"` });

/**
 * The version a client expects from `If-Match` (optimistic locking over HTTP, RFC 9110 13.1.1),
 * or undefined when it sent none. Anything but one version is refused.
 */
export function ifMatchVersion(request: HttpRequest): number | undefined {
  const header = request.headers['if-match'];
  if (header === undefined || header.trim() === '*') return undefined;
  const match = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(header);
  if (!match?.[1]) throw Errors.invalidRequest('If-Match must carry one version, e.g. "3".');
  return Number(match[1]);
}
