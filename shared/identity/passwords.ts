import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import * as z from 'zod';

/**
 * Password hashes: scrypt with a per-user salt (node:crypto). The parameters travel with the hash,
 * so they can be raised later without breaking existing users.
 */
const PARAMS = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };
const MAXMEM = 64 * 1024 * 1024;

function scrypt(
  password: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
  keylen: number,
): Promise<Buffer> {
  return new Promise((done, fail) =>
    scryptCb(password.normalize('NFKC'), salt, keylen, { N, r, p, maxmem: MAXMEM }, (error, key) =>
      error ? fail(error) : done(key),
    ),
  );
}

/** A password an admin or user may set: 12 to 256 characters, not blank, no NUL. */
export const NewPassword = z
  .string()
  .min(12, 'must be at least 12 characters')
  .max(256)
  .refine((p) => p.trim().length > 0 && !p.includes('\0'), 'must not be blank or contain NUL');

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, PARAMS.N, PARAMS.r, PARAMS.p, PARAMS.keylen);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(
    password,
    Buffer.from(salt, 'base64'),
    Number(n),
    Number(r),
    Number(p),
    expected.length,
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** Spends the same time as a real check, so an unknown account cannot be told apart by timing. */
let dummy: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('not-a-real-password-0000');
  await verifyPassword(password, await dummy);
}

/**
 * The password that opens one tenant for a person: the one this tenant's admin set, else the one
 * the person set through an emailed link, unless this tenant made the person SSO-only. An
 * admin-set password of another tenant never counts here (security invariants: a person's
 * credentials are not one tenant's to give away).
 */
export function passwordHashIn(
  user: { passwordHash?: string } | undefined,
  membership: { passwordHash?: string; ssoOnly: boolean } | undefined,
): string | undefined {
  if (!user || !membership) return undefined;
  return membership.passwordHash ?? (membership.ssoOnly ? undefined : user.passwordHash);
}
