import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, type Dispatcher, fetch as undiciFetch } from 'undici';
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

const agents = new Map<string, Agent>();

/** An undici dispatcher whose every connection is checked against the internal ranges. */
export function guardedDispatcher(options: GuardOptions): Dispatcher {
  const key = `${options.allowPrivate}|${options.caPem ?? ''}|${options.timeoutMs ?? 5000}`;
  const cached = agents.get(key);
  if (cached) return cached;
  const agent = new Agent({
    connectTimeout: options.timeoutMs ?? 5000,
    headersTimeout: options.timeoutMs ?? 5000,
    bodyTimeout: options.timeoutMs ?? 5000,
    connect: {
      ...(options.caPem ? { ca: options.caPem } : {}),
      lookup: (hostname, lookupOptions, callback) => {
        dnsLookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
          if (error) return callback(error, '', 0);
          const list = Array.isArray(addresses) ? addresses : [];
          const usable = options.allowPrivate ? list : list.filter((a) => !isInternalAddress(a.address));
          if (usable.length === 0) {
            return callback(
              Object.assign(new Error(`${hostname} resolves to an internal address`), { code: 'EBLOCKED' }),
              '',
              0,
            );
          }
          if ((lookupOptions as { all?: boolean }).all)
            return (callback as (e: null, a: typeof usable) => void)(null, usable);
          const first = usable[0] as { address: string; family: number };
          return callback(null, first.address, first.family);
        });
      },
    },
  });
  agents.set(key, agent);
  return agent;
}

/** A fetch for tenant-supplied URLs: guard, timeout, redirects refused, body capped. */
export async function guardedFetch(
  raw: string,
  options: GuardOptions & { maxBytes?: number; init?: Parameters<typeof undiciFetch>[1] },
): Promise<{ status: number; headers: Headers; text: string }> {
  const url = checkUrl(raw, options);
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  let response: Awaited<ReturnType<typeof undiciFetch>>;
  try {
    response = await undiciFetch(url, {
      ...options.init,
      redirect: 'error',
      dispatcher: guardedDispatcher(options),
      signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
    });
  } catch (cause) {
    throw new AppError(502, 'fetch_failed', 'The URL could not be fetched.', { cause });
  }
  const reader = response.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new AppError(502, 'response_too_large', `The response is larger than ${maxBytes} bytes.`);
    }
    chunks.push(value);
  }
  return {
    status: response.status,
    headers: response.headers as unknown as Headers,
    text: Buffer.concat(chunks).toString('utf8'),
  };
}
