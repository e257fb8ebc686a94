import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as client from 'openid-client';
import { Agent, fetch as undiciFetch } from 'undici';
import type { HttpEvent } from '#shared/http/types.ts';
import { type Account, Browser, type TestClient } from '../test/helpers/oidc-provider.ts';
import type { DbUsage, LoginUsage } from './lib/dynamo.ts';
import { httpEvent, invoke, type LambdaHandler } from './lib/lambda.ts';
import type { ChildMessage, ParentMessage } from './lib/oidc-provider-process.ts';
import { profileEach } from './lib/profile.ts';
import { type BenchStack, mapExternalGroup } from './lib/stack.ts';
import { interleave, ownTime, range, round, summarize } from './lib/stats.ts';
import type { ProtocolResult } from './saml.ts';

/**
 * OIDC callback: a real oidc-provider over TLS (in a child process). Each login is walked through
 * the provider outside the timed section (our /oidc/{c}/login handler, the provider's authorize
 * and interaction, up to the redirect back); then the timed part is our oidc-callback handler
 * (state, code exchange, ID token validation, provisioning, session) beside raw openid-client
 * doing the same code exchange and ID token validation (PKCE, state, nonce, signature against the
 * JWK set, the pinned algorithm) with a Configuration kept across logins.
 */
const TENANT = 'bench-oidc';
const SECRET = 'bench-client-secret-0123456789abcdef';
const SCOPE = 'openid email profile groups';
const ACCOUNTS: Record<string, Account> = {
  alice: {
    email: 'alice@oidc.bench.test',
    email_verified: true,
    given_name: 'Alice',
    family_name: 'Bench',
    groups: ['engineering', 'everyone'],
  },
  newcomer: {
    email: 'newcomer@oidc.bench.test',
    email_verified: true,
    given_name: 'New',
    groups: ['engineering'],
  },
};

export interface OidcResult extends ProtocolResult {
  /** The oidc-login Lambda (authorization request) that starts every login. */
  loginRouteP50Ms: number;
  dynamodb: LoginUsage & { loginRoute: DbUsage };
}

interface Provider {
  issuer: string;
  caPem: string;
  register(clients: TestClient[]): Promise<void>;
  close(): void;
}

