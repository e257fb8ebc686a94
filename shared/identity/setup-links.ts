import { createHash, randomBytes, randomUUID } from 'node:crypto';
import * as z from 'zod';
import { actorOf, type Principal } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import { epochSeconds } from '../ports/clock.ts';
import type { Runtime } from '../runtime.ts';
import * as repo from '../store/setup-links.ts';
import * as tenantsRepo from '../store/tenants.ts';
import { tenantToManage } from '../tenants/service.ts';

/**
 * Setup links (issue 16): a single-use link, valid up to 7 days, that opens one tenant's SSO
 * configuration pages in the console to someone without an account (the customer's IT
 * administrator). Its use opens a browser session (`sso_setup`) that ends with the link: at its
 * expiry, or when the link is revoked. What that session changes is audited under the link's id
 * (`actor: 'setup-link'`). The token and the session id are stored only as SHA-256 hashes.
 */
export const SETUP_COOKIE = 'sso_setup';
const MAX_DAYS = 7;
/** Links not yet expired that a tenant may hold at once. */
export const MAX_SETUP_LINKS_PER_TENANT = 50;

export const CreateSetupLinkBody = z.strictObject({
  expiresInDays: z
    .number()
    .int()
    .min(1)
    .max(MAX_DAYS)
    .default(MAX_DAYS)
    .describe('How long the link works, in days (1 to 7; 7 by default).'),
  note: z
    .string()
    .trim()
    .max(200)
    .optional()
    .describe('Who it is for or why, shown in the list (never to the link’s holder).'),
});

export interface SetupLinkView {
  id: string;
  note?: string;
  createdAt: string;
  expiresAt: string;
  usedAt?: string;
  createdBy: Record<string, string>;
}

const hash = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

const viewOf = (link: repo.SetupLink): SetupLinkView => ({
  id: link.id,
  ...(link.note ? { note: link.note } : {}),
  createdAt: link.createdAt,
  expiresAt: link.expiresAtIso,
  ...(link.usedAt ? { usedAt: link.usedAt } : {}),
  createdBy: link.createdBy,
});

/** A setup link never makes another: the holder could otherwise outlive its own link. */
function refuseSetup(principal: Principal): void {
  if (principal.kind === 'setup') throw Errors.forbidden('A setup link cannot manage setup links.');
}

/** The page a link opens; its token is in the path (the console routes `/{section}/{itemId}`). */
export const setupLinkUrl = (rt: Runtime, tenantId: string, token: string) =>
  `${rt.config.BASE_URL}/console/${encodeURIComponent(tenantId)}/setup/${token}`;

/** POST /admin/tenants/{t}/setup-links: a new link; its URL (with the token) is answered only here. */
export async function createSetupLink(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  input: unknown,
): Promise<SetupLinkView & { url: string }> {
  refuseSetup(principal);
  await tenantToManage(rt, principal, tenantId);
  const body = validate(CreateSetupLinkBody, input ?? {});
  const now = rt.clock.now();
  const nowSeconds = epochSeconds(now);
  const live = (await repo.listSetupLinks(rt.db, tenantId)).filter((l) => l.expiresAt > nowSeconds);
  if (live.length >= MAX_SETUP_LINKS_PER_TENANT) {
    throw new AppError(
      409,
      'limit_exceeded',
      `A tenant can have at most ${MAX_SETUP_LINKS_PER_TENANT} setup links at once; revoke one first.`,
    );
  }
  const token = randomBytes(32).toString('base64url');
  const expiresAt = nowSeconds + body.expiresInDays * 86_400;
  const link: repo.SetupLink = {
    id: randomUUID(),
    tenantId,
    tokenHash: hash(token),
    ...(body.note ? { note: body.note } : {}),
    createdBy: actorOf(principal),
    createdAt: now.toISOString(),
    expiresAtIso: new Date(expiresAt * 1000).toISOString(),
    expiresAt,
  };
  if (!(await repo.putSetupLink(rt.db, link))) {
    throw Errors.internal(new Error('A setup link with this id or token hash already exists.'));
  }
  await rt.events.publish({
    type: 'setup_link.created',
    tenantId,
    detail: { ...actorOf(principal), linkId: link.id, expiresAt: link.expiresAtIso },
  });
  return { ...viewOf(link), url: setupLinkUrl(rt, tenantId, token) };
}

/** GET /admin/tenants/{t}/setup-links: the links not yet removed by their expiry, never a token. */
export async function listSetupLinks(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
): Promise<SetupLinkView[]> {
  refuseSetup(principal);
  await tenantToManage(rt, principal, tenantId);
  const links = await repo.listSetupLinks(rt.db, tenantId);
  return links.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map(viewOf);
}

