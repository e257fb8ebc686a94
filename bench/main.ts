import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { HttpEvent } from '#shared/http/types.ts';
import { metrics } from '#shared/metrics.ts';
import { runtime } from '#shared/runtime.ts';
import { benchBundles, type ColdEvent, REPO } from './bundles.ts';
import { addUsage, costPerMillion } from './cost.ts';
import { benchLdap } from './ldap.ts';
import { startAwsStub } from './lib/aws-stub.ts';
import { warmUpDynamo } from './lib/dynamo-warmup.ts';
import { httpEvent, type LambdaHandler } from './lib/lambda.ts';
import { startBenchStack } from './lib/stack.ts';
import { benchOauth } from './oauth.ts';
import { benchOidc } from './oidc.ts';
import { buildResults, printResults } from './report.ts';
import { benchSaml } from './saml.ts';

const QUICK = process.env.BENCH_QUICK === '1';
const N = QUICK
  ? {
      saml: 40,
      samlWarmup: 10,
      oidc: 15,
      oidcWarmup: 3,
      ldap: 15,
      ldapWarmup: 3,
      oauth: 20,
      oauthWarmup: 5,
      cold: 1,
      dynamo: 100,
    }
  : {
      saml: 300,
      samlWarmup: 40,
      oidc: 100,
      oidcWarmup: 10,
      ldap: 100,
      ldapWarmup: 10,
      oauth: 200,
      oauthWarmup: 20,
      cold: 5,
      dynamo: 400,
    };

const handlerOf = async (name: string): Promise<LambdaHandler> =>
  ((await import(`../functions/${name}.ts`)) as { handler: LambdaHandler }).handler;

const log = (message: string) => console.error(`[bench] ${message}`);

/** The code measured: HEAD and whether the working tree differs from it (read-only git calls). */
function codeVersion(): { commit: string; dirty: boolean } {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      dirty: git('status', '--porcelain', '--', 'shared', 'functions').length > 0,
    };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}

const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

