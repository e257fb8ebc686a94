import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { logger } from '../logger.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { clearAttempts, giveBackAttempt, takeAttempt } from '../store/attempts.ts';
import type { TenantSettings } from '../tenants/model.ts';

/**
 * The login throttle: failed attempts per account (tenant + email) and per source IP, in fixed
 * windows (settings.loginThrottle). Password and LDAP logins share the counters.
 *
 * An attempt takes its place in both counters before the password is checked, never after: a
 * check-then-count throttle lets every guess of a parallel burst read the same low count. So a
 * burst gets no more verdicts than the limit (security invariants). Then the verdict settles it:
 * - wrong credentials keep both places, as failures, until the window ends;
 * - a proven password clears the account's counter and gives back its place in the IP's, so
 *   successful logins behind one office NAT never add up to the IP limit;
 * - an attempt that ends otherwise (answered before the password was checked, an outage, or
 *   refused by policy after the password was proven) gives both places back.
 * An unknown account's guess takes and keeps its places exactly like a known one's.
 */
type Limits = TenantSettings['loginThrottle'];

/** Whose attempts are counted: one account of one tenant, and the source address. */
export interface AttemptScope {
  limits: Limits;
  tenantId: string;
  email: string;
  ip: string;
  /**
   * The password being tried opens more than this tenant (the person's own, or an unknown
   * account's, which must count alike): its guesses are counted per person across every tenant,
   * with the service's limits or the tenant's when tighter. Otherwise a tenant that loosened its
   * own limits, or a person in several tenants, would give a guesser more tries at a password
   * that also opens other tenants.
   */
  personWide?: boolean;
}

/** The service's limits: the most a person-wide counter allows, whatever a tenant configured. */
const PERSON_WIDE = { maxFailures: 10, windowSeconds: 900 };

/** A login attempt holding its places in the account's and the IP's counters. */
export interface Attempt {
  /** The credentials were wrong: both places stay taken. */
  failed(): void;
  /** The password was proven: the account's counter is cleared and the IP's place given back. */
  succeeded(): Promise<void>;
  /**
   * Gives both places back unless failed() or succeeded() came first; logins call it on every way
   * out. It never throws (it runs while another answer is on its way out): a place it could not
   * give back stays taken until the window ends.
   */
  release(): Promise<void>;
}

const hash = (value: string) => createHash('sha256').update(value).digest('base64url').slice(0, 32);

interface Counter {
  scope: string;
  max: number;
  windowEnd: number;
}

function counter(now: number, name: string, max: number, windowSeconds: number): Counter {
  const window = Math.floor(now / windowSeconds);
  return { scope: `${name}#${window}`, max, windowEnd: (window + 1) * windowSeconds };
}

function scopes(rt: Runtime, { limits, tenantId, email, ip, personWide }: AttemptScope) {
  const now = epochSeconds(rt.clock.now());
  // emails are hashed so the counters never hold an address
  const who = hash(email.toLowerCase());
  return {
    now,
    account: personWide
      ? counter(
          now,
          `acct#*#${who}`,
          Math.min(limits.maxFailuresPerAccount, PERSON_WIDE.maxFailures),
          PERSON_WIDE.windowSeconds,
        )
      : counter(now, `acct#${tenantId}#${who}`, limits.maxFailuresPerAccount, limits.windowSeconds),
    ip: counter(now, `ip#${tenantId}#${ip}`, limits.maxFailuresPerIp, limits.windowSeconds),
  };
}

const tooManyAttempts = (now: number, full: Counter) =>
  new AppError(429, 'too_many_attempts', 'Too many failed sign-in attempts; try again later.', {
    headers: { 'retry-after': String(Math.max(1, full.windowEnd - now)) },
  });

async function giveBackQuietly(rt: Runtime, scope: string): Promise<void> {
  await giveBackAttempt(rt.db, scope).catch((error: unknown) =>
    logger.warn('a login attempt could not be given back; it counts until its window ends', { error }),
  );
}

/**
 * Takes the attempt's place in the account's counter and in the IP's (giving one back if the other
 * is full), or answers 429 too_many_attempts. Call it before the password is checked.
 */
export async function reserveAttempt(rt: Runtime, scope: AttemptScope): Promise<Attempt> {
  const s = scopes(rt, scope);
  // Both places are asked for at once (one round trip on every login); a place taken while the
  // other counter is full is given back at once.
  const [account, ip] = await Promise.allSettled([
    takeAttempt(rt.db, s.account.scope, s.account.max, s.account.windowEnd),
    takeAttempt(rt.db, s.ip.scope, s.ip.max, s.ip.windowEnd),
  ]);
  const accountTaken = account.status === 'fulfilled' && account.value;
  const ipTaken = ip.status === 'fulfilled' && ip.value;
  if (!accountTaken || !ipTaken) {
    await Promise.all([
      accountTaken ? giveBackQuietly(rt, s.account.scope) : undefined,
      ipTaken ? giveBackQuietly(rt, s.ip.scope) : undefined,
    ]);
    if (account.status === 'rejected') throw account.reason;
    if (ip.status === 'rejected') throw ip.reason;
    throw tooManyAttempts(s.now, accountTaken ? s.ip : s.account);
  }

  let settled = false;
  return {
    failed() {
      settled = true;
    },
    async succeeded() {
      if (settled) return;
      settled = true;
      await Promise.all([clearAttempts(rt.db, s.account.scope), giveBackAttempt(rt.db, s.ip.scope)]);
    },
    async release() {
      if (settled) return;
      settled = true;
      await Promise.all([giveBackQuietly(rt, s.account.scope), giveBackQuietly(rt, s.ip.scope)]);
    },
  };
}
