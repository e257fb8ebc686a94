import { cpus } from 'node:os';
import type { BundleResult, Bundling } from './bundles.ts';
import { type LoginCost, PRICES } from './cost.ts';
import type { LdapBench } from './ldap.ts';
import type { DbUsage, LoginUsage } from './lib/dynamo.ts';
import type { OauthResult, TracedUsage } from './oauth.ts';
import type { OidcResult } from './oidc.ts';
import type { ProtocolResult, SamlResult } from './saml.ts';

/** The targets of the issue, checked on every run. */
export const TARGETS = {
  ratio: { saml: 1.3, oidc: 1.5, ldap: 1.5 },
  returningRequests: { saml: 4, oidc: 3, ldap: 3 },
  /** An application's login at our OpenID Provider: authorize with an existing session + token. */
  oauthLoginRequests: 4,
  /** The default bundle budget; infra/function.ts's BUNDLE_BUDGET_BYTES may set others per function. */
  bundleBytes: 1_000_000,
  importMs: 150,
} as const;

type Protocol = 'saml' | 'oidc' | 'ldap' | 'oauth';

export interface Target {
  name: string;
  target: string;
  value: number | string;
  met: boolean;
}

const pick = (r: ProtocolResult) => ({
  p50Ms: r.p50Ms,
  p99Ms: r.p99Ms,
  loginsPerSec: r.loginsPerSec,
  baselineP50Ms: r.baselineP50Ms,
  ratio: r.ratio,
  baselineP99Ms: r.baselineP99Ms,
  baselineLoginsPerSec: r.baselineLoginsPerSec,
  dynamoP50Ms: r.dynamoP50Ms,
  ownP50Ms: r.ownP50Ms,
  ownRatio: r.ownRatio,
  n: r.n,
});
const usage = (u: DbUsage) => ({
  requests: u.requests,
  wcu: u.wcu,
  rcu: u.rcu,
  ...(u.reportedWcu !== u.wcu ? { dynamoLocalReportedWcu: u.reportedWcu } : {}),
  commands: u.commands,
});

const traced = (u: TracedUsage) => ({ ...usage(u), items: u.items });

const logins = (u: LoginUsage) => ({
  ...usage(u.returning),
  firstLogin: usage(u.firstLogin),
  returningWarm: usage(u.returningWarm),
});

