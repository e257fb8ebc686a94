import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type DynamoDbLocal, freePort, startDynamoDbLocal } from '../../local/dynamodb.ts';
import { AWS_CALL_LIMITS } from '../../shared/ports/aws.ts';
import { postAcs, type SamlFixture, samlFixture, signed } from '../helpers/saml.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The store goes away under a running server: DynamoDB Local of its own (files on disk, so it can
 * be stopped and started again with its data), paused with SIGSTOP (a store that accepts
 * connections and never answers) and then stopped (one that refuses them). Every request that
 * needs it answers 503 store_unavailable with Retry-After within the SDK limits, nothing is left
 * half-written, and the server serves again once the store is back.
 */

const TENANT = 'outage-co';
const MEMBER = { email: 'ada@outage.example.test', password: 'Outage-passw0rd-long!' };
/** What a request may take when the store does not answer: the limits plus a margin. */
const WITHIN_MS = AWS_CALL_LIMITS.deadlineMs + 1000;

let dataDir: string;
let port: number;
let dynamo: DynamoDbLocal;
let stack: TestStack;
let saml: SamlFixture;
let paused = false;
/** What reached console.error: only the local audit subscriber, which cannot write either. */
const consoleErrors: unknown[] = [];

beforeAll(async () => {
  vi.spyOn(console, 'error').mockImplementation((first: unknown) => {
    consoleErrors.push(first);
  });
  dataDir = await mkdtemp(join(tmpdir(), 'sso-outage-'));
  port = await freePort();
  dynamo = await startDynamoDbLocal({ dataDir, port });
  stack = await startTestStack({ dynamodbEndpoint: dynamo.endpoint });
  saml = await samlFixture(stack, TENANT);
  const user = await stack.call('POST', `/admin/tenants/${TENANT}/users`, {
    body: { ...MEMBER, role: 'member' },
  });
  if (user.status !== 201) throw new Error(user.text);
  // The member's first sign-in activates them: a later one writes only the session.
  expect((await passwordLogin()).status).toBe(200);
}, 120_000);

afterAll(async () => {
  vi.restoreAllMocks();
  if (paused && dynamo.pid) process.kill(dynamo.pid, 'SIGCONT');
  await stack?.close();
  await dynamo?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

const passwordLogin = () =>
  stack.call<{ error?: { code: string } }>('POST', '/login/password', {
    token: null,
    body: { tenantId: TENANT, ...MEMBER },
  });

interface Outcome {
  what: string;
  status: number;
  code: string | undefined;
  retryAfter: string | null;
  ms: number;
}

const timed = async (
  what: string,
  request: () => Promise<{ status: number; code?: string; retryAfter: string | null }>,
): Promise<Outcome> => {
  const started = performance.now();
  const out = await request();
  return { what, ...out, code: out.code, ms: performance.now() - started };
};

/** The three requests the issue measured, at once: an admin read, a password login, a SAML ACS post. */
const storeRequests = () =>
  Promise.all([
    timed('GET /admin/tenants/{t}', async () => {
      const res = await stack.call<{ error: { code: string } }>('GET', `/admin/tenants/${TENANT}`);
      return { status: res.status, code: res.body.error?.code, retryAfter: res.headers.get('retry-after') };
    }),
    timed('POST /login/password', async () => {
      const res = await passwordLogin();
      return { status: res.status, code: res.body.error?.code, retryAfter: res.headers.get('retry-after') };
    }),
    timed('POST /saml/{c}/acs', async () => {
      const res = await fetch(`${stack.url}/saml/${saml.connectionId}/acs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          SAMLResponse: Buffer.from(signed(saml, { nameId: 'grace@outage.example.test' })).toString('base64'),
        }).toString(),
      });
      const body = (await res.json()) as { error?: { code: string } };
      return { status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after') };
    }),
  ]);

const expectUnavailable = (outcomes: Outcome[], withinMs: number) => {
  for (const o of outcomes) {
    expect({ what: o.what, status: o.status, code: o.code }).toEqual({
      what: o.what,
      status: 503,
      code: 'store_unavailable',
    });
    expect(Number(o.retryAfter), o.what).toBeGreaterThan(0);
    expect(o.ms, o.what).toBeLessThan(withinMs);
  }
};

/** Every item of the table, in a stable order. */
const snapshot = async () =>
  (await stack.items()).map((item) => JSON.stringify(item, Object.keys(item).sort())).sort();

async function untilServing(timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await stack.call('GET', `/admin/tenants/${TENANT}`);
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`still ${res.status} ${res.text}`);
    await sleep(250);
  }
}

describe('a store that stops answering', () => {
  it('answers 503 store_unavailable with Retry-After within the limits, writes nothing, and recovers', async () => {
    const before = await snapshot();
    if (!dynamo.pid) throw new Error('DynamoDB Local has no pid');
    process.kill(dynamo.pid, 'SIGSTOP');
    paused = true;
    let outcomes: Outcome[];
    try {
      outcomes = await storeRequests();
    } finally {
      process.kill(dynamo.pid, 'SIGCONT');
      paused = false;
    }
    expectUnavailable(outcomes, WITHIN_MS);
    // It waited for the store (the timeouts fired), rather than failing on something else.
    for (const o of outcomes) expect(o.ms, o.what).toBeGreaterThan(AWS_CALL_LIMITS.requestTimeoutMs);

    await untilServing();
    expect(await snapshot()).toEqual(before);
    expect((await passwordLogin()).status).toBe(200);
    const acs = await postAcs(saml, signed(saml, { nameId: 'grace@outage.example.test' }));
    expect(acs.status).toBe(200);
  }, 60_000);
});

describe('a store that is down', () => {
  it('answers 503 store_unavailable at once, writes nothing, and recovers when it is back', async () => {
    const before = await snapshot();
    await dynamo.stop();
    const outcomes = await storeRequests();
    // Refused connections fail at once; one retry after a short back-off.
    expectUnavailable(outcomes, 2000);

    dynamo = await startDynamoDbLocal({ dataDir, port });
    await untilServing();
    expect(await snapshot()).toEqual(before);
    expect((await passwordLogin()).status).toBe(200);
    expect(
      consoleErrors.filter(
        (first) => first !== 'audit record failed' && first !== 'application logout failed',
      ),
    ).toEqual([]);
  }, 90_000);
});
