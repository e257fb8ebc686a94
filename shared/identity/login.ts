import type * as z from 'zod';
import { type Configured, configured, isConnectionId } from '../connections/contract.ts';
import type { Connection } from '../connections/model.ts';
import { type ConnectionType, PROTOCOL_CONFIGS, type ProtocolConfig } from '../connections/schema.ts';
import { AppError, Errors, isAppError } from '../errors.ts';
import type { HttpRequest, HttpResult } from '../http/types.ts';
import { countWith, MetricUnit, metrics, SSO_METRICS } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { connectionForLogin } from '../store/connections.ts';
import { tenantForLogin } from '../store/tenants.ts';
import { ssoOn, type Tenant } from '../tenants/model.ts';
import { resolveGroups } from './authorization.ts';
import type { Amr, VerifiedIdentity } from './model.ts';
import { provision } from './provisioning.ts';
import { loginResponse } from './respond.ts';
import { issueSession } from './sessions.ts';

const recorded = new WeakSet<object>();

/** Publishes login.failed with the refusal's code; the caller rethrows. */
export async function recordLoginFailure(
  rt: Runtime,
  failure: { tenantId?: string; connectionId?: string; protocol: Amr; error: unknown },
): Promise<void> {
  // Each refusal counts once, however many layers it passes through on the way out.
  if (typeof failure.error === 'object' && failure.error !== null) {
    if (recorded.has(failure.error)) return;
    recorded.add(failure.error);
  }
  const reason = isAppError(failure.error) ? failure.error.code : 'internal_error';
  countWith(SSO_METRICS.loginFailed, { Protocol: failure.protocol, Reason: reason });
  await rt.events
    .publish({
      type: 'login.failed',
      ...(failure.tenantId ? { tenantId: failure.tenantId } : {}),
      detail: {
        protocol: failure.protocol,
        reason,
        ...(failure.connectionId ? { connectionId: failure.connectionId } : {}),
      },
    })
    .catch(() => undefined);
}

export async function tenantOf(rt: Runtime, tenantId: string): Promise<Tenant> {
  const tenant = await tenantForLogin(rt.db, tenantId);
  if (!tenant) throw Errors.notFound('The organization');
  return tenant;
}

export const ssoDisabled = () =>
  new AppError(403, 'sso_disabled', 'Single sign-on is turned off for this organization.');

/**
 * The tenant of a login through one of its identity providers (SAML, OIDC, LDAP): it must have
 * single sign-on turned on (`settings.ssoEnabled`). Checked where a login starts, so nobody is sent
 * to an IdP in vain, and again where it completes, since a response can arrive at any time.
 */
export async function ssoTenantOf(rt: Runtime, tenantId: string): Promise<Tenant> {
  const tenant = await tenantOf(rt, tenantId);
  if (!ssoOn(tenant)) throw ssoDisabled();
  return tenant;
}

/**
 * The connection a login route names, of the route's protocol and enabled, its config parsed once
 * (the only place a login reads it). Every id that is not a connection id is a 404 without a read.
 */
export async function loginConnection<T extends ConnectionType>(
  rt: Runtime,
  protocol: T,
  connectionId: string,
): Promise<Configured<ProtocolConfig<T>>> {
  const connection = isConnectionId(connectionId) ? await connectionForLogin(rt.db, connectionId) : undefined;
  if (connection?.type !== protocol) throw Errors.notFound('The connection');
  if (!connection.enabled) {
    throw new AppError(403, 'connection_disabled', 'This sign-in method is turned off for the organization.');
  }
  return configured(connection, PROTOCOL_CONFIGS[protocol] as unknown as z.ZodType<ProtocolConfig<T>>);
}

/** What every login step starts from: the connection, and its tenant with single sign-on on. */
export interface LoginStart<T extends ConnectionType> {
  connection: Configured<ProtocolConfig<T>>;
  tenant: Tenant;
}

/**
 * Every IdP login, started (SAML AuthnRequest, OIDC authorization request) or completed (SAML ACS,
 * OIDC callback, LDAP bind) goes through here, as Dex's server starts every login the same way:
 * look up the connection, check its type and that it is enabled, check that the tenant has single
 * sign-on on, then run the protocol's step. Any failure once the connection is found, here or in
 * the step, is recorded once (login.failed) and rethrown. Single sign-on is checked again where the login completes
 * (signInWithIdentity), since a response can arrive at any time.
 */
