import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SLAPD } from '../../local/demo/ldap.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The demo `npm start` seeds, started twice on the same data (as a restart on .local does): the
 * second start finds what the first made and brings it up to date rather than adding more.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'demo-seed-'));
const tableName = `test-${randomUUID()}`;
const demo = { oidc: true, ldap: true, app: { port: 0 } };
const ldap = existsSync(SLAPD);
let stack: TestStack | undefined;

afterAll(async () => {
  await stack?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Listed {
  items: { id: string; name: string; type?: string; connectionId?: string; clientId?: string }[];
}

async function snapshot(s: TestStack) {
  const list = async (path: string) => (await s.call<Listed>('GET', path)).body.items;
  return {
    connections: await list('/admin/tenants/demo/connections'),
    groups: await list('/admin/tenants/demo/groups'),
    xroles: await list('/admin/tenants/demo/external-roles'),
    apps: (await list('/admin/applications')).filter((a) => a.name === 'Demo application'),
    tenant: (await s.call<{ settings: { defaultApplication?: string } }>('GET', '/admin/tenants/demo')).body,
    owner: s.demo?.owner,
  };
}

describe('the demo seeding', () => {
  it('makes the tenant, its owner, three connections, two groups and the application, and a restart adds nothing', async () => {
    stack = await startTestStack({ tableName, dataDir, demo });
    const first = await snapshot(stack);
    expect(first.connections.map((c) => c.name).sort()).toEqual(
      ['Demo OIDC IdP', 'Demo SAML IdP', ...(ldap ? ['Demo LDAP'] : [])].sort(),
    );
    expect(first.groups.map((g) => g.name).sort()).toEqual(['Admins', 'Engineering']);
    // engineering and admins, for each connection.
    expect(first.xroles).toHaveLength(2 * first.connections.length);
    expect(first.apps).toHaveLength(1);
    expect(first.tenant.settings.defaultApplication).toBe(first.apps[0]?.clientId);
    await stack.close();
    stack = undefined;

    stack = await startTestStack({ tableName, dataDir, demo });
    const second = await snapshot(stack);
    // The demo owner keeps her password across restarts, and it signs her in as the owner.
    expect(stack.demo?.owner.password).toBe(first.owner?.password);
    const signedIn = await stack.call<{ session: { role: string } }>('POST', '/login/password', {
      token: null,
      body: { tenantId: 'demo', email: 'owner@demo.test', password: first.owner?.password },
    });
    expect(signedIn.status, signedIn.text).toBe(200);
    expect(signedIn.body.session.role).toBe('owner');
    const owners = (
      await stack.call<{ items: { email: string; role: string }[] }>('GET', '/admin/tenants/demo/users')
    ).body.items.filter((u) => u.email === 'owner@demo.test');
    expect(owners.map((u) => u.role)).toEqual(['owner']);
    expect(second.connections.map((c) => c.id).sort()).toEqual(first.connections.map((c) => c.id).sort());
    expect(second.groups.map((g) => g.id).sort()).toEqual(first.groups.map((g) => g.id).sort());
    expect(second.xroles).toHaveLength(first.xroles.length);
    expect(second.apps.map((a) => a.clientId)).toEqual(first.apps.map((a) => a.clientId));
    expect(second.tenant.settings.defaultApplication).toBe(first.apps[0]?.clientId);
    // Its URIs are the ones of this start.
    const app = await stack.call<{ redirectUris: string[] }>(
      'GET',
      `/admin/applications/${first.apps[0]?.clientId}`,
    );
    expect(app.body.redirectUris).toEqual([`${stack.demo?.appUrl}/callback`]);
    // Every connection is still sound: the OIDC client secret and the LDAP service account password went along.
    for (const connection of second.connections) {
      const test = await stack.call<{ compatibility: { compatible: boolean } }>(
        'POST',
        `/admin/tenants/demo/connections/${connection.id}/test`,
      );
      expect(test.status, connection.name).toBe(200);
      expect(test.body.compatibility.compatible, connection.name).toBe(true);
    }
  }, 60_000);
});
