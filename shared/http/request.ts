import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { AppError, Errors, MAX_DOCUMENT_DEPTH } from '../errors.ts';
import type { HttpEvent, HttpRequest } from './types.ts';

/** The largest body any route accepts, decoded (SAML responses included). */
export const MAX_BODY_BYTES = 256 * 1024;

const tooLarge = () =>
  new AppError(413, 'payload_too_large', `The request body is larger than ${MAX_BODY_BYTES / 1024} KB.`);

function decodeBody(event: HttpEvent): string | undefined {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  if (!event.isBase64Encoded) {
    if (Buffer.byteLength(event.body, 'utf8') > MAX_BODY_BYTES) throw tooLarge();
    return event.body;
  }
  // Check the encoded length first so a huge body is never decoded.
  if (Math.floor((event.body.length * 3) / 4) > MAX_BODY_BYTES + 2) throw tooLarge();
  const bytes = Buffer.from(event.body, 'base64');
  if (bytes.length > MAX_BODY_BYTES) throw tooLarge();
  return bytes.toString('utf8');
}

function parseForm(text: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in out) throw Errors.invalidRequest(`The form field "${name}" appears more than once.`);
    out[name] = value;
  }
  return out;
}

/**
 * Whether JSON text nests arrays and objects deeper than `limit`, counted on the text in one loop
 * (brackets inside strings do not count). JSON.parse takes any depth, but what reads the value
 * afterwards (zod, merge patch, the DynamoDB marshaller, JSON.stringify) recurses and would
 * overflow the stack on 40,000 levels. Exact for valid JSON; invalid JSON is refused by the parser.
 */
export function jsonNestsDeeperThan(text: string, limit = MAX_DOCUMENT_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      // A backslash escapes the next character, a quote included.
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

function parseBody(contentType: string | undefined, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    if (jsonNestsDeeperThan(text)) throw Errors.jsonTooDeep();
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new AppError(400, 'invalid_json', 'The request body is not valid JSON.', { cause });
    }
  }
  if (mediaType === 'application/x-www-form-urlencoded') return parseForm(text);
  throw new AppError(
    415,
    'unsupported_media_type',
    'Send the body as application/json or application/x-www-form-urlencoded.',
  );
}

function lowerCaseHeaders(headers: HttpEvent['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value !== undefined) out[name.toLowerCase()] = value;
  }
  return out;
}

/** RFC 6265 cookie pairs; the first occurrence of a name wins, as browsers send the most specific first. */
export function parseCookies(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const pair of pairs.flatMap((c) => c.split(';'))) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    if (name in out) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      out[name] = decodeURIComponent(value);
    } catch {
      out[name] = value;
    }
  }
  return out;
}

function stringRecord(input: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(input ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Turns an API Gateway HTTP API (payload v2) event into the request an operation sees. The body is
 * parsed when an operation first reads it, which is after it has authorized the caller: a caller
 * who may not use a route learns nothing from how its body is refused (not even that it is
 * malformed JSON, too deep, or of the wrong media type).
 */
export function toRequest(event: HttpEvent): HttpRequest {
  const headers = lowerCaseHeaders(event.headers);
  const rawBody = decodeBody(event);
  const cookieHeader = headers.cookie;
  let parsed: { value: unknown } | undefined;
  return {
    routeKey: event.routeKey,
    method: event.requestContext.http.method.toUpperCase(),
    path: event.rawPath,
    params: stringRecord(event.pathParameters),
    query: stringRecord(event.queryStringParameters),
    rawQuery: event.rawQueryString ?? '',
    headers,
    cookies: parseCookies(event.cookies ?? (cookieHeader ? [cookieHeader] : [])),
    get body() {
      parsed ??= { value: parseBody(headers['content-type'], rawBody) };
      return parsed.value;
    },
    rawBody,
    sourceIp: event.requestContext.http.sourceIp,
    requestId: event.requestContext.requestId || randomUUID(),
  };
}

/** A path parameter the route table guarantees; a missing one is a routing bug, not user error. */
export function pathParam(request: HttpRequest, name: string): string {
  const value = request.params[name];
  if (value === undefined || value === '')
    throw Errors.invalidRequest(`The path parameter "${name}" is missing.`);
  return value;
}

export interface ValidationIssue {
  path: string;
  message: string;
}

/** Validates input with a zod schema; failures become 400 invalid_request naming each field. */
export function validate<S extends z.ZodType>(schema: S, input: unknown, what = 'request body'): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const details: ValidationIssue[] = result.error.issues.slice(0, 20).map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  const first = details[0];
  throw Errors.invalidRequest(
    first ? `The ${what} is invalid: ${first.path}: ${first.message}` : `The ${what} is invalid.`,
    details,
  );
}

/** The body of a JSON route: present and an object. */
export function jsonBody(request: HttpRequest): unknown {
  if (request.body === undefined) throw Errors.invalidRequest('A JSON request body is required.');
  return request.body;
}
