import * as z from 'zod';
import type { Configured, Verified } from '../connections/contract.ts';
import type { Connection } from '../connections/model.ts';
import type { SamlConfig } from '../connections/schema.ts';
import { AppError } from '../errors.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { runLogin, signInWithIdentity } from '../identity/login.ts';
import type { VerifiedIdentity } from '../identity/model.ts';
import { MetricUnit, metrics, SSO_METRICS } from '../metrics.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import { consumeLoginState, rememberAssertion } from '../store/one-time.ts';
import { EMAIL_NAMEID, type SamlDerived } from './metadata.ts';
import { validateResponse } from './response.ts';
import { decryptionKeys } from './sp-keys.ts';
import { malformed } from './xml.ts';

export const spUrls = (rt: Runtime, connectionId: string) => ({
  entityId: `${rt.config.BASE_URL}/saml/${connectionId}/metadata.xml`,
  acsUrl: `${rt.config.BASE_URL}/saml/${connectionId}/acs`,
});

/** The IdP metadata learnt when the connection was saved, if any. */
export const idpOf = (connection: Pick<Connection, 'derived'>) =>
  (connection.derived as SamlDerived | undefined)?.idp;

export const AcsForm = z.looseObject({
  SAMLResponse: z.string().min(1).max(400_000),
  RelayState: z.string().max(4096).optional(),
});

const SAML_EMAIL_ATTRIBUTES = [
  'email',
  'mail',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
];

function decode(samlResponse: string): string {
  const compact = samlResponse.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw malformed('SAMLResponse is not base64');
  const xml = Buffer.from(compact, 'base64').toString('utf8');
  if (xml.length > 256 * 1024)
    throw new AppError(413, 'payload_too_large', 'The SAML response is larger than 256 KB.');
  return xml;
}

/**
 * The connector's `verify` for SAML: the posted response validated (response.ts), the request it
 * answers consumed when SP-initiated, and the replay guard started. Every refusal is thrown: a SAML
 * response that does not verify is a protocol error, not a wrong password.
 */
export async function verifyResponse(
  rt: Runtime,
  connection: Configured<SamlConfig>,
  request: HttpRequest,
): Promise<Verified> {
  const { config } = connection;
  const parsedForm = AcsForm.safeParse(request.body);
  if (!parsedForm.success) throw malformed('the form needs a SAMLResponse field');
  const form = parsedForm.data;
  const idp = idpOf(connection);
  if (!idp) throw new AppError(400, 'connection_incompatible', 'The connection has no usable IdP metadata.');
  const { entityId, acsUrl } = spUrls(rt, connection.id);
  const now = rt.clock.now();
  const assertion = await validateResponse(decode(form.SAMLResponse), {
    // Read only when the assertion is encrypted: the uploaded key, then current, next and retiring.
    decryptionKeys: () => decryptionKeys(rt, connection),
    idp,
    spEntityId: entityId,
    acsUrl,
    allowSha1: config.allowSha1,
    wantAssertionsSigned: config.wantAssertionsSigned,
    wantResponseSigned: config.wantResponseSigned,
    clockSkewSeconds: config.clockSkewSeconds,
    now,
  });

  // SP-initiated: the request must be ours, for this connection, and unused (consumed atomically).
  let redirect = form.RelayState;
  if (assertion.inResponseTo) {
    const state = await consumeLoginState(rt.db, assertion.inResponseTo, epochSeconds(now));
    if (state?.kind !== 'saml' || state.connectionId !== connection.id) {
      throw new AppError(
        400,
        'unknown_request',
        'The response answers a request we did not make or already used.',
      );
    }
    redirect = typeof state.data.redirect === 'string' ? state.data.redirect : redirect;
    const { reauthSince } = state.data;
    if (typeof reauthSince === 'number') {
      checkReauthentication(assertion.authnInstant, reauthSince, config.clockSkewSeconds);
    }
  }
  // The replay guard (a conditional write) runs while the sign-in reads the person; nothing is
  // written for them before it has passed, and a replay is the answer whatever else happens.
  const gate = (async () => {
    const first = await rememberAssertion(
      rt.db,
      connection.id,
      assertion.assertionId,
      assertion.usableUntil,
      epochSeconds(now),
    );
    if (first) return;
    metrics.addMetric(SSO_METRICS.replayBlocked, MetricUnit.Count, 1);
    await rt.events.publish({
      type: 'saml.replay_blocked',
      tenantId: connection.tenantId,
      detail: { connectionId: connection.id },
    });
    throw new AppError(400, 'replayed_assertion', 'This assertion was already used.');
  })();

  return {
    ok: true,
    identity: toIdentity(connection, config, assertion),
    gate,
    ...(redirect !== undefined ? { redirect } : {}),
  };
}

/**
 * A request that asked for re-authentication (ForceAuthn) is answered by an authentication made
 * since: the assertion's AuthnInstant no older than the request (our clock, to the second), give
 * or take the connection's clock skew. An IdP that ignores ForceAuthn and answers from its own
 * session is refused here, not trusted to have asked.
 */
function checkReauthentication(
  authnInstant: number | undefined,
  reauthSince: number,
  clockSkewSeconds: number,
): void {
  if (authnInstant === undefined) {
    throw new AppError(
      401,
      'reauthentication_failed',
      'The identity provider did not say when it authenticated you (no AuthnInstant). Sign in again.',
    );
  }
  if (authnInstant + clockSkewSeconds * 1000 < reauthSince * 1000) {
    throw new AppError(
      401,
      'reauthentication_failed',
      'The identity provider did not authenticate you again as asked (its AuthnInstant is older than the request). Sign in again.',
    );
  }
}

/** POST /saml/{c}/acs: IdP-initiated and SP-initiated responses. */
export const consumeResponse = (
  rt: Runtime,
  request: HttpRequest,
  connectionId: string,
): Promise<HttpResult> =>
  runLogin(rt, 'saml', connectionId, async ({ connection }) => {
    const verified = await verifyResponse(rt, connection, request);
    return signInWithIdentity(rt, request, connection, verified.identity, verified.redirect, verified.gate);
  });

function toIdentity(
  connection: Pick<Connection, 'tenantId' | 'id'>,
  config: SamlConfig,
  assertion: Awaited<ReturnType<typeof validateResponse>>,
): VerifiedIdentity {
  const single = (name: string) => assertion.attributes[name]?.[0];
  const nameIdIsEmail = assertion.nameIdFormat === EMAIL_NAMEID;
  const email = config.emailAttribute
    ? single(config.emailAttribute)
    : nameIdIsEmail
      ? assertion.nameId
      : SAML_EMAIL_ATTRIBUTES.map(single).find(Boolean);
  const attributes: Record<string, string | string[]> = {};
  for (const [name, values] of Object.entries(assertion.attributes)) {
    attributes[name] = values.length === 1 ? (values[0] as string) : values;
  }
  const transient = assertion.nameIdFormat === 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
  return {
    tenantId: connection.tenantId,
    connectionId: connection.id,
    protocol: 'saml',
    issuer: assertion.issuer,
    // A transient NameID changes every login; the email is then the only stable key.
    subject: transient ? `email:${(email ?? '').toLowerCase()}` : assertion.nameId,
    email: email ?? '',
    emailVerified: true,
    attributes,
    externalGroups: config.groupsAttribute ? (assertion.attributes[config.groupsAttribute] ?? []) : [],
  };
}