export function buildResults(input: {
  machine: string;
  commit: string;
  dirty: boolean;
  loadAverage: { start: number[]; end: number[] };
  saml: SamlResult;
  oidc: OidcResult;
  ldap: LdapBench;
  oauth: OauthResult;
  costs: Record<Protocol, LoginCost>;
  bundles: {
    bundles: Record<string, BundleResult>;
    helloImportMs: number;
    helloBytes: number;
    bundling: Bundling;
  };
  dynamoGetItemP50Ms: number;
  quick: boolean;
  profileDir?: string;
  seconds: number;
}) {
  const [assertion, both] = input.saml.variants;
  const [format, search] = input.ldap.variants;
  if (!assertion || !both || !format || !search) throw new Error('a variant is missing');
  const samlOf = (v: typeof assertion) => ({
    ...pick(v),
    signing: v.signing,
    responseBytes: v.responseBytes,
    attributes: v.attributes,
    validateP50Ms: v.validateP50Ms,
    validateP99Ms: v.validateP99Ms,
    validateRatio: v.validateRatio,
  });
  const dynamodb = {
    saml: logins(input.saml.dynamodb),
    oidc: { ...logins(input.oidc.dynamodb), loginRoute: usage(input.oidc.dynamodb.loginRoute) },
    ldap: logins(input.ldap.dynamodb),
    oauth: {
      ...traced(input.oauth.dynamodb.login),
      authorize: traced(input.oauth.dynamodb.authorize),
      token: traced(input.oauth.dynamodb.token),
      firstLogin: traced(input.oauth.dynamodb.firstLogin),
      firstAuthorize: traced(input.oauth.dynamodb.firstAuthorize),
    },
  };
  const results = {
    machine: input.machine,
    commit: input.commit,
    dirty: input.dirty,
    loadAverage: input.loadAverage,
    generatedAt: new Date().toISOString(),
    quick: input.quick,
    seconds: input.seconds,
    saml: {
      ...samlOf(assertion),
      bothSigned: samlOf(both),
      /** Domain events published per login (EventBridge PutEvents entries in AWS). */
      eventsPerLogin: input.saml.events,
    },
    oidc: { ...pick(input.oidc), loginRouteP50Ms: input.oidc.loginRouteP50Ms },
    ldap: { ...pick(format), dnResolution: format.dnResolution, searchDn: pick(search) },
    oauth: {
      ...pick(input.oauth),
      authorizeP50Ms: input.oauth.authorizeP50Ms,
      tokenP50Ms: input.oauth.tokenP50Ms,
      verifyP50Ms: input.oauth.verifyP50Ms,
      baselineAuthorizeP50Ms: input.oauth.baselineAuthorizeP50Ms,
      baselineTokenP50Ms: input.oauth.baselineTokenP50Ms,
      firstAuthorizeMs: input.oauth.firstAuthorizeMs,
    },
    dynamodb,
    dynamoGetItemP50Ms: input.dynamoGetItemP50Ms,
    costPerMillionUsd: {
      saml: input.costs.saml.totalUsd,
      oidc: input.costs.oidc.totalUsd,
      ldap: input.costs.ldap.totalUsd,
      oauth: input.costs.oauth.totalUsd,
      breakdown: input.costs,
    },
    prices: PRICES,
    bundles: Object.fromEntries(
      Object.entries(input.bundles.bundles).map(([name, { profile: _, ...x }]) => [name, x]),
    ),
    helloImportMs: input.bundles.helloImportMs,
    /** How the bundles were built, as infra/function.ts says. */
    bundling: input.bundles.bundling,
    helloBytes: input.bundles.helloBytes,
    ...(input.profileDir
      ? {
          profiles: {
            dir: input.profileDir,
            samlAssertionSigned: assertion.profile,
            samlBothSigned: both.profile,
            oidc: input.oidc.profile,
            ldapFormat: format.profile,
            ldapSearch: search.profile,
            oauth: input.oauth.profile,
            coldStart: Object.fromEntries(
              Object.entries(input.bundles.bundles).map(([name, x]) => [name, x.profile]),
            ),
          },
        }
      : {}),
    targets: [] as Target[],
  };

  const t = results.targets;
  /** A target met when the value is at most the limit (`below`: strictly less). */
  const target = (name: string, value: number, limit: number, below = false) =>
    t.push({
      name,
      target: `${below ? '<' : '≤'} ${limit}`,
      value,
      met: below ? value < limit : value <= limit,
    });
  target('saml ratio (assertion-signed)', assertion.ratio, TARGETS.ratio.saml);
  target('saml ratio (both signed)', both.ratio, TARGETS.ratio.saml);
  target('oidc ratio', input.oidc.ratio, TARGETS.ratio.oidc);
  target('ldap ratio (DN format)', format.ratio, TARGETS.ratio.ldap);
  target('ldap ratio (DN search)', search.ratio, TARGETS.ratio.ldap);
  for (const p of ['saml', 'oidc', 'ldap'] as const) {
    target(
      `${p} DynamoDB requests, returning user${p === 'oidc' ? ' (callback)' : ''}`,
      dynamodb[p].requests,
      TARGETS.returningRequests[p],
    );
  }
  target(
    'oauth DynamoDB requests per application login (authorize with an existing session + token)',
    dynamodb.oauth.requests,
    TARGETS.oauthLoginRequests,
  );
  const budgets = input.bundles.bundling.budgets;
  for (const [name, b] of Object.entries(results.bundles)) {
    target(`${name} bundle bytes`, b.bytes, budgets[name] ?? budgets.default ?? TARGETS.bundleBytes);
    target(`${name} import + first invocation ms`, b.importMs, TARGETS.importMs);
  }
  target(
    'stretch: SAML validation faster than raw node-saml (assertion-signed)',
    assertion.validateRatio,
    1,
    true,
  );
  target('stretch: SAML validation faster than raw node-saml (both signed)', both.validateRatio, 1, true);
  return results;
}

export type Results = ReturnType<typeof buildResults>;

