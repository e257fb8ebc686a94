import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identityFor, ssoLogin, tenantWithConnection } from '../helpers/identity.ts';
import { BASE_DN, type Slapd, searchLdap, startSlapd } from '../helpers/slapd.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Throttle bypass by parallel guesses: attempts are reserved atomically before a password is
 * checked, so a burst gets no more verdicts than the limit, whatever arrives at the same moment.
 */

const PASSWORD = 'a long enough password 1';
const WRONG = 'not the password at all';
const PEOPLE = `ou=people,${BASE_DN}`;

interface ErrorBody {
  error: { code: string; message: string };
}

let stack: TestStack;
let slapd: Slapd;
beforeAll(async () => {
  [stack, slapd] = await Promise.all([startTestStack(), startSlapd()]);
});
afterAll(async () => {
  await stack?.close();
  await slapd?.stop();
});

let tenants = 0;
async function newTenant(loginThrottle: Record<string, number> = {}, users: string[] = []): Promise<string> {
  tenants += 1;
  const id = `burst-t${tenants}`;
  const res = await stack.call('POST', '/admin/tenants', {
    body: { id, name: id, settings: { loginThrottle } },
  });
  expect(res.status, res.text).toBe(201);
  for (const email of users) {
    const user = await stack.call('POST', `/admin/tenants/${id}/users`, {
      body: { email, password: PASSWORD },
    });
    expect(user.status, user.text).toBe(201);
  }
  return id;
}

const passwordLogin = (tenantId: string, email: string, password: string) =>
  stack.call<ErrorBody>('POST', '/login/password', { body: { tenantId, email, password }, token: null });

type Answer = Awaited<ReturnType<typeof passwordLogin>>;

