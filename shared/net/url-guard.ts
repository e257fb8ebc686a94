import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { AppError } from '../errors.ts';
import { isInternalAddress } from './addresses.ts';

export { isInternalAddress, isOpenedPrivate } from './addresses.ts';

/**
 * The SSRF guard for every URL a tenant supplies (metadata URL, OIDC issuer and endpoints, JWKS):
 * https only, a timeout, a size cap, and no private, loopback, link-local or otherwise internal
 * address, checked on the addresses the connection really uses (so DNS rebinding does not help).
 * ALLOW_PRIVATE_URLS (local development and tests only) lifts the address and https rules.
 */
export interface GuardOptions {
  allowPrivate: boolean;
  /** A custom CA (PEM) trusted for this IdP instead of the public roots. */
  caPem?: string;
  timeoutMs?: number;
}

export const blockedUrl = (why: string) =>
  new AppError(400, 'url_not_allowed', `The URL is not allowed: ${why}.`);

/** Checks a URL's form before any request: scheme, credentials, literal internal addresses. */
export function checkUrl(raw: string, options: Pick<GuardOptions, 'allowPrivate'>): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw blockedUrl('it is not a URL');
  }
  if (url.protocol !== 'https:' && !(options.allowPrivate && url.protocol === 'http:')) {
    throw blockedUrl('it must use https');
  }
  if (url.username || url.password) throw blockedUrl('it must not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowPrivate && (isIP(host) ? isInternalAddress(host) : /(^|\.)localhost$/i.test(host))) {
    throw blockedUrl('it points at an internal address');
  }
  return url;
}

/**
 * The resolver every guarded connection uses: it resolves the host itself and refuses internal
 * addresses unless allowed, so the socket goes to an address that was checked (no DNS rebinding).
 */
function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const list = Array.isArray(addresses) ? addresses : [];
      const usable = allowPrivate ? list : list.filter((a) => !isInternalAddress(a.address));
      if (usable.length === 0) {
        const blocked = Object.assign(new Error(`${hostname} resolves to an internal address`), {
          code: 'EBLOCKED',
        });
        return callback(blocked, '', 0);
      }
      if ((lookupOptions as { all?: boolean }).all) {
        return (callback as unknown as (e: null, a: typeof usable) => void)(null, usable);
      }
      const first = usable[0] as { address: string; family: number };
      return callback(null, first.address, first.family);
    });
  };
}

export interface GuardedInit {
  method?: string;
  headers?: HeadersInit;
  body?: string | Uint8Array | URLSearchParams;
}

/**
 * A fetch for tenant-supplied URLs on node:http(s): guard, custom CA, timeout, redirects refused,
 * body capped. (Node's own HTTP client keeps the undici package, half a megabyte, out of bundles.)
 */
export async function guardedFetch(
  raw: string,
  options: GuardOptions & { maxBytes?: number; init?: GuardedInit },
): Promise<{ status: number; headers: Headers; text: string }> {
  const url = checkUrl(raw, options);
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const timeoutMs = options.timeoutMs ?? 5000;
  const headers: Record<string, string> = {};
  new Headers(options.init?.headers).forEach((value, name) => {
    headers[name] = value;
  });
  const given = options.init?.body;
  if (given instanceof URLSearchParams)
    headers['content-type'] ??= 'application/x-www-form-urlencoded;charset=UTF-8';
  const body = given instanceof URLSearchParams ? given.toString() : given;
  if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const failed = (cause: unknown) =>
    new AppError(502, 'fetch_failed', 'The URL could not be fetched.', { cause });
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.init?.method ?? 'GET',
        headers,
        lookup: guardedLookup(options.allowPrivate),
        timeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
        ...(options.caPem ? { ca: options.caPem } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          return reject(failed(new Error(`redirect (${status}) refused`)));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            req.destroy();
            reject(new AppError(502, 'response_too_large', `The response is larger than ${maxBytes} bytes.`));
          } else chunks.push(chunk);
        });
        res.on('error', (error) => reject(failed(error)));
        res.on('end', () => {
          const out = new Headers();
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) out.set(name, Array.isArray(value) ? value.join(', ') : value);
          }
          resolve({ status, headers: out, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (error) => reject(failed(error)));
    if (body !== undefined) req.write(body);
    req.end();
  });
}
