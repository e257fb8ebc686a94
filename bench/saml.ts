import { randomUUID } from 'node:crypto';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { SamlConfig } from '#shared/connections/schema.ts';
import type { HttpEvent } from '#shared/http/types.ts';
import { runtime } from '#shared/runtime.ts';
import type { SamlDerived } from '#shared/saml/connector.ts';
import { validateResponse } from '#shared/saml/response.ts';
import { findConnectionById } from '#shared/store/connections.ts';
import { buildResponse, type IdpKey, idpMetadata, makeIdpKey, signResponse } from '../local/demo/saml-idp.ts';
import type { LoginUsage } from './lib/dynamo.ts';
import { httpEvent, invoke, type LambdaHandler } from './lib/lambda.ts';
import { type ProfileSummary, profileSection } from './lib/profile.ts';
import { type BenchStack, mapExternalGroup } from './lib/stack.ts';
import { interleave, ownTime, round, type Summary, summarize } from './lib/stats.ts';

/**
 * SAML ACS: the saml-acs Lambda handler called in this process with a payload-v2 event (no HTTP
 * loopback), beside raw node-saml `validatePostResponseAsync` on the very same signed responses,
 * configured with the same certificate, audience, ACS URL and signing requirements. Our
 * `validateResponse` alone (no DynamoDB, no session) is timed too, to split protocol cost from the
 * rest of the login.
 */
const IDP_ENTITY = 'https://idp.bench.test/metadata';
const ROUTE = '/saml/{connectionId}/acs';

export type Signing = 'assertion' | 'both';

export interface ProtocolResult extends Summary {
  /** Logins per CPU second of this process (see lib/stats.ts, cpuMs). */
  loginsPerSec: number;
  baselineP50Ms: number;
  baselineP99Ms: number;
  baselineLoginsPerSec: number;
  /** p50 ours / p50 raw. */
  ratio: number;
  /** Of our handler's time, the part spent inside DynamoDB calls (SDK and DynamoDB Local), p50. */
  dynamoP50Ms: number;
  /** Our handler's time without its DynamoDB calls (per login, then p50), and that over raw's p50. */
  ownP50Ms: number;
  ownRatio: number;
  profile?: Record<string, ProfileSummary>;
}

export interface SamlVariantResult extends ProtocolResult {
  signing: Signing;
  responseBytes: number;
  attributes: number;
  /** Our validateResponse alone, on the same responses. */
  validateP50Ms: number;
  validateP99Ms: number;
  validateRatio: number;
}

export interface SamlResult {
  variants: SamlVariantResult[];
  setups: Setup[];
  /** A fresh signed response to the first variant's ACS (for the cold-start run). */
  acsEvent(): HttpEvent;
  dynamodb: LoginUsage;
  events: { firstLogin: number; returning: number };
}

/** Twelve attributes as Entra ID and Okta send them, groups as object ids: about 8 KB once signed. */
function attributes(email: string, groups: number): Record<string, string | string[]> {
  const claims = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
  const ms = 'http://schemas.microsoft.com/identity/claims';
  return {
    [`${claims}/emailaddress`]: email,
    [`${claims}/givenname`]: 'Benchmark',
    [`${claims}/surname`]: 'User',
    [`${claims}/name`]: email,
    [`${ms}/objectidentifier`]: randomUUID(),
    [`${ms}/tenantid`]: randomUUID(),
    [`${ms}/displayname`]: 'Benchmark User',
    [`${ms}/identityprovider`]: 'https://sts.windows.net/00000000-0000-0000-0000-000000000000/',
    'http://schemas.microsoft.com/claims/authnmethodsreferences': [
      'http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password',
      'http://schemas.microsoft.com/claims/multipleauthn',
    ],
    firstName: 'Benchmark',
    lastName: 'User',
    groups: ['engineering', ...Array.from({ length: groups - 1 }, () => randomUUID())],
  };
}

export interface Setup {
  signing: Signing;
  tenantId: string;
  connectionId: string;
  entityId: string;
  acsUrl: string;
}

async function setUp(bench: BenchStack, key: IdpKey, signing: Signing): Promise<Setup> {
  const tenantId = `bench-saml-${signing}`;
  await bench.call('POST', '/admin/tenants', {
    id: tenantId,
    name: tenantId,
    settings: { appUrl: 'https://app.bench.test/home' },
  });
  const c = await bench.call<{ id: string; sp: { entityId: string; acsUrl: string } }>(
    'POST',
    `/admin/tenants/${tenantId}/connections`,
    {
      type: 'saml',
      name: 'Bench IdP',
      saml: {
        idpMetadataXml: idpMetadata(IDP_ENTITY, [key.certDer], 'https://idp.bench.test/sso'),
        groupsAttribute: 'groups',
        wantAssertionsSigned: true,
        wantResponseSigned: signing === 'both',
      },
      provisioning: { mode: 'jit' },
    },
  );
  await mapExternalGroup(bench, tenantId, c.id, 'engineering', 'Engineering');
  return { signing, tenantId, connectionId: c.id, entityId: c.sp.entityId, acsUrl: c.sp.acsUrl };
}

function signedResponse(s: Setup, key: IdpKey, email: string, groups: number): string {
  const xml = buildResponse({
    issuer: IDP_ENTITY,
    destination: s.acsUrl,
    recipient: s.acsUrl,
    audiences: [s.entityId],
    nameId: email,
    attributes: attributes(email, groups),
    // The run is long; an hour keeps every pre-signed response inside its window.
    lifetime: 3600,
  });
  return signResponse(xml, key, s.signing);
}