async function startProvider(): Promise<Provider> {
  const child: ChildProcess = fork(join(import.meta.dirname, 'lib/oidc-provider-process.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_OIDC_ACCOUNTS: JSON.stringify(ACCOUNTS) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise<ChildMessage>((done, fail) => {
      const onExit = (code: number | null) => fail(new Error(`the OIDC provider process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: ChildMessage) => {
        child.off('exit', onExit);
        done(m);
      });
    });
  const ready = await next();
  if (!('ready' in ready)) throw new Error('unexpected message from the OIDC provider process');
  return {
    ...ready.ready,
    async register(clients) {
      const answer = next();
      child.send({ register: clients } as ParentMessage);
      await answer;
    },
    close: () => child.disconnect(),
  };
}

/** The Set-Cookie strings of a response as the browser would send them back: `name=value`. */
const cookiePairs = (setCookies: string[] | undefined) =>
  (setCookies ?? []).map((c) => c.split(';')[0] ?? '').filter((c) => !c.endsWith('='));

export interface OidcBench {
  result: OidcResult;
  /** A fresh, unused callback event (for the cold-start run). */
  callbackEvent(): Promise<HttpEvent>;
  loginEvent(): HttpEvent;
  close(): void;
}

export async function benchOidc(
  bench: BenchStack,
  handlers: { login: LambdaHandler; callback: LambdaHandler },
  options: { iterations: number; warmup: number; profileDir?: string },
): Promise<OidcBench> {
  const op = await startProvider();
  try {
    await bench.call('POST', '/admin/tenants', {
      id: TENANT,
      name: TENANT,
      settings: { appUrl: 'https://app.bench.test/home' },
    });
    const clientId = `ours-${randomUUID()}`;
    const conn = await bench.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/connections`, {
      type: 'oidc',
      name: 'Bench OP',
      oidc: {
        issuer: op.issuer,
        caPem: op.caPem,
        clientId,
        clientSecret: SECRET,
        scopes: ['profile', 'groups'],
        groupsClaim: 'groups',
      },
      provisioning: { mode: 'jit' },
    });
    await mapExternalGroup(bench, TENANT, conn.id, 'engineering', 'Engineering');
    const callbackPath = `/oidc/${conn.id}/callback`;
    const rawClientId = `raw-${randomUUID()}`;
    const rawRedirect = 'https://rp.bench.test/callback';
    await op.register([
      {
        client_id: clientId,
        client_secret: SECRET,
        redirect_uris: [`${bench.stack.url}${callbackPath}`],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: rawClientId,
        client_secret: SECRET,
        redirect_uris: [rawRedirect],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ]);
    const browser = new Browser({ caPem: op.caPem });

    const loginEvent = (hint?: string) =>
      httpEvent({
        method: 'GET',
        route: '/oidc/{connectionId}/login',
        params: { connectionId: conn.id },
        headers: { accept: 'text/html' },
        ...(hint ? { query: { login_hint: hint } } : {}),
      });
    /** Our login route, then the provider, up to (not into) our callback: the callback's event. */
    const prepareOurs = async (hint?: string, as = browser, timing?: number[]): Promise<HttpEvent> => {
      const t0 = performance.now();
      const start = await invoke(handlers.login, 'oidc-login', loginEvent(hint), [302]);
      timing?.push(performance.now() - t0);
      const location = String(start.headers?.location ?? '');
      const { stoppedAt } = await as.walk(location, (u) => u.pathname === callbackPath);
      const url = new URL(stoppedAt);
      return httpEvent({
        method: 'GET',
        route: '/oidc/{connectionId}/callback',
        params: { connectionId: conn.id },
        query: Object.fromEntries(url.searchParams),
        headers: { accept: 'text/html' },
        cookies: cookiePairs(start.cookies),
      });
    };

    // Raw openid-client: discovery once, a keep-alive TLS agent trusting the test CA, the ID
    // token's signature checked against the JWK set (as ours does) and its alg pinned to RS256.
    const agent = new Agent({ connect: { ca: op.caPem } });
    const customFetch: client.CustomFetch = (url, init) =>
      undiciFetch(url, { ...init, dispatcher: agent } as never) as unknown as Promise<Response>;
    const rawConfig = await client.discovery(
      new URL(op.issuer),
      rawClientId,
      { id_token_signed_response_alg: 'RS256' },
      client.ClientSecretBasic(SECRET),
      { [client.customFetch]: customFetch },
    );
    rawConfig[client.customFetch] = customFetch;
    client.enableNonRepudiationChecks(rawConfig);
    interface RawLogin {
      url: URL;
      state: string;
      nonce: string;
      verifier: string;
    }
    const prepareRaw = async (): Promise<RawLogin> => {
      const state = client.randomState();
      const nonce = client.randomNonce();
      const verifier = client.randomPKCECodeVerifier();
      const authorize = client.buildAuthorizationUrl(rawConfig, {
        redirect_uri: rawRedirect,
        scope: SCOPE,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        prompt: 'consent',
      });
      const { stoppedAt } = await browser.walk(
        authorize.href,
        (u) => u.origin === new URL(rawRedirect).origin,
      );
      return { url: new URL(stoppedAt), state, nonce, verifier };
    };
    const rawExchange = async (login: RawLogin) => {
      const tokens = await client.authorizationCodeGrant(rawConfig, login.url, {
        pkceCodeVerifier: login.verifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      if (!claims?.email || claims.email_verified !== true) throw new Error('raw: no verified email');
    };

    // DynamoDB per login: a first login (new person), a returning one, one more; then the login
    // route with the login-path caches warm, as for every login after a container's first.
    // Another browser: the provider's session there belongs to the newcomer, not to alice.
    const newcomer = new Browser({ caPem: op.caPem });
    const callback = (event: HttpEvent) => () => invoke(handlers.callback, 'oidc-callback', event, [303]);
    const first = await bench.counter.measure(callback(await prepareOurs('newcomer', newcomer)));
    const returning = await bench.counter.measure(callback(await prepareOurs('newcomer', newcomer)));
    const warm = await bench.counter.measure(callback(await prepareOurs('newcomer', newcomer)));
    const loginRoute = await bench.counter.measure(() =>
      invoke(handlers.login, 'oidc-login', loginEvent(), [302]),
    );

    const loginMs: number[] = [];
    const dbMs: number[] = [];
    type Prepared = { ours: HttpEvent; raw: RawLogin };
    // Codes live 60 s at this provider: each login is walked just before it is timed.
    const prepare = async (): Promise<Prepared> => ({
      ours: await prepareOurs(undefined, browser, loginMs),
      raw: await prepareRaw(),
    });
    const sides = {
      ours: async (p: Prepared) => {
        const waited = bench.counter.waitedMs;
        await invoke(handlers.callback, 'oidc-callback', p.ours, [303]);
        dbMs.push(bench.counter.waitedMs - waited);
      },
      raw: (p: Prepared) => rawExchange(p.raw),
    };
    await interleave(range(options.warmup), sides, prepare);
    dbMs.length = 0;
    loginMs.length = 0;
    const run = await interleave(range(options.iterations), sides, prepare);
    const ours = summarize(run.ours.samples);
    const base = summarize(run.raw.samples);
    const result: OidcResult = {
      ...ours,
      loginsPerSec: round((1000 * options.iterations) / run.ours.cpuMs, 1),
      baselineP50Ms: base.p50Ms,
      baselineP99Ms: base.p99Ms,
      baselineLoginsPerSec: round((1000 * options.iterations) / run.raw.cpuMs, 1),
      ratio: round(ours.p50Ms / base.p50Ms, 2),
      ...ownTime(run.ours.samples, dbMs, base.p50Ms),
      loginRouteP50Ms: summarize(loginMs).p50Ms,
      dynamodb: {
        firstLogin: first.usage,
        returning: returning.usage,
        returningWarm: warm.usage,
        loginRoute: loginRoute.usage,
      },
    };
    if (options.profileDir) {
      result.profile = {
        ours: await profileEach(options.profileDir, 'oidc-callback-handler', 40, prepare, async (p) => {
          await sides.ours(p);
        }),
      };
    }
    return {
      result,
      callbackEvent: () => prepareOurs(),
      loginEvent: () => loginEvent(),
      close: () => {
        void agent.close();
        op.close();
      },
    };
  } catch (error) {
    op.close();
    throw error;
  }
}