function tally(answers: Answer[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}

/** Every refused attempt is the documented 429, with a retry-after. */
function expectThrottled(answers: Answer[]) {
  for (const a of answers.filter((x) => x.status === 429)) {
    expect(a.body.error.code).toBe('too_many_attempts');
    expect(Number(a.headers.get('retry-after'))).toBeGreaterThan(0);
  }
}

/** What the tenant's counters hold, as stored: all its accounts' together, and the source IP's. */
async function counters(tenantId: string) {
  const items = (await stack.items()).filter((i) => i.entity === 'attempt');
  const sum = (kind: string) =>
    items
      .filter((i) => String(i.pk).includes(`#${kind}#${tenantId}#`))
      .reduce((total, i) => total + Number(i.count ?? 0), 0);
  return { account: sum('acct'), ip: sum('ip') };
}

/** Attempts held by person-wide account counters (a person's own password, unknown accounts). */
async function personWide() {
  return (await stack.items())
    .filter((i) => i.entity === 'attempt' && String(i.pk).includes('#acct#*#'))
    .reduce((total, i) => total + Number(i.count ?? 0), 0);
}

/**
 * Sends `wrong` guesses at once and, hidden among them, the right password as soon as the first of
 * them is answered: by then a check-then-count throttle has counted next to nothing.
 */
async function burstHiding<T extends { status: number }>(
  wrong: number,
  guess: () => Promise<T>,
  right: () => Promise<T>,
): Promise<{ answers: T[]; hidden: T }> {
  let firstAnswer: () => void = () => undefined;
  const answered = new Promise<void>((done) => {
    firstAnswer = done;
  });
  const guesses = Array.from({ length: wrong }, () => guess().finally(firstAnswer));
  await answered;
  const hidden = await right();
  return { answers: await Promise.all(guesses), hidden };
}

// Bursts of scrypt checks and TLS binds take a while on a busy machine.
describe('password login under a burst of parallel guesses', { timeout: 120_000 }, () => {
  it('gives 60 parallel wrong passwords no more verdicts than the default account limit (10)', async () => {
    const tenantId = await newTenant({}, ['victim@burst.test']);
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => passwordLogin(tenantId, 'victim@burst.test', WRONG)),
    );
    expect(tally(answers)).toEqual({ 401: 10, 429: 50 });
    expect(answers.find((a) => a.status === 401)?.body.error.code).toBe('invalid_credentials');
    expectThrottled(answers);
    // Refused attempts count for nothing: only the ten verdicts stay, on the account and the IP.
    expect(await counters(tenantId)).toEqual({ account: 10, ip: 10 });
  });

  it('holds a lower configured account limit, known account or not', async () => {
    const tenantId = await newTenant({ maxFailuresPerAccount: 3 }, ['victim@burst.test']);
    const [known, unknown] = await Promise.all(
      ['victim@burst.test', 'nobody@burst.test'].map((email) =>
        Promise.all(Array.from({ length: 60 }, () => passwordLogin(tenantId, email, WRONG))),
      ),
    );
    expect(tally(known as Answer[])).toEqual({ 401: 3, 429: 57 });
    // An unknown account's guesses count exactly like a known one's: nothing tells them apart.
    expect(tally(unknown as Answer[])).toEqual({ 401: 3, 429: 57 });
    expectThrottled([...(known as Answer[]), ...(unknown as Answer[])]);
  });

  it('holds the source IP limit against a parallel spray across accounts', async () => {
    const tenantId = await newTenant({ maxFailuresPerIp: 5 });
    const personWideBefore = await personWide();
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => passwordLogin(tenantId, `sprayed${i}@burst.test`, WRONG)),
    );
    expect(tally(answers)).toEqual({ 401: 5, 429: 55 });
    expectThrottled(answers);
    // Each refused attempt gave back the account place it took before the IP refused it. Unknown
    // accounts are counted per person across tenants, like a person's own password.
    expect(await counters(tenantId)).toEqual({ account: 0, ip: 5 });
    expect((await personWide()) - personWideBefore).toBe(5);
  });

  it('does not sign in a correct password hidden in a burst of 41 after the limit', async () => {
    const tenantId = await newTenant({}, ['victim@burst.test']);
    const { answers, hidden } = await burstHiding(
      40,
      () => passwordLogin(tenantId, 'victim@burst.test', WRONG),
      () => passwordLogin(tenantId, 'victim@burst.test', PASSWORD),
    );
    expect(hidden.status, hidden.text).toBe(429);
    expect(hidden.body.error.code).toBe('too_many_attempts');
    expect(tally(answers)).toEqual({ 401: 10, 429: 30 });
    expectThrottled(answers);
  });

  it('after a success clears the account counter and leaves the IP counter as it was', async () => {
    const tenantId = await newTenant({}, ['user@burst.test']);
    for (let i = 0; i < 3; i++)
      expect((await passwordLogin(tenantId, 'user@burst.test', WRONG)).status).toBe(401);
    expect(await counters(tenantId)).toEqual({ account: 3, ip: 3 });
    expect((await passwordLogin(tenantId, 'user@burst.test', PASSWORD)).status).toBe(200);
    expect(await counters(tenantId)).toEqual({ account: 0, ip: 3 });
  });

  it('leaves nothing reserved for an answer given before any password is checked', async () => {
    const { tenantId, connectionId } = await tenantWithConnection(stack, 'burst-sso', {
      provisioning: { mode: 'jit' },
    });
    expect((await ssoLogin(identityFor(connectionId, tenantId, { email: 'sso@burst.test' }))).status).toBe(
      200,
    );
    // More than the limit, one after the other: an answer given before the check counts for nothing.
    for (let i = 0; i < 12; i++) {
      const res = await passwordLogin(tenantId, 'sso@burst.test', WRONG);
      expect(res.body.error.code).toBe('sso_required');
    }
    // At once, they hold their places while in flight, then give them all back.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => passwordLogin(tenantId, 'sso@burst.test', WRONG)),
    );
    expect((tally(answers)[403] ?? 0) + (tally(answers)[429] ?? 0)).toBe(20);
    expect(await counters(tenantId)).toEqual({ account: 0, ip: 0 });
    expect((await passwordLogin('no-such-tenant', 'sso@burst.test', WRONG)).status).toBe(404);
  });

  // scrypt makes every login cost; the limit is lowered so that six times it stays quick.
  it('never trips on ordinary use: 24 successful logins from one IP, 4 at a time, with an IP limit of 4', async () => {
    const users = Array.from({ length: 4 }, (_, i) => `worker${i}@burst.test`);
    const tenantId = await newTenant({ maxFailuresPerAccount: 3, maxFailuresPerIp: 4 }, users);
    for (let round = 0; round < 6; round++) {
      const answers = await Promise.all(users.map((email) => passwordLogin(tenantId, email, PASSWORD)));
      expect(tally(answers)).toEqual({ 200: 4 });
    }
    expect(await counters(tenantId)).toEqual({ account: 0, ip: 0 });
    // The IP limit still holds for failures.
    for (let i = 0; i < 4; i++) {
      expect((await passwordLogin(tenantId, `guess${i}@burst.test`, WRONG)).status).toBe(401);
    }
    expect((await passwordLogin(tenantId, 'worker0@burst.test', PASSWORD)).status).toBe(429);
  });
});

