import { Client } from 'ldapts';
import type { HttpEvent } from '#shared/http/types.ts';
import { BASE_DN, type Slapd, startSlapd } from '../test/helpers/slapd.ts';
import type { LoginUsage } from './lib/dynamo.ts';
import { httpEvent, invoke, type LambdaHandler } from './lib/lambda.ts';
import { profileSection } from './lib/profile.ts';
import { type BenchStack, mapExternalGroup } from './lib/stack.ts';
import { interleave, ownTime, range, round, summarize } from './lib/stats.ts';
import type { ProtocolResult } from './saml.ts';

/**
 * LDAP login against a real slapd over ldaps (test CA), through the ldap-login Lambda handler in
 * this process, beside raw ldapts doing the directory work of the same login on its own
 * connection: connect over TLS with the same CA, bind, read the user's entry, search the groups
 * (group objects with a member attribute), unbind. Two DN resolutions: a per-domain DN format
 * (bind as the user at once) and a search with a service account (bind as the service account,
 * find the user, bind as the user, back to the service account to read the groups).
 */
const TENANT = 'bench-ldap';
const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
const SVC = { dn: `cn=svc,ou=system,${BASE_DN}`, password: 'svc-Pa55!' };
const USER = { uid: 'alice', email: 'alice@example.test', password: 'alice-Pa55!' };

export type DnResolution = 'format' | 'search';

export interface LdapVariantResult extends ProtocolResult {
  dnResolution: DnResolution;
}

export interface LdapBench {
  variants: LdapVariantResult[];
  dynamodb: LoginUsage;
  /** A fresh login event (for the cold-start run), and a session token from a JSON login. */
  loginEvent(): HttpEvent;
  sessionToken: string;
  close(): Promise<void>;
}

const USER_ATTRIBUTES = ['mail', 'givenName', 'sn', 'cn', 'uid', 'entryUUID', 'memberOf'];

async function rawLogin(slapd: Slapd, resolution: DnResolution): Promise<void> {
  const client = new Client({
    url: slapd.ldapsUrl,
    tlsOptions: { ca: [slapd.caPem], minVersion: 'TLSv1.2', rejectUnauthorized: true },
    timeout: 5000,
    connectTimeout: 3000,
  });
  try {
    let dn = `uid=${USER.uid},${PEOPLE}`;
    let entryUuid: unknown;
    if (resolution === 'search') {
      await client.bind(SVC.dn, SVC.password);
      const found = await client.search(BASE_DN, {
        scope: 'sub',
        filter: `(&(objectClass=inetOrgPerson)(mail=${USER.email}))`,
        attributes: USER_ATTRIBUTES,
        sizeLimit: 2,
      });
      if (found.searchEntries.length !== 1) throw new Error('raw: user not found');
      dn = found.searchEntries[0]?.dn ?? '';
      entryUuid = found.searchEntries[0]?.entryUUID;
      await client.bind(dn, USER.password);
      await client.bind(SVC.dn, SVC.password);
    } else {
      await client.bind(dn, USER.password);
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: USER_ATTRIBUTES });
      entryUuid = searchEntries[0]?.entryUUID;
    }
    if (!entryUuid) throw new Error('raw: no entryUUID');
    const groups = await client.search(GROUPS, {
      scope: 'sub',
      filter: `(&(objectClass=groupOfNames)(member=${dn}))`,
      attributes: ['entryUUID', 'cn'],
    });
    if (groups.searchEntries.length === 0) throw new Error('raw: no groups');
  } finally {
    await client.unbind();
  }
}

export async function benchLdap(
  bench: BenchStack,
  handler: LambdaHandler,
  options: { iterations: number; warmup: number; profileDir?: string },
): Promise<LdapBench> {
  const slapd = await startSlapd();
  try {
    await bench.call('POST', '/admin/tenants', {
      id: TENANT,
      name: TENANT,
      settings: { appUrl: 'https://app.bench.test/home' },
    });
    const engineering = await slapd.admin(async (client) => {
      const { searchEntries } = await client.search(`cn=engineering,${GROUPS}`, {
        scope: 'base',
        attributes: ['entryUUID'],
      });
      return String(searchEntries[0]?.entryUUID);
    });
    const connections = {} as Record<DnResolution, string>;
    for (const resolution of ['format', 'search'] as const) {
      const c = await bench.call<{ id: string }>('POST', `/admin/tenants/${TENANT}/connections`, {
        type: 'ldap',
        name: `Directory (${resolution})`,
        ldap: {
          url: slapd.ldapsUrl,
          caPem: slapd.caPem,
          dnResolution:
            resolution === 'format'
              ? { method: 'format', formats: { 'example.test': `uid={},${PEOPLE}` } }
              : { method: 'search', baseDn: BASE_DN, serviceAccount: SVC },
          groupSearch: { baseDn: GROUPS, objectClass: 'groupOfNames', memberAttribute: 'member' },
        },
        // The directory vouches for its domain, so one person may sign in through both connections.
        provisioning: { mode: 'jit', verifiedDomains: ['example.test'] },
      });
      await mapExternalGroup(bench, TENANT, c.id, engineering, `Engineering (${resolution})`);
      connections[resolution] = c.id;
    }

    const loginEvent = (resolution: DnResolution, email = USER.email, password = USER.password) =>
      httpEvent({
        method: 'POST',
        route: '/ldap/{connectionId}/login',
        params: { connectionId: connections[resolution] },
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ email, password }),
      });
    const ours = (resolution: DnResolution) => invoke(handler, 'ldap-login', loginEvent(resolution), [200]);

    const bob = () =>
      invoke(handler, 'ldap-login', loginEvent('format', 'bob@example.test', 'bob-Pa55!'), [200]);
    const first = await bench.counter.measure(bob);
    const returning = await bench.counter.measure(bob);
    const warm = await bench.counter.measure(bob);
    const jsonLogin = await ours('format');
    const sessionToken = (JSON.parse(String(jsonLogin.body)) as { token: string }).token;

    const variants: LdapVariantResult[] = [];
    for (const resolution of ['format', 'search'] as const) {
      const dbMs: number[] = [];
      const sides = {
        ours: async () => {
          const waited = bench.counter.waitedMs;
          await ours(resolution);
          dbMs.push(bench.counter.waitedMs - waited);
        },
        raw: () => rawLogin(slapd, resolution),
      };
      await interleave(range(options.warmup), sides);
      dbMs.length = 0;
      const run = await interleave(range(options.iterations), sides);
      const o = summarize(run.ours.samples);
      const b = summarize(run.raw.samples);
      variants.push({
        dnResolution: resolution,
        ...o,
        loginsPerSec: round((1000 * options.iterations) / run.ours.cpuMs, 1),
        baselineP50Ms: b.p50Ms,
        baselineP99Ms: b.p99Ms,
        baselineLoginsPerSec: round((1000 * options.iterations) / run.raw.cpuMs, 1),
        ratio: round(o.p50Ms / b.p50Ms, 2),
        ...ownTime(run.ours.samples, dbMs, b.p50Ms),
      });
      const variant = variants.at(-1);
      if (options.profileDir && variant) {
        variant.profile = {
          ours: await profileSection(options.profileDir, `ldap-${resolution}-handler`, async () => {
            for (let i = 0; i < 40; i++) await sides.ours();
          }),
        };
      }
    }
    return {
      variants,
      dynamodb: { firstLogin: first.usage, returning: returning.usage, returningWarm: warm.usage },
      loginEvent: () => loginEvent('format'),
      sessionToken,
      close: () => slapd.stop(),
    };
  } catch (error) {
    await slapd.stop();
    throw error;
  }
}
