import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handler } from '../../functions/audit-consumer.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

interface Page {
  items: { id: string; type: string; time: string; detail: Record<string, unknown> }[];
  cursor?: string;
}

describe('the audit trail', () => {
  it('records every event of a tenant and pages through them newest first', async () => {
    await stack.call('POST', '/admin/tenants', { body: { id: 'audited', name: 'Audited' } });
    await stack.call('PATCH', '/admin/tenants/audited', { body: { settings: { ssoEnabled: true } } });
    await stack.call('POST', '/admin/tenants/audited/users', { body: { email: 'a@audited.test' } });
    await stack.call('POST', '/admin/tenants/audited/groups', { body: { name: 'G' } });

    const first = await stack.call<Page>('GET', '/admin/tenants/audited/audit?limit=2');
    expect(first.status).toBe(200);
    expect(first.body.items.map((i) => i.type)).toEqual(['group.created', 'membership.changed']);
    expect(first.body.cursor).toEqual(expect.any(String));
    const second = await stack.call<Page>(
      `GET`,
      `/admin/tenants/audited/audit?limit=2&cursor=${first.body.cursor}`,
    );
    expect(second.body.items.map((i) => i.type)).toEqual(['tenant.settings_changed', 'tenant.created']);
    expect(second.body.items[0]?.detail).toMatchObject({ actor: 'operator', changed: ['ssoEnabled'] });

    const bad = await stack.call<{ error: { code: string } }>(
      'GET',
      '/admin/tenants/audited/audit?cursor=AAAA',
    );
    expect(bad.status).toBe(400);
    const foreign = Buffer.from(JSON.stringify({ pk: 'TENANT#other', sk: 'AUDIT#x' })).toString('base64url');
    expect((await stack.call('GET', `/admin/tenants/audited/audit?cursor=${foreign}`)).status).toBe(400);
  });

  it('writes one record per EventBridge event, however often it is delivered', async () => {
    await stack.call('POST', '/admin/tenants', { body: { id: 'redelivered', name: 'R' } });
    const event = {
      version: '0',
      id: 'eb-1',
      'detail-type': 'login.succeeded',
      source: 'sso',
      account: '1',
      time: '2026-11-23T10:00:00Z',
      region: 'eu-west-1',
      resources: [],
      detail: { id: 'evt-123', tenantId: 'redelivered', protocol: 'saml' },
    };
    for (let i = 0; i < 3; i++) await handler(event, {} as never);
    const page = await stack.call<Page>('GET', '/admin/tenants/redelivered/audit');
    const logins = page.body.items.filter((i) => i.type === 'login.succeeded');
    expect(logins).toEqual([
      { id: 'evt-123', type: 'login.succeeded', time: '2026-11-23T10:00:00Z', detail: { protocol: 'saml' } },
    ]);
    const items = (await stack.items()).filter((i) => i.entity === 'audit' && i.id === 'evt-123');
    expect(items).toHaveLength(1);
    expect(items[0]?.expiresAt).toBe(Math.floor(Date.parse('2026-11-23T10:00:00Z') / 1000) + 365 * 86_400);
  });
});