describe('LDAP login under a burst of parallel guesses', { timeout: 120_000 }, () => {
  async function ldapConnection(tenantId: string): Promise<string> {
    const res = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
      body: {
        type: 'ldap',
        name: 'Directory',
        ldap: searchLdap(slapd),
        provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
      },
    });
    expect(res.status, res.text).toBe(201);
    return res.body.id;
  }
  const ldapLogin = (connectionId: string, email: string, password: string) =>
    stack.call<ErrorBody>('POST', `/ldap/${connectionId}/login`, { body: { email, password }, token: null });

  /** The user binds slapd saw from `mark` until `marker`'s bind (logged in order, after the burst). */
  async function bindsUntil(mark: number, uid: string, marker: string): Promise<number> {
    const markerBind = `BIND dn="uid=${marker},${PEOPLE}"`;
    await expect.poll(() => slapd.log().slice(mark), { timeout: 10_000 }).toContain(markerBind);
    const log = slapd.log().slice(mark);
    const before = log.slice(0, log.indexOf(markerBind));
    return before.split(`BIND dn="uid=${uid},${PEOPLE}" method=`).length - 1;
  }

  it('lets no more than the limit of a 60-guess burst reach the directory, the right password included', async () => {
    const tenantId = await newTenant();
    const connectionId = await ldapConnection(tenantId);
    const mark = slapd.log().length;
    const { answers, hidden } = await burstHiding(
      59,
      () => ldapLogin(connectionId, 'bob@example.test', 'wrong guess'),
      () => ldapLogin(connectionId, 'bob@example.test', 'bob-Pa55!'),
    );
    expect(hidden.status, hidden.text).toBe(429);
    expect(tally(answers)).toEqual({ 401: 10, 429: 49 });
    expectThrottled([...answers, hidden]);
    expect((await ldapLogin(connectionId, 'alice@example.test', 'alice-Pa55!')).status).toBe(200);
    expect(await bindsUntil(mark, 'bob', 'alice')).toBeLessThanOrEqual(10);
    // alice's success cleared her own counter and gave back her IP place: the ten failures remain.
    expect(await counters(tenantId)).toEqual({ account: 10, ip: 10 });
  });

  it('holds a lower configured limit, and a success clears the account but not the IP', async () => {
    const tenantId = await newTenant({ maxFailuresPerAccount: 2 });
    const connectionId = await ldapConnection(tenantId);
    const mark = slapd.log().length;
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => ldapLogin(connectionId, 'carol@example.test', 'wrong guess')),
    );
    expect(tally(answers)).toEqual({ 401: 2, 429: 58 });
    expect((await ldapLogin(connectionId, 'erin@example.test', 'wrong guess')).status).toBe(401);
    expect((await ldapLogin(connectionId, 'erin@example.test', 'erin-Pa55!')).status).toBe(200);
    expect(await bindsUntil(mark, 'carol', 'erin')).toBeLessThanOrEqual(2);
    expect(await counters(tenantId)).toEqual({ account: 2, ip: 3 });
  });
});
