import { randomBytes, randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { logger } from '../logger.ts';
import type { Runtime } from '../runtime.ts';

/**
 * ES256 signing keys kept as one JSON secret in the secrets port, newest last: a key ring. The
 * newest key signs; the JWKS serves the newest and the one before it, so tokens signed just before
 * a rotation still verify until they expire. Two rings exist, on two secrets: the session keys
 * (sso_session) and the OpenID Provider's keys (applications' tokens). A verifier knows only its
 * own ring's key ids, so a token of one can never pass as the other.
 */
interface StoredKey {
  kid: string;
  privateJwk: JWK;
  createdAt: string;
}

type ImportedKey = Awaited<ReturnType<typeof importJWK>>;

export interface SigningKey {
  kid: string;
  privateKey: ImportedKey;
  publicKey: ImportedKey;
  publicJwk: JWK;
  /** The private JWK with `kid`, `alg` and `use`, for libraries that take keys as JWKs. */
  privateJwk: JWK;
}

export interface KeyRing {
  /** The usable keys, newest last; `create` makes the first key when the secret is empty. */
  keys(rt: Runtime, options?: { refresh?: boolean; create?: boolean }): Promise<SigningKey[]>;
  /** Adds a new key; the previous one keeps verifying. Returns the new key id. */
  rotate(rt: Runtime): Promise<string>;
  /** The newest key, made on first use. */
  current(rt: Runtime): Promise<SigningKey>;
  /** The key for a `kid`; an unknown kid re-reads the secret once (another container rotated). */
  byId(rt: Runtime, kid: string): Promise<SigningKey | undefined>;
  /** A random secret stored beside the keys (cookie signing), made with the first key. */
  cookieSecret(rt: Runtime, options?: { create?: boolean }): Promise<string>;
}

const KEEP = 2;
const CACHE_MS = 5 * 60 * 1000;

async function newStoredKey(rt: Runtime): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  return {
    kid: randomUUID(),
    privateJwk: await exportJWK(privateKey),
    createdAt: rt.clock.now().toISOString(),
  };
}

async function materialize(stored: StoredKey[]): Promise<SigningKey[]> {
  return Promise.all(
    stored.map(async (s) => {
      const { d: _d, ...publicPart } = s.privateJwk;
      const publicJwk = { ...publicPart, kid: s.kid, alg: 'ES256', use: 'sig' };
      return {
        kid: s.kid,
        privateKey: await importJWK(s.privateJwk, 'ES256'),
        publicKey: await importJWK(publicJwk, 'ES256'),
        publicJwk,
        privateJwk: { ...s.privateJwk, kid: s.kid, alg: 'ES256', use: 'sig' },
      };
    }),
  );
}

interface Stored {
  keys: StoredKey[];
  cookieSecret?: string;
}

/** A key ring on the secret `secretId(rt)` names; `label` goes into the log line of the first key. */
export function keyRing(label: string, secretId: (rt: Runtime) => string): KeyRing {
  let cache: { keys: SigningKey[]; cookieSecret: string | undefined; until: number } | undefined;

  async function readStored(rt: Runtime): Promise<Stored> {
    const parsed = JSON.parse(await rt.secrets.get(secretId(rt))) as Partial<Stored>;
    return {
      keys: Array.isArray(parsed.keys) ? parsed.keys : [],
      ...(typeof parsed.cookieSecret === 'string' ? { cookieSecret: parsed.cookieSecret } : {}),
    };
  }

  const ring: KeyRing = {
    async keys(rt, options = {}) {
      if (cache && cache.until > Date.now() && !options.refresh && cache.keys.length > 0) return cache.keys;
      let stored = await readStored(rt);
      if (stored.keys.length === 0 && options.create) {
        await rt.secrets.update(
          secretId(rt),
          JSON.stringify({
            keys: [await newStoredKey(rt)],
            cookieSecret: randomBytes(32).toString('base64url'),
          }),
        );
        // Read back: if two containers raced, both now use whichever write landed last.
        stored = await readStored(rt);
        logger.info(`${label} signing key created`);
      }
      const keys = await materialize(stored.keys.slice(-KEEP));
      cache = { keys, cookieSecret: stored.cookieSecret, until: Date.now() + CACHE_MS };
      return keys;
    },
    async rotate(rt) {
      const stored = await readStored(rt);
      const fresh = await newStoredKey(rt);
      await rt.secrets.update(
        secretId(rt),
        JSON.stringify({ ...stored, keys: [...stored.keys, fresh].slice(-KEEP) }),
      );
      cache = undefined;
      return fresh.kid;
    },
    async current(rt) {
      const key = (await ring.keys(rt, { create: true })).at(-1);
      if (!key) throw new Error(`no ${label} signing key`);
      return key;
    },
    async byId(rt, kid) {
      const found = (await ring.keys(rt)).find((k) => k.kid === kid);
      if (found) return found;
      return (await ring.keys(rt, { refresh: true })).find((k) => k.kid === kid);
    },
    async cookieSecret(rt, options = {}) {
      const create = options.create ?? true;
      await ring.keys(rt, { create });
      if (cache?.cookieSecret) return cache.cookieSecret;
      if (!create) throw new Error(`no ${label} cookie secret`);
      // A secret written before cookie secrets existed: add one beside its keys.
      const stored = await readStored(rt);
      const cookieSecret = stored.cookieSecret ?? randomBytes(32).toString('base64url');
      if (!stored.cookieSecret)
        await rt.secrets.update(secretId(rt), JSON.stringify({ ...stored, cookieSecret }));
      cache = undefined;
      return cookieSecret;
    },
  };
  return ring;
}

/** The session signing keys (sso_session JWTs). */
export const sessionKeys = keyRing('session', (rt) => rt.config.SESSION_KEYS_SECRET_ID);

export const signingKeys: KeyRing['keys'] = (rt, options) => sessionKeys.keys(rt, options);
export const rotateSigningKey: KeyRing['rotate'] = (rt) => sessionKeys.rotate(rt);
export const currentKey: KeyRing['current'] = (rt) => sessionKeys.current(rt);
export const keyById: KeyRing['byId'] = (rt, kid) => sessionKeys.byId(rt, kid);

/** The OpenID Provider's signing keys (applications' ID tokens, JWT access tokens, logout tokens). */
export const oauthKeys = keyRing('OpenID Provider', (rt) => rt.config.OAUTH_KEYS_SECRET_ID);