/** DELETE /admin/tenants/{t}/setup-links/{linkId}: revokes the link and ends the session it opened. */
export async function revokeSetupLink(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  linkId: string,
): Promise<void> {
  refuseSetup(principal);
  await tenantToManage(rt, principal, tenantId);
  // A use between the read and the delete fails the delete's condition: read again, end that session.
  for (let attempt = 0; attempt < 3; attempt++) {
    const link = await repo.getSetupLink(rt.db, tenantId, linkId);
    if (!link) throw Errors.notFound('The setup link');
    if (await repo.deleteSetupLink(rt.db, link)) {
      await rt.events.publish({
        type: 'setup_link.revoked',
        tenantId,
        detail: { ...actorOf(principal), linkId, used: link.usedAt !== undefined },
      });
      return;
    }
  }
  throw Errors.versionConflict();
}

export const setupLinkInvalid = () =>
  new AppError(
    400,
    'link_invalid',
    'This setup link is not valid: it was used already, revoked, or mistyped. Ask the person who sent it for a new one.',
  );
const setupLinkExpired = () =>
  new AppError(400, 'link_expired', 'This setup link has expired; ask the person who sent it for a new one.');

/** The token pointer of a link that can still be used for this tenant (read only), or its refusal. */
async function usableSetupLink(rt: Runtime, tenantId: string, token: string, now: Date) {
  const pointer = token.length <= 200 ? await repo.getSetupToken(rt.db, hash(token)) : undefined;
  if (!pointer || pointer.tenantId !== tenantId) throw setupLinkInvalid();
  if (pointer.expiresAt <= epochSeconds(now)) throw setupLinkExpired();
  return pointer;
}

/**
 * GET /console/{t}/setup/{token}: whether the link can still be used, without writing anything (a
 * mail scanner or link previewer that follows it spends nothing). Throws its refusal otherwise.
 */
export async function checkSetupLink(
  rt: Runtime,
  tenantId: string,
  token: string,
): Promise<{ tenantName: string }> {
  await usableSetupLink(rt, tenantId, token, rt.clock.now());
  const tenant = await tenantsRepo.getTenant(rt.db, tenantId);
  if (!tenant) throw setupLinkInvalid();
  return { tenantName: tenant.name };
}

/**
 * POST /console/{t}/setup/{token}: spends the link (once, even under parallel uses) and opens a
 * session for its tenant's SSO pages that ends with the link. Answers the session id for the
 * cookie (stored only hashed) and when it ends.
 */
export async function openSetupLink(
  rt: Runtime,
  tenantId: string,
  token: string,
): Promise<{ sessionId: string; expiresAt: number; linkId: string }> {
  const now = rt.clock.now();
  const pointer = await usableSetupLink(rt, tenantId, token, now);
  const sessionId = randomBytes(32).toString('base64url');
  const spent = await repo.spendSetupLink(rt.db, pointer, hash(sessionId), {
    seconds: epochSeconds(now),
    iso: now.toISOString(),
  });
  if (!spent) throw setupLinkInvalid();
  const setupLinkId = pointer.linkId;
  await rt.events.publish({
    type: 'setup_link.used',
    tenantId,
    detail: { actor: 'setup-link', setupLinkId, linkId: setupLinkId },
  });
  return { sessionId, expiresAt: pointer.expiresAt, linkId: setupLinkId };
}

export const setupSessionEnded = () =>
  new AppError(
    401,
    'session_revoked',
    'This setup link was revoked or has expired, so this page is closed. Ask the person who sent it for a new link.',
  );

/**
 * The principal of a setup session (the `sso_setup` cookie): only while its link stands,
 * unrevoked and unexpired, and was spent by this very session. Its tenant is the link's; the
 * console refuses it anywhere else.
 */
export async function setupPrincipal(
  rt: Runtime,
  sessionId: string,
): Promise<Extract<Principal, { kind: 'setup' }>> {
  if (sessionId.length > 200) throw setupSessionEnded();
  const sessionHash = hash(sessionId);
  const session = await repo.getSetupSession(rt.db, sessionHash);
  const nowSeconds = epochSeconds(rt.clock.now());
  if (!session || session.expiresAt <= nowSeconds) throw setupSessionEnded();
  const link = await repo.getSetupLink(rt.db, session.tenantId, session.linkId);
  if (!link || link.sessionHash !== sessionHash || link.expiresAt <= nowSeconds) throw setupSessionEnded();
  return { kind: 'setup', tenantId: link.tenantId, linkId: link.id };
}