export async function runLogin<T extends ConnectionType, R>(
  rt: Runtime,
  protocol: T,
  connectionId: string,
  step: (start: LoginStart<T>) => Promise<R>,
): Promise<R> {
  let connection: Configured<ProtocolConfig<T>> | undefined;
  try {
    connection = await loginConnection(rt, protocol, connectionId);
    const tenant = await ssoTenantOf(rt, connection.tenantId);
    return await step({ connection, tenant });
  } catch (error) {
    // A failure of a connection that does not exist belongs to nobody: recording it would let
    // anyone with random ids feed the login-failure alarm (and pay for an event each).
    if (connection) {
      await recordLoginFailure(rt, {
        tenantId: connection.tenantId,
        connectionId: connection.id,
        protocol,
        error,
      });
    }
    throw error;
  }
}

/**
 * The protocol-blind end of every IdP login: provisioning, authorization, session, events and the
 * response. Connectors call it with the identity they verified and the redirect the user asked for.
 */
export async function signInWithIdentity(
  rt: Runtime,
  request: HttpRequest,
  connection: Connection,
  identity: VerifiedIdentity,
  requestedRedirect?: string,
  gate?: Promise<void>,
): Promise<HttpResult> {
  // A protocol's last check may still be running (`gate`): reads go ahead, writes wait for it, and
  // its refusal is the answer whatever else this login ran into meanwhile.
  const guard = gate ?? Promise.resolve();
  guard.catch(() => {});
  try {
    if (identity.connectionId !== connection.id || identity.tenantId !== connection.tenantId) {
      throw new AppError(500, 'internal_error', 'identity from another connection', { expose: false });
    }
    // The subject becomes part of a key; IdP subjects are short (OIDC caps sub at 255 ASCII characters).
    if (!identity.subject || Buffer.byteLength(identity.subject) > 1024 || identity.email.length > 320) {
      throw new AppError(400, 'invalid_identity', 'The identity provider sent an unusable subject or email.');
    }
    const tenant = await ssoTenantOf(rt, connection.tenantId);
    const provisioned = await provision(rt, connection, identity, guard);
    await guard;
    const groups = await resolveGroups(rt, provisioned.membership, connection, identity.externalGroups);
    const issued = await issueSession(rt, {
      tenantId: tenant.id,
      userId: provisioned.user.id,
      email: provisioned.user.email,
      role: provisioned.membership.role,
      groups,
      amr: connection.type,
      ttlSeconds: tenant.settings.sessionTtlSeconds,
      connectionId: connection.id,
      subject: identity.subject,
      ...(connection.authorization.enabled ? { authzTtlSeconds: connection.authorization.ttlSeconds } : {}),
    });
    const base = { connectionId: connection.id, userId: provisioned.user.id };
    countWith(SSO_METRICS.loginSucceeded, { Protocol: connection.type });
    if (provisioned.created) metrics.addMetric(SSO_METRICS.userProvisioned, MetricUnit.Count, 1);
    await rt.events.publish(
      ...(provisioned.created
        ? [
            {
              type: 'user.provisioned',
              tenantId: tenant.id,
              detail: { ...base, mode: connection.provisioning.mode },
            },
          ]
        : []),
      ...(provisioned.updated
        ? [{ type: 'user.updated', tenantId: tenant.id, detail: { ...base, by: 'provisioning' } }]
        : []),
      {
        type: 'login.succeeded',
        tenantId: tenant.id,
        detail: { ...base, protocol: connection.type, sessionId: issued.record.id },
      },
    );
    return await loginResponse(rt, request, tenant, issued, requestedRedirect);
  } catch (thrown) {
    let error = thrown;
    try {
      await guard;
    } catch (refusal) {
      error = refusal;
    }
    await recordLoginFailure(rt, {
      tenantId: connection.tenantId,
      connectionId: connection.id,
      protocol: connection.type,
      error,
    });
    throw error;
  }
}
