import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { AppError, Errors } from '../errors.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import {
  deleteToken,
  getTokenByHash,
  putToken,
  type TokenRecord,
  tokensOfUser,
  touchToken,
} from '../store/tokens.ts';

/**
 * API tokens for the CLI: 256 random bits behind a recognisable prefix, shown once; the table keeps
 * only their SHA-256, with name, expiry and last use.
 */
export const TOKEN_PREFIX = 'sso_';
const MAX_TOKENS_PER_USER = 50;
/** Last use is recorded at most this often, so a busy CLI does not write on every call. */
const TOUCH_EVERY_SECONDS = 300;

export const CreateTokenBody = z.strictObject({
  name: z.string().trim().min(1).max(100),
  expiresInDays: z.int().min(1).max(365).default(90),
});

const hashOf = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
export const looksLikeApiToken = (credential: string) => /^sso_[A-Za-z0-9_-]{43}$/.test(credential);

export const tokenView = (t: TokenRecord) => ({
  id: t.id,
  name: t.name,
  createdAt: t.createdAt,
  expiresAt: t.expiresAtIso,
  ...(t.lastUsedAt ? { lastUsedAt: t.lastUsedAt } : {}),
});

export async function createToken(
  rt: Runtime,
  owner: { userId: string; tenantId: string },
  body: z.output<typeof CreateTokenBody>,
) {
  const existing = await tokensOfUser(rt.db, owner.userId);
  if (existing.length >= MAX_TOKENS_PER_USER) {
    throw new AppError(409, 'limit_exceeded', `A user can have at most ${MAX_TOKENS_PER_USER} API tokens.`);
  }
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const now = rt.clock.now();
  const expires = new Date(now.getTime() + body.expiresInDays * 86_400_000);
  const record: TokenRecord = {
    id: randomUUID(),
    hash: hashOf(token),
    userId: owner.userId,
    tenantId: owner.tenantId,
    name: body.name,
    createdAt: now.toISOString(),
    expiresAtIso: expires.toISOString(),
    expiresAt: epochSeconds(expires),
  };
  await putToken(rt.db, record);
  await rt.events.publish({
    type: 'token.created',
    tenantId: owner.tenantId,
    detail: { userId: owner.userId, tokenId: record.id, name: record.name, expiresAt: record.expiresAtIso },
  });
  return { ...tokenView(record), token };
}

export async function listTokens(rt: Runtime, owner: { userId: string; tenantId: string }) {
  const now = epochSeconds(rt.clock.now());
  return (await tokensOfUser(rt.db, owner.userId))
    .filter((t) => t.tenantId === owner.tenantId && t.expiresAt > now)
    .map(tokenView);
}

export async function revokeToken(rt: Runtime, owner: { userId: string; tenantId: string }, tokenId: string) {
  const found = (await tokensOfUser(rt.db, owner.userId)).find(
    (t) => t.id === tokenId && t.tenantId === owner.tenantId,
  );
  if (!found) throw Errors.notFound('The token');
  await deleteToken(rt.db, found.hash);
  await rt.events.publish({
    type: 'token.revoked',
    tenantId: owner.tenantId,
    detail: { userId: owner.userId, tokenId },
  });
}

/** The live token record for a presented secret, or undefined. */
export async function verifyApiToken(rt: Runtime, token: string): Promise<TokenRecord | undefined> {
  if (!looksLikeApiToken(token)) return undefined;
  const hash = hashOf(token);
  const record = await getTokenByHash(rt.db, hash);
  const now = rt.clock.now();
  if (!record || record.expiresAt <= epochSeconds(now)) return undefined;
  const last = record.lastUsedAt ? Date.parse(record.lastUsedAt) : 0;
  if (now.getTime() - last > TOUCH_EVERY_SECONDS * 1000) await touchToken(rt.db, hash, now.toISOString());
  return record;
}
