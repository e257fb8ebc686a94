import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
const base = '/admin/tenants/conn-co/connections';

beforeAll(async () => {
  stack = await startTestStack();
  const res = await stack.call('POST', '/admin/tenants', { body: { id: 'conn-co', name: 'Connections Co' } });
  expect(res.status).toBe(201);
});
afterAll(async () => {
  await stack.close();
});

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string }[] };
}
interface View {
  id: string;
  type: string;
  version: number;
  secretsSet: string[];
  sp: Record<string, string>;
  compatibility: { compatible: boolean; problems: unknown[]; warnings: { code: string }[] };
  [key: string]: unknown;
}

const OIDC_SECRET = 'oidc-client-secret-Zx81!';
const LDAP_PASSWORD = 'ldap-service-password-Qq27?';
const SP_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const SP_CERT = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----';

const bodies = {
  saml: {
    type: 'saml',
    name: 'Okta',
    saml: {
      idpMetadataXml: idpMetadata(
        'https://idp.example.test',
        [makeIdpKey().certDer],
        'https://idp.example.test/sso',
      ),
      spPrivateKeyPem: SP_KEY,
      spCertificatePem: SP_CERT,
    },
    provisioning: { mode: 'jit', defaultRole: 'member' },
  },
  oidc: {
    type: 'oidc',
    name: 'Entra ID',
    oidc: {
      issuer: 'https://login.example.test/tenant/v2.0',
      clientId: 'client-1',
      clientSecret: OIDC_SECRET,
    },
  },
  ldap: {
    type: 'ldap',
    name: 'Corporate directory',
    ldap: {
      url: 'ldaps://ldap.example.test',
      dnResolution: {
        method: 'search',
        baseDn: 'ou=people,dc=example,dc=test',
        serviceAccount: { dn: 'cn=svc,dc=example,dc=test', password: LDAP_PASSWORD },
      },
      groupSearch: { baseDn: 'ou=groups,dc=example,dc=test' },
    },
    authorization: { enabled: true, ttlSeconds: 900 },
  },
} as const;

const secretValues = [OIDC_SECRET, LDAP_PASSWORD, SP_KEY.split('\n')[1] as string];

async function expectNoSecretInTable() {
  const dump = JSON.stringify(await stack.items());
  for (const secret of secretValues) expect(dump).not.toContain(secret);
}