export async function main(): Promise<void> {
  const started = performance.now();
  const loadAtStart = load();
  // Powertools warns on stderr after every invocation that published no metric of its own (the
  // login metrics go through singleMetric): one line per login here, one log line per login in
  // Lambda (see README, "Findings"). Kept out of the benchmark's output.
  (metrics as unknown as { console: { warn: () => void } }).console.warn = () => undefined;
  const profileDir =
    process.env.BENCH_PROFILE === '1' ? await mkdtemp(join(tmpdir(), 'sso-bench-profiles-')) : undefined;

  const bench = await startBenchStack();
  const closers: (() => Promise<void> | void)[] = [];
  // Ctrl-C must not leave DynamoDB Local, slapd or the OIDC provider running.
  const interrupted = async () => {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await bench.close().catch(() => undefined);
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log('warming up DynamoDB Local');
    const dynamo = await warmUpDynamo(runtime().db, N.dynamo);

    log('SAML');
    const saml = await benchSaml(bench, await handlerOf('saml-acs'), {
      iterations: N.saml,
      warmup: N.samlWarmup,
      ...(profileDir ? { profileDir } : {}),
    });
    log('OIDC');
    const oidc = await benchOidc(
      bench,
      { login: await handlerOf('oidc-login'), callback: await handlerOf('oidc-callback') },
      { iterations: N.oidc, warmup: N.oidcWarmup, ...(profileDir ? { profileDir } : {}) },
    );
    closers.push(oidc.close);
    log('LDAP');
    const ldap = await benchLdap(bench, await handlerOf('ldap-login'), {
      iterations: N.ldap,
      warmup: N.ldapWarmup,
      ...(profileDir ? { profileDir } : {}),
    });
    closers.push(ldap.close);
    log('OAuth (application login at our OpenID Provider)');
    const oauth = await benchOauth(bench, await handlerOf('oauth'), {
      iterations: N.oauth,
      warmup: N.oauthWarmup,
      ...(profileDir ? { profileDir } : {}),
    });

    log('bundles and cold starts');
    const stub = await startAwsStub(bench.stack.secrets);
    closers.push(stub.close);
    const samlSetup = saml.setups[0];
    if (!samlSetup) throw new Error('no SAML connection');
    const bearer = { authorization: `Bearer ${ldap.sessionToken}`, accept: 'application/json' };
    const get = (route: string, params: Record<string, string> = {}, headers: Record<string, string> = {}) =>
      httpEvent({ method: 'GET', route, params, headers: { accept: 'application/json', ...headers } });
    const events: Record<string, ColdEvent> = {
      health: () => get('/health'),
      admin: () =>
        get(
          '/admin/tenants/{tenantId}',
          { tenantId: samlSetup.tenantId },
          {
            authorization: `Bearer ${bench.stack.operatorToken}`,
          },
        ),
      'saml-metadata': () =>
        get('/saml/{connectionId}/metadata.xml', { connectionId: samlSetup.connectionId }),
      'saml-acs': () => saml.acsEvent(),
      'saml-login': () => get('/saml/{connectionId}/login', { connectionId: samlSetup.connectionId }),
      'oidc-login': () => oidc.loginEvent(),
      'oidc-callback': (): Promise<HttpEvent> => oidc.callbackEvent(),
      'ldap-login': () => ldap.loginEvent(),
      'password-login': () =>
        httpEvent({
          method: 'POST',
          route: '/login/password',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({
            tenantId: samlSetup.tenantId,
            email: 'nobody@bench.test',
            password: 'wrong-Pa55!',
          }),
        }),
      session: () => get('/session', {}, bearer),
      tokens: () => get('/tokens', {}, bearer),
      'login-page': () =>
        get('/t/{tenantId}/login', { tenantId: samlSetup.tenantId }, { accept: 'text/html' }),
      'audit-consumer': () => ({
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': 'login.succeeded',
        source: 'sso',
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [],
        detail: { id: crypto.randomUUID(), tenantId: samlSetup.tenantId, protocol: 'saml' },
      }),
      'saml-metadata-refresh': () => ({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} }),
      // The signed-in person's next application login: a code at once (OP session and grant stand).
      oauth: () => oauth.authorizeEvent(),
      // A sign-in session ended with nothing signed in on it: the OP keys read, one index query.
      'oauth-logout': () => ({
        version: '0',
        id: crypto.randomUUID(),
        'detail-type': 'session.revoked',
        source: 'sso',
        account: '000000000000',
        time: new Date().toISOString(),
        region: 'us-east-1',
        resources: [],
        detail: {
          tenantId: samlSetup.tenantId,
          userId: crypto.randomUUID(),
          sessionId: crypto.randomUUID(),
          reason: 'logout',
        },
      }),
    };
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      TABLE_NAME: bench.stack.tableName,
      BASE_URL: bench.stack.url,
      DYNAMODB_ENDPOINT: bench.dynamo.endpoint,
      ALLOW_PRIVATE_URLS: '1',
      OPERATOR_TOKEN_SECRET_ID: 'operator-token',
      SESSION_KEYS_SECRET_ID: 'session-keys',
      OAUTH_KEYS_SECRET_ID: 'oauth-keys',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: stub.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: stub.url,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: 'SSO',
    };
    const bundles = await benchBundles({ events, env, runs: N.cold, ...(profileDir ? { profileDir } : {}) });

    const costs = {
      saml: costPerMillion(saml.dynamodb.returning, [saml.variants[0]?.p50Ms ?? 0]),
      oidc: costPerMillion(addUsage(oidc.result.dynamodb.loginRoute, oidc.result.dynamodb.returning), [
        oidc.result.loginRouteP50Ms,
        oidc.result.p50Ms,
      ]),
      ldap: costPerMillion(ldap.dynamodb.returning, [ldap.variants[0]?.p50Ms ?? 0]),
      oauth: costPerMillion(oauth.result.dynamodb.login, [
        oauth.result.authorizeP50Ms,
        oauth.result.tokenP50Ms,
      ]),
    };
    const cpu = cpus();
    const machine = `${cpu[0]?.model.trim() ?? 'unknown CPU'} × ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
    const results = buildResults({
      machine,
      ...codeVersion(),
      loadAverage: { start: loadAtStart, end: load() },
      saml,
      oidc: oidc.result,
      ldap,
      oauth: oauth.result,
      costs,
      bundles,
      dynamoGetItemP50Ms: dynamo.getItemP50Ms,
      quick: QUICK,
      ...(profileDir ? { profileDir } : {}),
      seconds: Math.round((performance.now() - started) / 1000),
    });
    await writeFile(join(import.meta.dirname, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    printResults(results);
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
    await bench.close();
  }
}
