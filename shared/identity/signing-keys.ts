import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { logger } from '../logger.ts';
import type { Runtime } from '../runtime.ts';

/**
 * Session signing keys (ES256), kept as one JSON secret in the secrets port: newest last. Sessions
 * are signed with the newest key; the JWKS serves the newest and the one before it, so tokens
 * signed just before a rotation still verify until they expire.
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
}

const KEEP = 2;
const CACHE_MS = 5 * 60 * 1000;
let cache: { keys: SigningKey[]; until: number } | undefined;

async function readStored(rt: Runtime): Promise<StoredKey[]> {
  const raw = await rt.secrets.get(rt.config.SESSION_KEYS_SECRET_ID);
  const parsed = JSON.parse(raw) as { keys?: StoredKey[] };
  return Array.isArray(parsed.keys) ? parsed.keys : [];
}

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
      };
    }),
  );
}

/**
 * The usable keys, newest last. An empty secret (first use after deploy) gets its first key from a
 * function that signs sessions (`create`; its role may write the secret); verifiers only read.
 */
export async function signingKeys(
  rt: Runtime,
  options: { refresh?: boolean; create?: boolean } = {},
): Promise<SigningKey[]> {
  if (cache && cache.until > Date.now() && !options.refresh && cache.keys.length > 0) return cache.keys;
  let stored = await readStored(rt);
  if (stored.length === 0 && options.create) {
    await rt.secrets.update(
      rt.config.SESSION_KEYS_SECRET_ID,
      JSON.stringify({ keys: [await newStoredKey(rt)] }),
    );
    // Read back: if two containers raced, both now use whichever write landed last.
    stored = await readStored(rt);
    logger.info('session signing key created');
  }
  const keys = await materialize(stored.slice(-KEEP));
  cache = { keys, until: Date.now() + CACHE_MS };
  return keys;
}

/** Adds a new signing key; the previous one keeps verifying. Returns the new key id. */
export async function rotateSigningKey(rt: Runtime): Promise<string> {
  const stored = await readStored(rt);
  const fresh = await newStoredKey(rt);
  await rt.secrets.update(
    rt.config.SESSION_KEYS_SECRET_ID,
    JSON.stringify({ keys: [...stored, fresh].slice(-KEEP) }),
  );
  cache = undefined;
  return fresh.kid;
}

export async function currentKey(rt: Runtime): Promise<SigningKey> {
  const keys = await signingKeys(rt, { create: true });
  const key = keys.at(-1);
  if (!key) throw new Error('no session signing key');
  return key;
}

/** The key for a `kid`; an unknown kid re-reads the secret once (another container rotated). */
export async function keyById(rt: Runtime, kid: string): Promise<SigningKey | undefined> {
  const found = (await signingKeys(rt)).find((k) => k.kid === kid);
  if (found) return found;
  return (await signingKeys(rt, { refresh: true })).find((k) => k.kid === kid);
}
