import { createHash } from 'node:crypto';
import type { CustomFetch, FetchBody } from 'openid-client';
import { AppError } from '../errors.ts';
import { type GuardOptions, guardedFetch } from '../net/url-guard.ts';

/**
 * Every byte openid-client exchanges with an OpenID Provider goes through here: the SSRF guard (the
 * tenant's custom CA included), a timeout, no redirects and a size cap, plus the per-container
 * caches of discovery documents and JWK sets. Nothing here logs a token, a code or a secret.
 */

/** How long a discovery document / JWK set is reused by one container before it is fetched again. */
export const DISCOVERY_TTL_SECONDS = 15 * 60;
export const JWKS_TTL_SECONDS = 10 * 60;
/** An IdP answer larger than this is refused (a JWK set or a token response is a few KB). */
const MAX_RESPONSE_BYTES = 512 * 1024;
const MAX_CACHE_ENTRIES = 500;

/** A small per-container cache with a TTL; the oldest entry goes first when it is full. */
export class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();

  get(key: string, nowMs: number): V | undefined {
    const hit = this.#entries.get(key);
    if (!hit) return undefined;
    if (hit.until <= nowMs) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V, ttlSeconds: number, nowMs: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= MAX_CACHE_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, until: nowMs + ttlSeconds * 1000 });
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

interface CachedJwks {
  text: string;
  contentType: string;
  kids: Set<string>;
}

const jwksCache = new TtlCache<CachedJwks>();

/** Cache keys include the CA: a document fetched under one tenant's trust is not reused under another's. */
export const cacheKey = (url: string, caPem: string | undefined) =>
  `${url}\n${caPem ? createHash('sha256').update(caPem).digest('base64url') : 'public-roots'}`;

/** For tests: forget every cached JWK set. */
export const clearJwksCache = () => jwksCache.clear();

const sameUrl = (a: string, b: string | undefined) => {
  if (b === undefined) return false;
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return false;
  }
};

/** What the token endpoint answered, noted on the way through so refusals can be precise. */
export interface TokenResponseFacts {
  /** The ID token is a JWE (five parts): we accept signed ID tokens only. */
  encryptedIdToken: boolean;
  /** The `kid` of the ID token's JWS header, when it has one. */
  idTokenKid?: string;
}

function bodyOf(body: FetchBody): string | URLSearchParams | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string' || body instanceof URLSearchParams || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  // openid-client sends forms and strings only; a stream would escape the size and timeout rules.
  throw new AppError(500, 'internal_error', 'unexpected request body type', { expose: false });
}

/** A Response for openid-client from a body already read (and size-checked) by the guard. */
function toResponse(status: number, headers: Headers, text: string): Response {
  const copied: [string, string][] = [];
  headers.forEach((value, name) => {
    copied.push([name, value]);
  });
  return new Response(text === '' && [204, 205, 304].includes(status) ? null : text, {
    status,
    headers: copied,
  });
}

function kidsOf(text: string): Set<string> {
  try {
    const parsed = JSON.parse(text) as { keys?: unknown };
    if (!Array.isArray(parsed.keys)) return new Set();
    return new Set(
      parsed.keys.flatMap((k: unknown) =>
        typeof k === 'object' && k !== null && typeof (k as { kid?: unknown }).kid === 'string'
          ? [(k as { kid: string }).kid]
          : [],
      ),
    );
  } catch {
    return new Set();
  }
}

/** Reads the unverified JWS header of an ID token in a token response: only to choose keys, never to trust. */
function noteTokenResponse(text: string, facts: TokenResponseFacts): void {
  let idToken: unknown;
  try {
    idToken = (JSON.parse(text) as { id_token?: unknown }).id_token;
  } catch {
    return;
  }
  if (typeof idToken !== 'string') return;
  const parts = idToken.split('.');
  if (parts.length === 5) {
    facts.encryptedIdToken = true;
    return;
  }
  try {
    const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown };
    if (typeof header.kid === 'string') facts.idTokenKid = header.kid;
  } catch {
    // openid-client refuses the malformed token itself
  }
}

export interface IdpEndpoints {
  tokenEndpoint?: string;
  jwksUri?: string;
}

/**
 * The `[customFetch]` given to openid-client for one login. The JWK set is served from the
 * container's cache, except when the ID token just received names a `kid` the cached set lacks:
 * then the set is fetched again, once (the IdP rotated its keys). openid-client asks for the set
 * exactly once per Configuration, after the token response, so this is the one refetch.
 */
export function idpFetch(
  rt: { clock: { now(): Date } },
  guard: GuardOptions,
  endpoints: IdpEndpoints,
  facts: TokenResponseFacts,
): CustomFetch {
  return async (url, options) => {
    const isJwks = options.method === 'GET' && sameUrl(url, endpoints.jwksUri);
    const key = cacheKey(url, guard.caPem);
    if (isJwks) {
      const cached = jwksCache.get(key, rt.clock.now().getTime());
      const kidKnown = facts.idTokenKid === undefined || cached?.kids.has(facts.idTokenKid);
      if (cached && kidKnown) {
        return toResponse(200, new Headers({ 'content-type': cached.contentType }), cached.text);
      }
    }
    const body = bodyOf(options.body);
    const response = await guardedFetch(url, {
      ...guard,
      maxBytes: MAX_RESPONSE_BYTES,
      init: {
        method: options.method,
        headers: options.headers,
        ...(body === undefined ? {} : { body }),
      },
    });
    if (isJwks && response.status === 200) {
      jwksCache.set(
        key,
        {
          text: response.text,
          contentType: response.headers.get('content-type') ?? 'application/json',
          kids: kidsOf(response.text),
        },
        JWKS_TTL_SECONDS,
        rt.clock.now().getTime(),
      );
    }
    if (response.status === 200 && sameUrl(url, endpoints.tokenEndpoint)) {
      noteTokenResponse(response.text, facts);
    }
    return toResponse(response.status, response.headers, response.text);
  };
}
