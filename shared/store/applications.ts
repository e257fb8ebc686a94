import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import type { Application } from '../applications/model.ts';
import { Errors } from '../errors.ts';
import type { Db } from '../runtime.ts';
import { isConditionFailure } from './conditions.ts';
import * as entities from './entities.ts';
import { keys } from './keys.ts';
import { batchGet, type Page, queryPage } from './query.ts';
import { putNewOp, versionedDeleteOp, versionedPut } from './writes.ts';

/**
 * Applications (OAuth clients): the item under `APP#{clientId}`, and a small index partition that
 * lists them for the operator, written and deleted in the same transaction as the item.
 */

export async function createApplication(db: Db, app: Application): Promise<void> {
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          putNewOp(db, entities.application, app),
          putNewOp(db, entities.applicationIndex, { clientId: app.clientId }),
        ],
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) throw Errors.alreadyExists('The application');
    throw error;
  }
}

export async function getApplication(db: Db, clientId: string): Promise<Application | undefined> {
  const out = await db.doc.send(
    new GetCommand({ TableName: db.table, Key: entities.application.key(clientId), ConsistentRead: true }),
  );
  return out.Item ? entities.application.parse(out.Item) : undefined;
}

/** A page of applications in client-id order; `'bad_cursor'` when the cursor is not this listing's. */
export async function listApplications(
  db: Db,
  limit: number,
  cursor?: string,
): Promise<Page<Application> | 'bad_cursor'> {
  const page = await queryPage(db, entities.applicationIndex, {
    ...keys.applications(),
    limit,
    consistent: true,
    ...(cursor ? { cursor } : {}),
  });
  if (page === 'bad_cursor') return page;
  const found = await batchGet(
    db,
    page.items.map((ref) => entities.application.key(ref.clientId)),
    true,
  );
  const byId = new Map(found.map((item) => [String(item.clientId), entities.application.parse(item)]));
  // An application deleted between the two reads is left out.
  const items = page.items.flatMap((ref) => byId.get(ref.clientId) ?? []);
  return { items, ...(page.cursor ? { cursor: page.cursor } : {}) };
}

/** Replaces the application when the stored version is still `expectedVersion`. */
export async function replaceApplication(db: Db, app: Application, expectedVersion: number): Promise<void> {
  const outcome = await versionedPut(db, entities.application, app, expectedVersion);
  if (outcome === 'missing') throw Errors.notFound('The application');
  if (outcome === 'conflict') throw Errors.versionConflict();
}

/** Deletes the application and its index entry when the stored version is still `expectedVersion`. */
export async function deleteApplication(db: Db, clientId: string, expectedVersion: number): Promise<void> {
  try {
    await db.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          versionedDeleteOp(db, entities.application.key(clientId), expectedVersion),
          { Delete: { TableName: db.table, Key: entities.applicationIndex.key(clientId) } },
        ],
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw (await getApplication(db, clientId))
      ? Errors.versionConflict()
      : Errors.notFound('The application');
  }
}

/** The ids among `tenantIds` that name no tenant. */
export async function missingTenants(db: Db, tenantIds: readonly string[]): Promise<string[]> {
  const found = await batchGet(
    db,
    tenantIds.map((id) => entities.tenant.key(id)),
    true,
  );
  const present = new Set(found.map((item) => String(item.id)));
  return tenantIds.filter((id) => !present.has(id));
}
