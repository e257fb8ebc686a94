import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { runtime } from '../../shared/runtime.ts';
import { refreshAllSamlMetadata } from '../../shared/saml/refresh-job.ts';
import { recordLiveTest } from '../../shared/store/connections.ts';
import { keys } from '../../shared/store/keys.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let server: Server;
let metadataUrl: string;
let served: { status: number; body: string };
const ENTITY = 'https://idp.url.test/metadata';
const oldKey = makeIdpKey();
const newKey = makeIdpKey({ days: 20 });

interface View {
  id: string;
  compatibility: { compatible: boolean; problems: { code: string }[]; warnings: { code: string }[] };
  idp?: { entityId: string; certificates: { fingerprint256: string }[] };
}

beforeAll(async () => {
  stack = await startTestStack();
  served = { status: 200, body: idpMetadata(ENTITY, [oldKey.certDer], 'https://idp.url.test/sso') };
  server = createServer((_req, res) => {
    res.writeHead(served.status, { 'content-type': 'application/xml' });
    res.end(served.body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  metadataUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata`;
  await stack.call('POST', '/admin/tenants', { body: { id: 'meta-co', name: 'Meta' } });
});
afterAll(async () => {
  server.close();
  await stack.close();
});

describe('IdP metadata from a URL', () => {
  it('is fetched on save, refreshed on schedule, and the last good copy stays when a refresh fails', async () => {
    const created = await stack.call<View>('POST', '/admin/tenants/meta-co/connections', {
      body: { type: 'saml', name: 'By URL', saml: { idpMetadataUrl: metadataUrl } },
    });
    expect(created.status).toBe(201);
    expect(created.body.compatibility.compatible).toBe(true);
    expect(created.body.idp?.entityId).toBe(ENTITY);

    // The IdP rotates its certificate; the scheduled job picks it up.
    served = { status: 200, body: idpMetadata(ENTITY, [newKey.certDer], 'https://idp.url.test/sso') };
    const summary = await refreshAllSamlMetadata(runtime());
    expect(summary).toMatchObject({ refreshed: 1, failed: 0 });
    expect(summary.minDaysToExpiry).toBeLessThanOrEqual(20);
    const after = await stack.call<View>('GET', `/admin/tenants/meta-co/connections/${created.body.id}`);
    expect(after.body.compatibility.warnings.map((w) => w.code)).toContain('certificate_expiring');

    // The IdP breaks: the live test reports it, and the working copy stays.
    served = { status: 500, body: 'oops' };
    const test = await stack.call<{ compatibility: View['compatibility'] }>(
      'POST',
      `/admin/tenants/meta-co/connections/${created.body.id}/test`,
    );
    expect(test.status).toBe(200);
    expect(test.body.compatibility.warnings.map((w) => w.code)).toContain('metadata_refresh_failed');
    const kept = await stack.call<View>('GET', `/admin/tenants/meta-co/connections/${created.body.id}`);
    expect(kept.body.idp?.certificates).toHaveLength(1);
    expect(kept.body.idp?.entityId).toBe(ENTITY);
  });

  it('reports an unreachable metadata URL as a problem when there is no earlier copy', async () => {
    served = { status: 404, body: '' };
    const res = await stack.call<View>('POST', '/admin/tenants/meta-co/connections', {
      body: { type: 'saml', name: 'Broken', saml: { idpMetadataUrl: metadataUrl } },
    });
    expect(res.status).toBe(201);
    expect(res.body.compatibility).toMatchObject({
      compatible: false,
      problems: [{ code: 'metadata_fetch_failed' }],
    });
  });
});

describe('the scheduled refresh and live tests, against everything else going on', () => {
  it('goes on past a connection it cannot read, and never writes over a change made meanwhile', async () => {
    served = { status: 200, body: idpMetadata(ENTITY, [oldKey.certDer], 'https://idp.url.test/sso') };
    const good = await stack.call<View & { version: number }>('POST', '/admin/tenants/meta-co/connections', {
      body: { type: 'saml', name: 'Good', saml: { idpMetadataUrl: metadataUrl } },
    });
    const broken = await stack.call<View>('POST', '/admin/tenants/meta-co/connections', {
      body: { type: 'saml', name: 'Broken', saml: { idpMetadataUrl: metadataUrl } },
    });
    // a stored config that no longer parses (a later, stricter schema; a bad migration)
    const rt = runtime();
    await rt.db.doc.send(
      new UpdateCommand({
        TableName: rt.db.table,
        Key: keys.connection('meta-co', broken.body.id),
        UpdateExpression: 'SET config = :c',
        ExpressionAttributeValues: { ':c': { idpMetadataUrl: 42 } },
      }),
    );
    const summary = await refreshAllSamlMetadata(rt);
    expect(summary.failed).toBeGreaterThanOrEqual(1);
    expect(summary.refreshed).toBeGreaterThanOrEqual(1);

    // a live test that read version v does not record over version v+1
    const stale = await recordLiveTest(
      rt.db,
      { tenantId: 'meta-co', id: good.body.id, version: 0 },
      {
        compatibility: { compatible: false, problems: [{ code: 'stale', message: 'stale' }], warnings: [] },
      },
    );
    expect(stale).toBe(false);
    const after = await stack.call<View>('GET', `/admin/tenants/meta-co/connections/${good.body.id}`);
    expect(after.body.compatibility.problems.map((p) => p.code)).not.toContain('stale');
  });
});

describe('connections saved before SP keys', () => {
  it('get their key pair from the scheduled job, not from an anonymous first read', async () => {
    served = { status: 200, body: idpMetadata(ENTITY, [oldKey.certDer], 'https://idp.url.test/sso') };
    const created = await stack.call<View>('POST', '/admin/tenants/meta-co/connections', {
      body: { type: 'saml', name: 'Old', saml: { idpMetadataUrl: metadataUrl } },
    });
    const rt = runtime();
    const key = keys.connection('meta-co', created.body.id);
    await rt.db.doc.send(
      new UpdateCommand({ TableName: rt.db.table, Key: key, UpdateExpression: 'REMOVE derived.sp' }),
    );
    const spKeys = async () =>
      (
        (await stack.items()).find((i) => i.pk === key.pk && i.sk === key.sk)?.derived as {
          sp?: { keys?: unknown[] };
        }
      )?.sp?.keys ?? [];
    expect(await spKeys()).toHaveLength(0);
    const summary = await refreshAllSamlMetadata(rt);
    expect(await spKeys()).toHaveLength(1);
    expect(Number.isFinite(summary.minSpDaysToExpiry)).toBe(true);
  });
});