function rawSaml(s: Setup, key: IdpKey): SAML {
  return new SAML({
    idpCert: [key.certPem],
    issuer: s.entityId,
    audience: s.entityId,
    callbackUrl: s.acsUrl,
    idpIssuer: IDP_ENTITY,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: s.signing === 'both',
    validateInResponseTo: ValidateInResponseTo.never,
    acceptedClockSkewMs: 60_000,
  });
}

const acsEvent = (s: Setup, xml: string) =>
  httpEvent({
    method: 'POST',
    route: ROUTE,
    params: { connectionId: s.connectionId },
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
    body: new URLSearchParams({ SAMLResponse: Buffer.from(xml).toString('base64') }).toString(),
  });

export async function benchSaml(
  bench: BenchStack,
  handler: LambdaHandler,
  options: { iterations: number; warmup: number; profileDir?: string },
): Promise<SamlResult> {
  const key = makeIdpKey({ bits: 2048, digest: 'sha256' });
  const variants: SamlVariantResult[] = [];
  const setups: Setup[] = [];
  let groupCount = 1;
  let dynamodb: SamlResult['dynamodb'] | undefined;
  let events: SamlResult['events'] | undefined;

  for (const signing of ['assertion', 'both'] as const) {
    const s = await setUp(bench, key, signing);
    setups.push(s);
    // Find the group count that makes the response about 8 KB (the "realistic" size).
    let groups = 1;
    while (signedResponse(s, key, 'size@bench.test', groups).length < 8000) groups += 1;
    if (signing === 'assertion') groupCount = groups;
    const email = `returning-${signing}@bench.test`;
    const total = options.iterations + options.warmup;
    const responses = Array.from({ length: total }, () => signedResponse(s, key, email, groups));
    const responseBytes = Buffer.byteLength(responses[0] ?? '');

    // DynamoDB per login: a first login (new user), the same person's next login, and one more.
    if (!dynamodb) {
      const login = () =>
        invoke(
          handler,
          'saml-acs',
          acsEvent(s, signedResponse(s, key, `first-${signing}@bench.test`, groups)),
          [303],
        );
      bench.events.reset();
      const a = await bench.counter.measure(login);
      const firstEvents = bench.events.entries;
      bench.events.reset();
      const b = await bench.counter.measure(login);
      events = { firstLogin: firstEvents, returning: bench.events.entries };
      const c = await bench.counter.measure(login);
      dynamodb = { firstLogin: a.usage, returning: b.usage, returningWarm: c.usage };
    }

    const raw = rawSaml(s, key);
    const connection = await findConnectionById(runtime().db, s.connectionId);
    const idp = (connection?.derived as SamlDerived | undefined)?.idp;
    if (!connection || !idp) throw new Error('the SAML connection has no IdP metadata');
    const config = connection.config as SamlConfig;
    const dbMs: number[] = [];
    const sides = {
      ours: async (xml: string) => {
        const waited = bench.counter.waitedMs;
        await invoke(handler, 'saml-acs', acsEvent(s, xml), [303]);
        dbMs.push(bench.counter.waitedMs - waited);
      },
      raw: async (xml: string) => {
        const out = await raw.validatePostResponseAsync({
          SAMLResponse: Buffer.from(xml).toString('base64'),
        });
        if (!out.profile) throw new Error('node-saml returned no profile');
      },
      validate: (xml: string) =>
        validateResponse(xml, {
          idp,
          spEntityId: s.entityId,
          acsUrl: s.acsUrl,
          allowSha1: config.allowSha1,
          wantAssertionsSigned: config.wantAssertionsSigned,
          wantResponseSigned: config.wantResponseSigned,
          clockSkewSeconds: config.clockSkewSeconds,
          now: new Date(),
        }),
    };
    await interleave(responses.slice(0, options.warmup), sides);
    dbMs.length = 0;
    const measured = responses.slice(options.warmup);
    const run = await interleave(measured, sides);

    const ours = summarize(run.ours.samples);
    const base = summarize(run.raw.samples);
    const validate = summarize(run.validate.samples);
    const variant: SamlVariantResult = {
      signing,
      responseBytes,
      attributes: 12,
      ...ours,
      loginsPerSec: round((1000 * measured.length) / run.ours.cpuMs, 1),
      baselineP50Ms: base.p50Ms,
      baselineP99Ms: base.p99Ms,
      baselineLoginsPerSec: round((1000 * measured.length) / run.raw.cpuMs, 1),
      ratio: round(ours.p50Ms / base.p50Ms, 2),
      validateP50Ms: validate.p50Ms,
      validateP99Ms: validate.p99Ms,
      validateRatio: round(validate.p50Ms / base.p50Ms, 2),
      ...ownTime(run.ours.samples, dbMs, base.p50Ms),
    };

    if (options.profileDir) {
      // Fresh responses: the handler's replay guard has seen the measured ones.
      const extra = Array.from({ length: 100 }, () => signedResponse(s, key, email, groups));
      const dir = options.profileDir;
      variant.profile = {
        ours: await profileSection(dir, `saml-${signing}-handler`, async () => {
          for (const xml of extra) await sides.ours(xml);
        }),
        validate: await profileSection(dir, `saml-${signing}-validate`, async () => {
          for (const xml of extra) await sides.validate(xml);
        }),
        raw: await profileSection(dir, `saml-${signing}-node-saml`, async () => {
          for (const xml of extra) await sides.raw(xml);
        }),
      };
    }
    variants.push(variant);
  }
  const first = setups[0];
  if (!dynamodb || !events || !first) throw new Error('no DynamoDB measurement');
  return {
    variants,
    setups,
    dynamodb,
    events,
    acsEvent: () => acsEvent(first, signedResponse(first, key, 'returning-assertion@bench.test', groupCount)),
  };
}
