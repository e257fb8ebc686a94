import type { z } from 'zod';
import { actorOf, authorizeTenant, type Principal, requireOperator } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import { mergePatch } from '../merge-patch.ts';
import type { Runtime } from '../runtime.ts';
import { getApplication } from '../store/applications.ts';
import * as repo from '../store/tenants.ts';
import {
  type CreateTenantBody,
  landsTenant,
  type PatchTenantBody,
  type Tenant,
  TenantSettings,
} from './model.ts';

/**
 * Settings are valid when they parse and when forbidding passwords still leaves an owner or an
 * admin a way in: a broken IdP must never lock a tenant's administrators out.
 */
export function checkSettings(input: unknown): TenantSettings {
  const settings = validate(TenantSettings, input, 'settings');
  if (
    settings.forbidPasswordLogin &&
    !settings.passwordLoginRoles.some((role) => role === 'owner' || role === 'admin')
  ) {
    throw new AppError(
      400,
      'lockout_risk',
      'Forbidding password logins needs passwordLoginRoles to keep owner or admin, so administrators are never locked out.',
    );
  }
  if (settings.appUrl === undefined && settings.allowedRedirectUrls.length > 0) {
    throw Errors.invalidRequest('Set appUrl before allowedRedirectUrls: it is where logins land by default.');
  }
  return settings;
}

/**
 * A `defaultApplication` being set must name an application that lets the tenant's members in and
 * has an initiateLoginUri (one read), else the change is refused before anything is written. One
 * that stops fitting later is not refused here: logins then land at appUrl (identity/respond.ts).
 */
async function checkDefaultApplication(
  rt: Runtime,
  tenantId: string,
  clientId: string | undefined,
): Promise<void> {
  if (clientId === undefined) return;
  const app = await getApplication(rt.db, clientId);
  const problem = !app
    ? `no application "${clientId}" exists`
    : app.tenants !== 'all' && !app.tenants.includes(tenantId)
      ? `the application does not allow the tenant "${tenantId}"`
      : !landsTenant(app, tenantId)
        ? 'the application has no initiateLoginUri to start its login at'
        : undefined;
  if (problem) {
    throw new AppError('invalid_default_application', `settings.defaultApplication: ${problem}.`, {
      details: [{ path: 'settings.defaultApplication', message: problem }],
    });
  }
}

export async function createTenant(
  rt: Runtime,
  principal: Principal,
  body: z.output<typeof CreateTenantBody>,
): Promise<Tenant> {
  requireOperator(principal);
  const settings = checkSettings(body.settings);
  await checkDefaultApplication(rt, body.id, settings.defaultApplication);
  const now = rt.clock.now().toISOString();
  const tenant: Tenant = {
    id: body.id,
    name: body.name,
    settings,
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  await repo.createTenant(rt.db, tenant);
  await rt.events.publish({
    type: 'tenant.created',
    tenantId: tenant.id,
    detail: { ...actorOf(principal), name: tenant.name },
  });
  return tenant;
}

export async function getTenant(rt: Runtime, principal: Principal, tenantId: string): Promise<Tenant> {
  authorizeTenant(principal, tenantId, 'read');
  const tenant = await repo.getTenant(rt.db, tenantId);
  if (!tenant) throw Errors.notFound('The tenant');
  return tenant;
}

/** Loads a tenant the caller may manage, or fails with 404 / 403. */
export async function tenantToManage(rt: Runtime, principal: Principal, tenantId: string): Promise<Tenant> {
  authorizeTenant(principal, tenantId, 'manage');
  const tenant = await repo.getTenant(rt.db, tenantId);
  if (!tenant) throw Errors.notFound('The tenant');
  return tenant;
}

export async function patchTenant(
  rt: Runtime,
  principal: Principal,
  tenantId: string,
  patch: z.output<typeof PatchTenantBody>,
  ifMatch: number | undefined,
): Promise<Tenant> {
  const current = await tenantToManage(rt, principal, tenantId);
  const expected = patch.version ?? ifMatch ?? current.version;
  if (expected !== current.version) throw Errors.versionConflict();
  const settings = patch.settings
    ? checkSettings(mergePatch(current.settings, patch.settings))
    : current.settings;
  // Checked when the patch names it: a stale one already stored lands at appUrl, and does not
  // stand in the way of other changes.
  if (patch.settings && Object.hasOwn(patch.settings, 'defaultApplication')) {
    await checkDefaultApplication(rt, tenantId, settings.defaultApplication);
  }
  const updated = await repo.updateTenant(
    rt.db,
    { id: tenantId, name: patch.name ?? current.name, settings, updatedAt: rt.clock.now().toISOString() },
    expected,
  );
  const changed = Object.keys(patch.settings ?? {});
  await rt.events.publish({
    type: 'tenant.settings_changed',
    tenantId,
    detail: {
      ...actorOf(principal),
      changed,
      nameChanged: patch.name !== undefined,
      version: updated.version,
    },
  });
  return updated;
}