function table(rows: (string | number)[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length))) ?? [];
  return rows
    .map((r, n) => {
      const line = r
        .map((c, i) =>
          typeof c === 'number' ? String(c).padStart(widths[i] ?? 0) : String(c).padEnd(widths[i] ?? 0),
        )
        .join('  ');
      return n === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

const row = (name: string, x: ReturnType<typeof pick>) => [
  name,
  x.p50Ms,
  x.p99Ms,
  x.loginsPerSec,
  x.baselineP50Ms,
  x.baselineLoginsPerSec,
  x.ratio,
  x.dynamoP50Ms,
  x.ownP50Ms,
  x.ownRatio,
];

const dbRow = (name: string, u: ReturnType<typeof logins>, cost: number) => [
  name,
  u.requests,
  u.wcu,
  u.rcu,
  u.firstLogin.requests,
  u.firstLogin.wcu,
  u.firstLogin.rcu,
  u.returningWarm.requests,
  cost,
];

export function printResults(r: Results): void {
  const s = r.saml;
  const b = s.bothSigned;
  console.log(`\nMachine: ${r.machine}${r.quick ? '  (BENCH_QUICK: few iterations, indicative only)' : ''}`);
  console.log(
    `Code: ${r.commit}${r.dirty ? ' + uncommitted changes' : ''}; load average (1/5/15 min) ${r.loadAverage.start.join('/')} at start, ${r.loadAverage.end.join('/')} at end${(r.loadAverage.end[0] ?? 0) > cpus().length ? ' (the machine was busier than its cores: numbers are pessimistic)' : ''}`,
  );
  console.log(`DynamoDB Local GetItem round trip p50: ${r.dynamoGetItemP50Ms} ms\n`);
  console.log(
    table([
      [
        'login',
        'p50 ms',
        'p99 ms',
        'logins/s/core',
        'raw p50',
        'raw logins/s',
        'ratio',
        'DynamoDB p50',
        'own p50',
        'own ratio',
      ],
      row('SAML assertion-signed', s),
      row('SAML both signed', b),
      row('OIDC callback', r.oidc),
      row('LDAP (DN format)', r.ldap),
      row('LDAP (DN search)', r.ldap.searchDn),
      row('OAuth app login', r.oauth),
    ]),
  );
  console.log(
    `\nSAML validation alone (our validateResponse vs node-saml): assertion-signed ${s.validateP50Ms} vs ${s.baselineP50Ms} ms (×${s.validateRatio}), both signed ${b.validateP50Ms} vs ${b.baselineP50Ms} ms (×${b.validateRatio}); responses ${s.responseBytes} / ${b.responseBytes} bytes, ${s.attributes} attributes.`,
  );
  console.log(`OIDC login route (authorization request) p50: ${r.oidc.loginRouteP50Ms} ms`);
  const o = r.oauth;
  console.log(
    `OAuth app login (authorize with an existing session, token, ID token verified): authorize ${o.authorizeP50Ms} vs raw ${o.baselineAuthorizeP50Ms} ms, token ${o.tokenP50Ms} vs raw ${o.baselineTokenP50Ms} ms, verification ${o.verifyP50Ms} ms; raw is oidc-provider on its in-memory adapter; a person's first authorize for the client (interaction, resume) ${o.firstAuthorizeMs} ms.\n`,
  );
  const d = r.dynamodb;
  console.log(
    table([
      [
        'DynamoDB per login',
        'returning: req',
        'WCU',
        'RCU',
        'first: req',
        'WCU',
        'RCU',
        'warm: req',
        '$/M logins',
      ],
      dbRow('SAML', d.saml, r.costPerMillionUsd.saml),
      dbRow('OIDC callback', d.oidc, r.costPerMillionUsd.oidc),
      [
        'OIDC login route',
        d.oidc.loginRoute.requests,
        d.oidc.loginRoute.wcu,
        d.oidc.loginRoute.rcu,
        '',
        '',
        '',
        '',
        '(in OIDC)',
      ],
      dbRow('LDAP', d.ldap, r.costPerMillionUsd.ldap),
      [
        'OAuth app login',
        d.oauth.requests,
        d.oauth.wcu,
        d.oauth.rcu,
        d.oauth.firstLogin.requests,
        d.oauth.firstLogin.wcu,
        d.oauth.firstLogin.rcu,
        '',
        r.costPerMillionUsd.oauth,
      ],
      ...(['authorize', 'token'] as const).map((step) => [
        `  of which ${step}`,
        d.oauth[step].requests,
        d.oauth[step].wcu,
        d.oauth[step].rcu,
        '',
        '',
        '',
        '',
        '(in OAuth)',
      ]),
    ]),
  );
  console.log(
    `  returning-user commands: SAML ${d.saml.commands.join(' ')} | OIDC ${d.oidc.commands.join(' ')} | LDAP ${d.ldap.commands.join(' ')}`,
  );
  console.log(
    `  OAuth app login (target ≤ ${TARGETS.oauthLoginRequests}): authorize ${d.oauth.authorize.items.join(', ')} | token ${d.oauth.token.items.join(', ')}\n`,
  );
  console.log(
    table([
      ['bundle', 'bytes', 'import+1st call ms', 'load ms', '1st call ms', 'status', 'largest package'],
      ...Object.entries(r.bundles).map(([name, x]) => [
        name,
        x.bytes,
        x.importMs,
        x.loadMs,
        x.firstInvokeMs,
        x.status,
        `${x.topPackages[0]?.name ?? ''} ${x.topPackages[0]?.bytes ?? ''}`,
      ]),
      ['(hello world)', r.helloBytes, r.helloImportMs, '', '', '', ''],
    ]),
  );
  console.log(
    `  built as infra/function.ts says: AWS SDK bundled${r.bundling.runtimeSdk.length ? ` except in ${r.bundling.runtimeSdk.join(', ')} (left to the runtime there, not counted in bytes)` : ''}, source map ${r.bundling.sourceMap ? 'on' : 'off'}, NODE_OPTIONS=${r.bundling.nodeOptions || '(none)'}`,
  );
  const missed = r.targets.filter((x) => !x.met);
  console.log(`\nTargets: ${r.targets.length - missed.length} of ${r.targets.length} met.`);
  for (const x of missed) console.log(`  missed: ${x.name}: ${x.value} (target ${x.target})`);
  console.log(`\nWrote bench/results.json (${r.seconds} s).`);
}