describe.each(Object.entries(bodies))('a %s connection', (type, body) => {
  let created: View;

  it('is created with sp, compatibility and secretsSet, never its secrets', async () => {
    const res = await stack.call<View>('POST', base, { body });
    expect(res.status).toBe(201);
    created = res.body;
    expect(created).toMatchObject({ type, name: body.name, enabled: true, version: 1, tenantId: 'conn-co' });
    expect(created.compatibility, JSON.stringify(created.compatibility)).toMatchObject({
      compatible: true,
      problems: [],
    });
    expect(created.sp.loginUrl).toBe(`${stack.url}/${type}/${created.id}/login`);
    for (const secret of secretValues) expect(res.text).not.toContain(secret);
    await expectNoSecretInTable();
  });

  it('keeps its secrets in the secrets port, referenced from the item', async () => {
    const expected = {
      saml: ['spPrivateKeyPem'],
      oidc: ['clientSecret'],
      ldap: ['dnResolution.serviceAccount.password'],
    }[type as 'saml' | 'oidc' | 'ldap'];
    expect(created.secretsSet).toEqual(expected);
    const refs = stack.secrets.refs().filter((r) => r.includes(`/connections/${created.id}/`));
    expect(refs).toHaveLength(1);
    const value = await stack.secrets.get(refs[0] as string);
    expect(secretValues.some((s) => value.includes(s))).toBe(true);
  });

  it('is listed and read without secrets', async () => {
    const list = await stack.call<{ items: View[] }>('GET', base);
    expect(list.status).toBe(200);
    expect(list.body.items.map((c) => c.id)).toContain(created.id);
    const one = await stack.call<View>('GET', `${base}/${created.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual(created);
    for (const secret of secretValues) {
      expect(list.text).not.toContain(secret);
      expect(one.text).not.toContain(secret);
    }
  });

  it('is renamed by PATCH, keeping its secret, and refuses a stale version', async () => {
    const res = await stack.call<View>('PATCH', `${base}/${created.id}`, {
      body: { name: 'Renamed', version: 1 },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Renamed', version: 2, secretsSet: created.secretsSet });
    const stale = await stack.call<ErrorBody>('PATCH', `${base}/${created.id}`, {
      body: { enabled: false },
      headers: { 'if-match': '"1"' },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('version_conflict');
  });

  it('cannot change type', async () => {
    const other = type === 'saml' ? 'oidc' : 'saml';
    const res = await stack.call<ErrorBody>('PATCH', `${base}/${created.id}`, { body: { type: other } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('type_immutable');
  });

  it('is deleted with its secrets, then answers 404', async () => {
    const refsBefore = stack.secrets.refs().filter((r) => r.includes(`/connections/${created.id}/`));
    expect(refsBefore.length).toBeGreaterThan(0);
    const del = await stack.call('DELETE', `${base}/${created.id}`);
    expect(del.status).toBe(204);
    expect(stack.secrets.refs().filter((r) => r.includes(`/connections/${created.id}/`))).toEqual([]);
    const gone = await stack.call<ErrorBody>('GET', `${base}/${created.id}`);
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    const again = await stack.call('DELETE', `${base}/${created.id}`);
    expect(again.status).toBe(404);
  });
});

describe('connection secrets on update', () => {
  it('replaces a rotated client secret and deletes the old one', async () => {
    const created = await stack.call<View>('POST', base, { body: bodies.oidc });
    const id = created.body.id;
    const [oldRef] = stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`));
    const res = await stack.call<View>('PATCH', `${base}/${id}`, {
      body: { oidc: { clientSecret: 'rotated-secret' } },
    });
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('rotated-secret');
    const refs = stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`));
    expect(refs).toHaveLength(1);
    expect(refs[0]).not.toBe(oldRef);
    expect(await stack.secrets.get(refs[0] as string)).toBe('rotated-secret');
  });

  it('leaves the stored secret untouched when a PATCH loses the version race', async () => {
    const created = await stack.call<View>('POST', base, { body: bodies.oidc });
    const id = created.body.id;
    await stack.call('PATCH', `${base}/${id}`, { body: { name: 'moved on' } });
    const before = stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`));
    const res = await stack.call<ErrorBody>('PATCH', `${base}/${id}`, {
      body: { oidc: { clientSecret: 'lost-race' }, version: 1 },
    });
    expect(res.status).toBe(409);
    expect(stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`))).toEqual(before);
  });

  it('drops the service-account password when the search method is replaced', async () => {
    const created = await stack.call<View>('POST', base, { body: bodies.ldap });
    const id = created.body.id;
    const moved = await stack.call<View>('PATCH', `${base}/${id}`, {
      body: {
        ldap: {
          dnResolution: {
            method: 'search',
            baseDn: 'ou=staff,dc=example,dc=test',
            serviceAccount: { dn: 'cn=svc2' },
          },
        },
      },
    });
    expect(moved.status).toBe(200);
    expect(moved.body.secretsSet).toEqual(['dnResolution.serviceAccount.password']);
    const res = await stack.call<View>('PATCH', `${base}/${id}`, {
      body: { ldap: { dnResolution: { method: 'upn' } } },
    });
    expect(res.status).toBe(200);
    expect(res.body.secretsSet).toEqual([]);
    expect(stack.secrets.refs().filter((r) => r.includes(`/connections/${id}/`))).toEqual([]);
  });

  it('generates a private_key_jwt key when none is given', async () => {
    const res = await stack.call<View>('POST', base, {
      body: {
        type: 'oidc',
        name: 'JWT client',
        oidc: {
          issuer: 'https://op.example.test',
          clientId: 'c',
          tokenEndpointAuthMethod: 'private_key_jwt',
        },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.secretsSet).toEqual(['privateKeyPem']);
    expect(res.text).not.toContain('PRIVATE KEY');
  });
});

describe('invalid connection bodies', () => {
  it.each([
    ['an unknown type', { type: 'kerberos', name: 'x' }],
    ['a missing protocol object', { type: 'oidc', name: 'x' }],
    ['another type’s object', { type: 'oidc', name: 'x', saml: bodies.saml.saml }],
    [
      'an unknown key in the protocol object',
      { ...bodies.oidc, oidc: { ...bodies.oidc.oidc, clientSecrett: 'x' } },
    ],
    [
      'an OIDC client without its secret',
      { ...bodies.oidc, oidc: { issuer: 'https://op.test', clientId: 'c' } },
    ],
    ['prompt none with login', { ...bodies.oidc, oidc: { ...bodies.oidc.oidc, prompt: ['none', 'login'] } }],
    ['an issuer that is not a URL', { ...bodies.oidc, oidc: { ...bodies.oidc.oidc, issuer: 'op.example' } }],
    [
      'partial explicit endpoints',
      { ...bodies.oidc, oidc: { ...bodies.oidc.oidc, tokenEndpoint: 'https://op.test/token' } },
    ],
    [
      'both metadata XML and URL',
      { ...bodies.saml, saml: { idpMetadataXml: '<x/>', idpMetadataUrl: 'https://idp.test/metadata' } },
    ],
    ['neither metadata XML nor URL', { ...bodies.saml, saml: {} }],
    [
      'an http:// LDAP URL',
      { ...bodies.ldap, ldap: { ...bodies.ldap.ldap, url: 'http://ldap.example.test' } },
    ],
    ['an LDAP URL with a path', { ...bodies.ldap, ldap: { ...bodies.ldap.ldap, url: 'ldaps://h/dc=x' } }],
    [
      'a DN format without {}',
      {
        ...bodies.ldap,
        ldap: {
          url: 'ldaps://h',
          dnResolution: { method: 'format', formats: { 'example.com': 'uid=x,dc=e' } },
        },
      },
    ],
    [
      'a service account without its password',
      {
        ...bodies.ldap,
        ldap: {
          url: 'ldaps://h',
          dnResolution: { method: 'search', baseDn: 'dc=e', serviceAccount: { dn: 'cn=s' } },
        },
      },
    ],
    [
      'owner as the provisioning role',
      { ...bodies.oidc, provisioning: { mode: 'jit', defaultRole: 'owner' } },
    ],
    ['an unknown provisioning mode', { ...bodies.oidc, provisioning: { mode: 'magic' } }],
  ])('refuses %s with 400 and writes nothing', async (_, body) => {
    const before = await stack.items();
    const secretsBefore = stack.secrets.refs();
    const res = await stack.call<ErrorBody>('POST', base, { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(await stack.items()).toEqual(before);
    expect(stack.secrets.refs()).toEqual(secretsBefore);
  });

  it('answers 404 for connections of an unknown tenant', async () => {
    const res = await stack.call<ErrorBody>('POST', '/admin/tenants/ghost-co/connections', {
      body: bodies.oidc,
    });
    expect(res.status).toBe(404);
    const list = await stack.call<ErrorBody>('GET', '/admin/tenants/ghost-co/connections');
    expect(list.status).toBe(404);
  });

  it('answers 404 for a connection id that belongs to another tenant', async () => {
    await stack.call('POST', '/admin/tenants', { body: { id: 'other-co', name: 'Other' } });
    const created = await stack.call<View>('POST', base, { body: bodies.ldap });
    const res = await stack.call<ErrorBody>('GET', `/admin/tenants/other-co/connections/${created.body.id}`);
    expect(res.status).toBe(404);
    const del = await stack.call<ErrorBody>(
      'DELETE',
      `/admin/tenants/other-co/connections/${created.body.id}`,
    );
    expect(del.status).toBe(404);
  });

  it('warns about an insecure LDAP connection in its compatibility report', async () => {
    const res = await stack.call<View>('POST', base, {
      body: { ...bodies.ldap, ldap: { ...bodies.ldap.ldap, url: 'ldap://127.0.0.1:389', insecure: true } },
    });
    expect(res.status).toBe(201);
    expect(res.body.compatibility.warnings.map((w) => w.code)).toEqual(['insecure_transport']);
  });
});

describe('SAML metadata on save', () => {
  it('reports unparseable metadata, a missing IDPSSODescriptor and an entityID used twice', async () => {
    const make = (xml: string) =>
      stack.call<View>('POST', base, { body: { type: 'saml', name: 'x', saml: { idpMetadataXml: xml } } });
    const broken = await make('<not xml');
    expect(broken.status).toBe(201);
    expect(broken.body.compatibility).toMatchObject({
      compatible: false,
      problems: [{ code: 'unparseable_metadata' }],
    });
    const noIdp = await make(
      '<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x"/>',
    );
    expect(noIdp.body.compatibility.problems).toEqual([
      expect.objectContaining({ code: 'no_idp_descriptor' }),
    ]);
    const weak = makeIdpKey({ bits: 1024, digest: 'sha1', days: 10 });
    const meta = idpMetadata('https://shared-idp.test', [weak.certDer], 'https://shared-idp.test/sso');
    const firstUse = await make(meta);
    const codes = (v: View) => ({
      problems: (v.compatibility.problems as { code: string }[]).map((p) => p.code).sort(),
      warnings: v.compatibility.warnings.map((w) => w.code).sort(),
    });
    expect(codes(firstUse.body)).toEqual({
      problems: ['weak_key'],
      warnings: ['certificate_expiring', 'sha1_certificate'],
    });
    const second = await make(meta);
    expect(codes(second.body).problems).toEqual(['entity_id_in_use', 'weak_key']);
  });

  it('never tells a tenant that another tenant uses the same IdP entityID', async () => {
    const other = 'conn-co-other';
    const otherBase = `/admin/tenants/${other}/connections`;
    expect((await stack.call('POST', '/admin/tenants', { body: { id: other, name: 'Other' } })).status).toBe(
      201,
    );
    const entityId = 'https://idp.shared-between-tenants.test';
    const meta = idpMetadata(entityId, [makeIdpKey().certDer], `${entityId}/sso`);
    const body = { type: 'saml', name: 'Shared IdP', saml: { idpMetadataXml: meta } };
    const mine = await stack.call<View>('POST', base, { body });
    expect(mine.status).toBe(201);
    expect(mine.body.compatibility.problems).toEqual([]);

    // The other tenant's admin learns nothing of the first tenant's connection: not on save,
    // not on a live test, and the first tenant does not learn of the second one either.
    const theirs = await stack.call<View>('POST', otherBase, { body });
    expect(theirs.status).toBe(201);
    expect(theirs.body.compatibility.problems).toEqual([]);
    const tested = await stack.call<View>('POST', `${otherBase}/${theirs.body.id}/test`);
    expect(tested.status, tested.text).toBe(200);
    expect(tested.body.compatibility.problems).toEqual([]);
    const resaved = await stack.call<View>('PATCH', `${base}/${mine.body.id}`, { body: { name: 'Resaved' } });
    expect(resaved.status).toBe(200);
    expect(resaved.body.compatibility.problems).toEqual([]);
    for (const res of [theirs, tested, resaved]) {
      expect(res.text).not.toContain('entity_id_in_use');
      expect(res.text).not.toContain(res === resaved ? theirs.body.id : mine.body.id);
    }

    // Within one tenant a second connection to the same IdP is still reported.
    const twice = await stack.call<View>('POST', otherBase, { body });
    expect((twice.body.compatibility.problems as { code: string }[]).map((p) => p.code)).toEqual([
      'entity_id_in_use',
    ]);
  });

  it('refuses a metadata URL pointing at an internal address when private URLs are not allowed', async () => {
    const { checkUrl } = await import('../../shared/net/url-guard.ts');
    for (const url of [
      'http://idp.test/m',
      'https://127.0.0.1/m',
      'https://[::1]/m',
      'https://169.254.169.254/latest',
      'https://10.1.2.3/m',
      'https://user:pw@idp.test/m',
      'https://localhost/m',
    ]) {
      expect(() => checkUrl(url, { allowPrivate: false }), url).toThrow(/not allowed/);
    }
    expect(checkUrl('https://idp.example.com/metadata', { allowPrivate: false }).hostname).toBe(
      'idp.example.com',
    );
  });
});
