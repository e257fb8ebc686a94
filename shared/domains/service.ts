import { randomBytes } from 'node:crypto';
import { actorOf, type Principal, requireOperator } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import type { Runtime } from '../runtime.ts';
import * as repo from '../store/domains.ts';
import { getTenant, tenantToManage } from '../tenants/service.ts';
import { lookupTxt } from './dns.ts';
import {
  AddDomainBody,
  type DomainView,
  normalizeDomain,
  type TenantDomain,
  txtProves,
  VerifyDomainBody,
  verificationName,
  viewOf,
} from './model.ts';

/** Enough for any organisation's mail domains; stops a tenant filling its partition. */
export const MAX_DOMAINS_PER_TENANT = 100;

const notFound = () => Errors.notFound('The domain');

/**
 * Both "no record" and "wrong token" answer the same: a tenant that has not proven control learns
 * nothing, in particular not whether another tenant holds the domain.
 */
const verificationFailed = (domain: string) =>
  new AppError(
    409,
    'domain_verification_failed',
    `No TXT record at ${verificationName(domain)} carries this tenant's verification value; publish it and retry (DNS changes can take a while to appear).`,
  );

/** Only after the tenant proved DNS control: the domain is then theirs to be told about. */
const unavailable = () =>
  new AppError(
    409,
    'domain_unavailable',
    'This domain is verified for another tenant. Contact support if your organisation owns it.',
  );

/** The stored form of a domain named in a path: an unparseable name is simply not one of ours. */
async function domainOf(rt: Runtime, tenantId: string, raw: string): Promise<TenantDomain> {
  const domain = normalizeDomain(raw);
  const record = domain ? await repo.getTenantDomain(rt.db, tenantId, domain) : undefined;
  if (!record) throw notFound();
  return record;
}

export async function listDomains(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
): Promise<DomainView[]> {
  await getTenant(rt, principal, tenantId);
  return (await repo.listTenantDomains(rt.db, tenantId)).map(viewOf);
}

/**
 * Adds a pending domain with a fresh token. Adding one the tenant already has returns it as it is
 * (`created: false`). Nothing here looks at other tenants: whether someone else verified the domain
 * only shows once this tenant proves control.
 */
export async function addDomain(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  input: unknown,
): Promise<{ created: boolean; view: DomainView }> {
  await tenantToManage(rt, principal, tenantId);
  const body = validate(AddDomainBody, input);
  const domain = normalizeDomain(body.domain);
  if (!domain) {
    throw Errors.invalidRequest(
      'The domain must be a host name such as example.com: no wildcard, IP address or single label.',
      [{ path: 'domain', message: 'must be a domain name' }],
    );
  }
  const existing = await repo.getTenantDomain(rt.db, tenantId, domain);
  if (existing) return { created: false, view: viewOf(existing) };
  if ((await repo.listTenantDomains(rt.db, tenantId)).length >= MAX_DOMAINS_PER_TENANT) {
    throw new AppError(
      409,
      'limit_exceeded',
      `A tenant can have at most ${MAX_DOMAINS_PER_TENANT} domains; remove one first.`,
    );
  }
  const record: TenantDomain = {
    tenantId,
    domain,
    status: 'pending',
    token: randomBytes(32).toString('base64url'),
    createdAt: rt.clock.now().toISOString(),
  };
  if (!(await repo.putPendingDomain(rt.db, record))) {
    // A concurrent add won: answer with its record.
    const winner = await repo.getTenantDomain(rt.db, tenantId, domain);
    if (!winner) throw Errors.versionConflict();
    return { created: false, view: viewOf(winner) };
  }
  await rt.events.publish({
    type: 'domain.added',
    tenantId,
    detail: { ...actorOf(principal), domain },
  });
  return { created: true, view: viewOf(record) };
}

/**
 * Verifies a pending domain: by the TXT record `_sso-verification.{domain}` =
 * `sso-verification={token}`, or, for the operator only and on request (`{method: 'operator'}`),
 * without DNS. Proven control then claims the domain unless another tenant already holds it.
 */
export async function verifyDomain(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  rawDomain: string,
  input: unknown,
): Promise<DomainView> {
  await tenantToManage(rt, principal, tenantId);
  const { method } = validate(VerifyDomainBody, input ?? {});
  if (method === 'operator') requireOperator(principal);
  const record = await domainOf(rt, tenantId, rawDomain);
  if (record.status === 'verified') return viewOf(record);

  if (method === 'dns') {
    const records = await lookupTxt(verificationName(record.domain), rt.config.DNS_SERVERS);
    if (!txtProves(records, record.token)) throw verificationFailed(record.domain);
  }
  const at = rt.clock.now().toISOString();
  const outcome = await repo.markVerified(rt.db, record, at, method);
  if (outcome === 'gone') throw notFound();
  if (outcome === 'unavailable') throw unavailable();
  await rt.events.publish({
    type: 'domain.verified',
    tenantId,
    detail: { ...actorOf(principal), domain: record.domain, method },
  });
  return viewOf({ ...record, status: 'verified', verifiedAt: at, verifiedBy: method });
}

/** Removes a domain; a verified one releases its claim, so another tenant can then verify it. */
export async function removeDomain(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  rawDomain: string,
): Promise<void> {
  await tenantToManage(rt, principal, tenantId);
  const domain = normalizeDomain(rawDomain);
  const removed = domain ? await repo.deleteTenantDomain(rt.db, tenantId, domain) : undefined;
  if (!removed) throw notFound();
  await rt.events.publish({
    type: 'domain.removed',
    tenantId,
    detail: { ...actorOf(principal), domain: removed.domain, wasVerified: removed.status === 'verified' },
  });
}

/**
 * The tenant holding the verified claim on an email domain, for the login path: a connection's
 * `verifiedDomains` entry counts only when this names the connection's own tenant. Undefined for a
 * domain nobody verified or that is not a valid domain name.
 */
export async function verifiedDomainOwner(rt: Runtime, domain: string): Promise<string | undefined> {
  const normalized = normalizeDomain(domain);
  return normalized ? repo.getDomainClaim(rt.db, normalized) : undefined;
}
