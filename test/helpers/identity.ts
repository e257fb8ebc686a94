import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResult } from '../../shared/http/types.ts';
import { signInWithIdentity } from '../../shared/identity/login.ts';
import type { VerifiedIdentity } from '../../shared/identity/model.ts';
import { runtime } from '../../shared/runtime.ts';
import { findConnectionById } from '../../shared/store/connections.ts';
import type { TestStack } from './stack.ts';

/**
 * Drives the identity core the way a connector will: a verified identity for a connection, handed
 * to signInWithIdentity in this process (the local server runs here too), then everything else
 * over HTTP. The SAML, OIDC and LDAP suites reach the same function through their own routes.
 */
export function identityFor(
  connectionId: string,
  tenantId: string,
  over: Partial<VerifiedIdentity> = {},
): VerifiedIdentity {
  return {
    tenantId,
    connectionId,
    protocol: 'saml',
    issuer: 'https://idp.example.test',
    subject: randomUUID(),
    email: `${randomUUID().slice(0, 8)}@example.test`,
    emailVerified: true,
    attributes: {},
    externalGroups: [],
    ...over,
  };
}

export function fakeRequest(over: Partial<HttpRequest> = {}): HttpRequest {
  return {
    routeKey: 'POST /saml/{connectionId}/acs',
    method: 'POST',
    path: '/',
    params: {},
    query: {},
    headers: { accept: 'application/json' },
    cookies: {},
    body: undefined,
    rawBody: undefined,
    sourceIp: '127.0.0.1',
    requestId: randomUUID(),
    ...over,
  };
}

export interface LoginOutcome {
  status: number;
  code?: string;
  token?: string;
  session?: Record<string, unknown>;
  result?: HttpResult;
}

/** Signs in through the identity core; refusals come back as their status and code. */
export async function ssoLogin(
  identity: VerifiedIdentity,
  options: { accept?: string; redirect?: string } = {},
): Promise<LoginOutcome> {
  const rt = runtime();
  const connection = await findConnectionById(rt.db, identity.connectionId);
  if (!connection) throw new Error('no such connection');
  try {
    const result = await signInWithIdentity(
      rt,
      fakeRequest({ headers: { accept: options.accept ?? 'application/json' } }),
      connection,
      identity,
      options.redirect,
    );
    if (result.statusCode === 200) {
      const body = JSON.parse(result.body ?? '{}') as { token: string; session: Record<string, unknown> };
      return { status: 200, token: body.token, session: body.session, result };
    }
    return { status: result.statusCode ?? 0, result };
  } catch (error) {
    const e = error as { status?: number; code?: string };
    if (e.status === undefined) throw error;
    return { status: e.status, ...(e.code ? { code: e.code } : {}) };
  }
}

/** Creates a tenant and a SAML connection with the given provisioning; returns their ids. */
export async function tenantWithConnection(
  stack: TestStack,
  tenantId: string,
  connection: Record<string, unknown> = {},
  settings: Record<string, unknown> = { appUrl: 'https://app.example.test/home' },
) {
  const t = await stack.call('POST', '/admin/tenants', { body: { id: tenantId, name: tenantId, settings } });
  if (t.status !== 201) throw new Error(`tenant: ${t.status} ${t.text}`);
  const c = await stack.call<{ id: string }>('POST', `/admin/tenants/${tenantId}/connections`, {
    body: {
      type: 'saml',
      name: 'IdP',
      saml: { idpMetadataXml: '<EntityDescriptor entityID="https://idp.example.test"/>' },
      ...connection,
    },
  });
  if (c.status !== 201) throw new Error(`connection: ${c.status} ${c.text}`);
  return { tenantId, connectionId: c.body.id };
}
