import { randomBytes, randomUUID } from 'node:crypto';
import { actorOf, type Principal, requireOperator } from '../auth/principal.ts';
import { AppError, Errors } from '../errors.ts';
import { validate } from '../http/request.ts';
import { mergePatch } from '../merge-patch.ts';
import type { Runtime } from '../runtime.ts';
import * as repo from '../store/applications.ts';
import {
  type Application,
  ApplicationBody,
  type ApplicationView,
  checkApplicationRules,
  invalidMetadata,
  OPERATOR_AUDIT_SCOPE,
  type PatchApplicationBody,
  viewOf,
} from './model.ts';

/**
 * Applications' CRUD for the operator. The client secret of a confidential application is 32
 * random bytes (base64url), kept in the secrets port and answered once, at creation or rotation;
 * the item keeps only its reference.
 */

/** A view with the secret made now: the only answers that ever carry it. */
export type ApplicationWithSecret = ApplicationView & { clientSecret?: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const newSecret = () => randomBytes(32).toString('base64url');

async function storeSecret(rt: Runtime, clientId: string) {
  const secret = newSecret();
  const ref = await rt.secrets.put(`applications/${clientId}/client-secret`, secret);
  return { secret, ref };
}

/** Best effort: a secret left behind is orphaned, never exposed. */
async function dropSecret(rt: Runtime, ref: string | undefined): Promise<void> {
  if (ref !== undefined) await Promise.allSettled([rt.secrets.delete(ref)]);
}

/** The rules zod cannot check, then that every named tenant exists. */
async function checkApplication(rt: Runtime, body: ApplicationBody): Promise<void> {
  checkApplicationRules(body, rt.config.ALLOW_PRIVATE_URLS);
  if (body.tenants === 'all') return;
  const missing = await repo.missingTenants(rt.db, [...new Set(body.tenants)]);
  if (missing.length > 0) {
    throw invalidMetadata(
      `No tenant "${missing[0]}" exists.`,
      missing.map((id) => ({ path: `tenants.${body.tenants.indexOf(id)}`, message: `no tenant "${id}"` })),
    );
  }
}

const publish = (rt: Runtime, principal: Principal, type: string, detail: Record<string, unknown>) =>
  rt.events.publish({ type, tenantId: OPERATOR_AUDIT_SCOPE, detail: { ...actorOf(principal), ...detail } });

export async function createApplication(
  rt: Runtime,
  principal: Principal,
  input: unknown,
): Promise<ApplicationWithSecret> {
  requireOperator(principal);
  const body = validate(ApplicationBody, input);
  await checkApplication(rt, body);
  const clientId = randomUUID();
  const made = body.type === 'confidential' ? await storeSecret(rt, clientId) : undefined;
  const now = rt.clock.now().toISOString();
  const app: Application = {
    clientId,
    ...body,
    ...(made ? { secretRef: made.ref } : {}),
    version: 1,
    createdAt: now,
    updatedAt: now,
  };
  try {
    await repo.createApplication(rt.db, app);
  } catch (error) {
    await dropSecret(rt, made?.ref);
    throw error;
  }
  await publish(rt, principal, 'application.created', {
    clientId,
    name: app.name,
    applicationType: app.type,
  });
  return { ...viewOf(app), ...(made ? { clientSecret: made.secret } : {}) };
}

export async function listApplications(
  rt: Runtime,
  principal: Principal,
  query: { limit: number; cursor?: string | undefined },
) {
  requireOperator(principal);
  const page = await repo.listApplications(rt.db, query.limit, query.cursor);
  if (page === 'bad_cursor') throw Errors.invalidRequest('The cursor is not valid.');
  return { items: page.items.map(viewOf), ...(page.cursor ? { cursor: page.cursor } : {}) };
}

/** The application, or 404 (an id that is not a client id is not looked up). */
export async function getApplication(
  rt: Runtime,
  principal: Principal,
  clientId: string,
): Promise<Application> {
  requireOperator(principal);
  const app = UUID.test(clientId) ? await repo.getApplication(rt.db, clientId) : undefined;
  if (!app) throw Errors.notFound('The application');
  return app;
}

export async function patchApplication(
  rt: Runtime,
  principal: Principal,
  clientId: string,
  patch: PatchApplicationBody,
  ifMatch: number | undefined,
): Promise<ApplicationWithSecret> {
  const current = await getApplication(rt, principal, clientId);
  const expected = patch.version ?? ifMatch ?? current.version;
  if (expected !== current.version) throw Errors.versionConflict();
  if (patch.type !== undefined && patch.type !== current.type) {
    throw new AppError(400, 'type_immutable', 'An application cannot change type; register a new one.');
  }
  if (patch.rotateSecret && current.type === 'public') {
    throw invalidMetadata('A public application has no secret to rotate.');
  }
  const { rotateSecret, version: _version, ...fields } = patch;
  const { clientId: _id, secretRef: _ref, version: _v, createdAt: _c, updatedAt: _u, ...stored } = current;
  const body = validate(ApplicationBody, mergePatch(stored, fields, 1));
  await checkApplication(rt, body);

  const made = rotateSecret ? await storeSecret(rt, clientId) : undefined;
  const secretRef = made?.ref ?? current.secretRef;
  const updated: Application = {
    clientId,
    ...body,
    ...(secretRef ? { secretRef } : {}),
    version: current.version + 1,
    createdAt: current.createdAt,
    updatedAt: rt.clock.now().toISOString(),
  };
  try {
    await repo.replaceApplication(rt.db, updated, expected);
  } catch (error) {
    await dropSecret(rt, made?.ref);
    throw error;
  }
  if (made) await dropSecret(rt, current.secretRef);
  await publish(rt, principal, 'application.updated', {
    clientId,
    changed: Object.keys(fields),
    secretRotated: made !== undefined,
    version: updated.version,
  });
  return { ...viewOf(updated), ...(made ? { clientSecret: made.secret } : {}) };
}

export async function deleteApplication(
  rt: Runtime,
  principal: Principal,
  clientId: string,
  ifMatch: number | undefined,
): Promise<void> {
  const current = await getApplication(rt, principal, clientId);
  if (ifMatch !== undefined && ifMatch !== current.version) throw Errors.versionConflict();
  await repo.deleteApplication(rt.db, clientId, current.version);
  await dropSecret(rt, current.secretRef);
  await publish(rt, principal, 'application.deleted', { clientId, name: current.name });
}
