import { createPublicKey, createVerify, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DOMParser } from '@xmldom/xmldom';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encryptAssertion, idpMetadata, signResponse } from '../../local/demo/saml-idp.ts';
import { ManualClock } from '../../shared/ports/clock.ts';
import { createDocumentClient, runtime } from '../../shared/runtime.ts';
import {
  authnRequestId,
  IDP_ENTITY,
  postAcs,
  response,
  type SamlFixture,
  samlFixture,
} from '../helpers/saml.ts';
import { type ApiResponse, startTestStack, type TestStack } from '../helpers/stack.ts';

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const PASSWORD = 'correct horse battery staple 42';

let stack: TestStack;
let f: SamlFixture;
/** Stands still unless a test moves it (the last rotation test does; one stack per process). */
const clock = new ManualClock();
/** Every answer of the admin API and of the SAML routes in this file, to look for a private key. */
const answers: string[] = [];

interface SpCertificate {
  fingerprint: string;
  status: string;
  pem: string;
  notAfter: string;
  activatesAt?: string;
  retiresAt?: string;
}
interface SpKeysAnswer {
  changed: boolean;
  version: number;
  certificates: SpCertificate[];
}

const call = async <T = Record<string, unknown>>(
  method: string,
  path: string,
  options?: Parameters<TestStack['call']>[2],
): Promise<ApiResponse<T>> => {
  const res = await stack.call<T>(method, path, options);
  answers.push(res.text);
  return res;
};

const pemOf = (der: string) =>
  `-----BEGIN CERTIFICATE-----\n${der.match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;

/** The metadata's certificates by `use`, read the way a standard reader does (namespaces, not prefixes). */
async function metadata(connectionId: string) {
  const res = await fetch(`${stack.url}/saml/${connectionId}/metadata.xml`);
  const xml = await res.text();
  answers.push(xml);
  expect(res.status).toBe(200);
  const doc = new DOMParser().parseFromString(xml, 'text/xml');
  const sp = doc.getElementsByTagNameNS(MD, 'SPSSODescriptor')[0];
  const byUse: Record<string, string[]> = { signing: [], encryption: [] };
  const descriptors = doc.getElementsByTagNameNS(MD, 'KeyDescriptor');
  for (let i = 0; i < descriptors.length; i++) {
    const d = descriptors[i] as Element;
    const keyInfo = d.getElementsByTagNameNS(DS, 'KeyInfo')[0];
    const data = keyInfo?.getElementsByTagNameNS(DS, 'X509Data')[0];
    const cert = data?.getElementsByTagNameNS(DS, 'X509Certificate')[0];
    byUse[d.getAttribute('use') ?? '']?.push((cert?.textContent ?? '').replace(/\s+/g, ''));
  }
  return { xml, authnRequestsSigned: sp?.getAttribute('AuthnRequestsSigned'), ...byUse } as {
    xml: string;
    authnRequestsSigned: string | null | undefined;
    signing: string[];
    encryption: string[];
  };
}

/** An SP-initiated login: the redirect, and whether its signature verifies with `certDer`. */
async function login(connectionId: string) {
  const res = await fetch(`${stack.url}/saml/${connectionId}/login`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  const location = res.headers.get('location') ?? '';
  const url = new URL(location);
  const signedPart = url.search.slice(1).split('&Signature=')[0] ?? '';
  const signature = Buffer.from(url.searchParams.get('Signature') ?? '', 'base64');
  return {
    requestId: authnRequestId(location),
    sigAlg: url.searchParams.get('SigAlg'),
    signedWith: (certDer: string) =>
      createVerify('RSA-SHA256').update(signedPart).verify(pemOf(certDer), signature),
  };
}

let n = 0;
const unique = () => `sp${++n}-${Date.now()}@saml.test`;

/** A response from the IdP, its assertion signed and then encrypted to `certDer`. */
async function encryptedLogin(fixture: SamlFixture, certDer: string, inResponseTo?: string) {
  const email = unique();
  const xml = await encryptAssertion(
    signResponse(
      response(fixture, { nameId: email, ...(inResponseTo ? { inResponseTo } : {}) }),
      fixture.key,
      'assertion',
    ),
    pemOf(certDer),
  );
  const out = await postAcs(fixture, xml);
  answers.push(JSON.stringify(out.body));
  return { ...out, expectedEmail: email };
}

async function connectionItem(connectionId: string) {
  const item = (await stack.items()).find((i) => i.entity === 'connection' && i.id === connectionId);
  if (!item) throw new Error('no connection item');
  return item as Record<string, unknown> & {
    pk: string;
    sk: string;
    version: number;
    derived?: { sp?: { keys: { secretRef: string; certificate: string }[] } };
  };
}

const path = (fixture: SamlFixture, action: string) =>
  `/admin/tenants/${fixture.tenantId}/connections/${fixture.connectionId}/sp-keys/${action}`;

beforeAll(async () => {
  stack = await startTestStack({ clock });
  f = await samlFixture(stack, 'spkeys-co');
});
afterAll(async () => {
  await stack?.close();
});

describe('SP keys of a new SAML connection', () => {
  it('are published as signing and encryption KeyDescriptors, and match the stored private key', async () => {
    const md = await metadata(f.connectionId);
    expect(md.authnRequestsSigned).toBe('true');
    expect(md.signing).toHaveLength(1);
    expect(md.encryption).toEqual(md.signing);
    const cert = new X509Certificate(Buffer.from(md.signing[0] ?? '', 'base64'));
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(Date.parse(cert.validTo) - Date.now()).toBeGreaterThan(9 * 365 * 86_400_000);

    // The private key is in the secrets port only: the item holds its reference.
    const item = await connectionItem(f.connectionId);
    const [key] = item.derived?.sp?.keys ?? [];
    expect(key?.certificate).toBe(md.signing[0]);
    const privatePem = await stack.secrets.get(key?.secretRef ?? '');
    expect(privatePem).toContain('PRIVATE KEY');
    const derivedPublic = createPublicKey(privatePem).export({ type: 'spki', format: 'der' });
    expect(derivedPublic.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);

    // The admin view shows the certificate as the connection's SP facts.
    const view = await call<{ sp: { certificates: SpCertificate[] }; secretsSet: string[] }>(
      'GET',
      `/admin/tenants/${f.tenantId}/connections/${f.connectionId}`,
    );
    expect(view.body.sp.certificates).toEqual([
      expect.objectContaining({ status: 'current', fingerprint: cert.fingerprint256, source: 'generated' }),
    ]);
    expect(new X509Certificate(view.body.sp.certificates[0]?.pem ?? '').fingerprint256).toBe(
      cert.fingerprint256,
    );
    expect(view.body.secretsSet).toEqual([]);
  });

  it('signs SP-initiated AuthnRequests (redirect binding) with the published certificate', async () => {
    const { signing } = await metadata(f.connectionId);
    const start = await login(f.connectionId);
    expect(start.sigAlg).toBe(RSA_SHA256);
    expect(start.signedWith(signing[0] ?? '')).toBe(true);
    expect(start.signedWith(f.key.certDer)).toBe(false);
  });

  it('decrypts an assertion the IdP encrypted to the certificate read from the metadata', async () => {
    const { encryption } = await metadata(f.connectionId);
    const { requestId } = await login(f.connectionId);
    const out = await encryptedLogin(f, encryption[0] ?? '', requestId);
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect(out.email).toBe(out.expectedEmail);
  });
});

describe('a connection saved before SP keys', () => {
  it('gets its key pair on first use, once', async () => {
    const created = await call<{ id: string }>('POST', `/admin/tenants/${f.tenantId}/connections`, {
      body: {
        type: 'saml',
        name: 'Old',
        saml: { idpMetadataXml: idpMetadata(IDP_ENTITY, [f.key.certDer], 'https://idp.saml.test/sso') },
        provisioning: { mode: 'jit' },
      },
    });
    expect(created.status).toBe(201);
    // As saved before this feature: no key set, no secret.
    const item = await connectionItem(created.body.id);
    const ref = item.derived?.sp?.keys[0]?.secretRef ?? '';
    const doc = createDocumentClient({ DYNAMODB_ENDPOINT: inject('dynamodbEndpoint'), AWS_REGION: 'local' });
    await doc.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'REMOVE derived.sp',
      }),
    );
    await stack.secrets.delete(ref);
    const old: SamlFixture = {
      ...f,
      connectionId: created.body.id,
      acsUrl: f.acsUrl.replace(f.connectionId, created.body.id),
      entityId: f.entityId.replace(f.connectionId, created.body.id),
    };

    // Before any use it has no key: an encrypted assertion cannot be read.
    const before = await encryptedLogin(old, f.key.certDer);
    expect(before).toMatchObject({ status: 400, code: 'encrypted_assertion_unsupported' });

    const first = await metadata(old.connectionId);
    expect(first.signing).toHaveLength(1);
    expect(first.authnRequestsSigned).toBe('true');
    const after = await connectionItem(old.connectionId);
    expect(after.derived?.sp?.keys).toHaveLength(1);
    expect(after.version).toBe(item.version + 1);
    // Read again, and logged in with: the same key, nothing more written.
    expect((await metadata(old.connectionId)).signing).toEqual(first.signing);
    expect((await login(old.connectionId)).signedWith(first.signing[0] ?? '')).toBe(true);
    expect((await connectionItem(old.connectionId)).version).toBe(after.version);
  });
});

describe('rotation', () => {
  it('publishes, activates and retires with logins succeeding throughout', async () => {
    const [oldCert = ''] = (await metadata(f.connectionId)).signing;
    const oldRef = (await connectionItem(f.connectionId)).derived?.sp?.keys[0]?.secretRef ?? '';

    // rotate: the next certificate beside the current one; signing stays with the old key.
    const rotated = await call<SpKeysAnswer>('POST', path(f, 'rotate'));
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.certificates.map((c) => c.status)).toEqual(['current', 'next']);
    const next = rotated.body.certificates[1];
    expect(Date.parse(next?.activatesAt ?? '') - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const md = await metadata(f.connectionId);
    expect(md.signing).toHaveLength(2);
    expect(md.encryption).toEqual(md.signing);
    const newCert = md.signing.find((c) => c !== oldCert) ?? '';
    expect(md.signing).toContain(oldCert);
    expect(new X509Certificate(Buffer.from(newCert, 'base64')).fingerprint256).toBe(next?.fingerprint);
    // A second rotate while one is pending changes nothing.
    expect((await call<SpKeysAnswer>('POST', path(f, 'rotate'))).body.changed).toBe(false);

    let start = await login(f.connectionId);
    expect(start.signedWith(oldCert)).toBe(true);
    expect((await encryptedLogin(f, oldCert, start.requestId)).status).toBe(200);
    expect((await encryptedLogin(f, newCert)).status).toBe(200);

    // activate: the new key signs at once; the old one still decrypts.
    const activated = await call<SpKeysAnswer>('POST', path(f, 'activate'));
    expect(activated.status).toBe(200);
    expect(activated.body.certificates.map((c) => c.status)).toEqual(['retiring', 'current']);
    expect(Date.parse(activated.body.certificates[0]?.retiresAt ?? '') - Date.now()).toBeGreaterThan(
      6.9 * 86_400_000,
    );
    expect((await metadata(f.connectionId)).signing).toEqual([newCert]);
    start = await login(f.connectionId);
    expect(start.signedWith(newCert)).toBe(true);
    expect(start.signedWith(oldCert)).toBe(false);
    const late = await encryptedLogin(f, oldCert, start.requestId);
    expect(late.status, JSON.stringify(late.body)).toBe(200);
    expect((await encryptedLogin(f, newCert)).status).toBe(200);

    // retire: the old key is gone, secret included.
    const retired = await call<SpKeysAnswer>('POST', path(f, 'retire'));
    expect(retired.status).toBe(200);
    expect(retired.body.certificates.map((c) => c.status)).toEqual(['current']);
    expect(stack.secrets.refs()).not.toContain(oldRef);
    expect(await encryptedLogin(f, oldCert)).toMatchObject({ status: 400, code: 'decryption_failed' });
    start = await login(f.connectionId);
    expect(start.signedWith(newCert)).toBe(true);
    expect((await encryptedLogin(f, newCert, start.requestId)).status).toBe(200);
    expect((await metadata(f.connectionId)).signing).toEqual([newCert]);
    expect((await call<SpKeysAnswer>('POST', path(f, 'retire'))).body.changed).toBe(false);

    // Each change is an audited event naming the certificates.
    const types = stack.events.recent
      .filter((e) => e.detail.connectionId === f.connectionId)
      .map((e) => e.type)
      .filter((t) => t.startsWith('connection.sp_keys_'));
    expect(types).toEqual([
      'connection.sp_keys_rotated',
      'connection.sp_keys_activated',
      'connection.sp_keys_retired',
    ]);
  });
});

describe('who may change SP keys', () => {
  async function passwordToken(tenantId: string, role: string) {
    const email = `${role}-${++n}@${tenantId}.test`;
    const created = await call('POST', `/admin/tenants/${tenantId}/users`, {
      body: { email, role, password: PASSWORD },
    });
    expect(created.status, created.text).toBe(201);
    const res = await call<{ token: string }>('POST', '/login/password', {
      body: { tenantId, email, password: PASSWORD },
      token: null,
    });
    expect(res.status, res.text).toBe(200);
    return res.body.token;
  }

  it('refuses members (403, before the body is read) and other tenants (404), writing nothing', async () => {
    const member = await passwordToken(f.tenantId, 'member');
    const admin = await passwordToken(f.tenantId, 'admin');
    const other = await call('POST', '/admin/tenants', { body: { id: 'spkeys-other', name: 'Other' } });
    expect(other.status).toBe(201);
    const stranger = await passwordToken('spkeys-other', 'owner');

    const itemsBefore = JSON.stringify(await stack.items());
    const secretsBefore = stack.secrets.refs().sort();
    for (const action of ['rotate', 'activate', 'retire']) {
      const asMember = await call('POST', path(f, action), { token: member, body: { graceDays: 'soon' } });
      expect(asMember.status, asMember.text).toBe(403);
      const asStranger = await call('POST', path(f, action), {
        token: stranger,
        body: { graceDays: 'soon' },
      });
      expect(asStranger.status, asStranger.text).toBe(404);
      expect((await call('POST', path(f, action), { token: null })).status).toBe(401);
    }
    expect(JSON.stringify(await stack.items())).toBe(itemsBefore);
    expect(stack.secrets.refs().sort()).toEqual(secretsBefore);

    // An admin of the tenant may; a malformed body is then a 400.
    const bad = await call('POST', path(f, 'rotate'), { token: admin, body: { graceDays: 'soon' } });
    expect(bad).toMatchObject({ status: 400 });
    const ok = await call<SpKeysAnswer>('POST', path(f, 'activate'), { token: admin });
    expect(ok.status, ok.text).toBe(200);
  });
});

describe('rotation by the clock', () => {
  it('switches signing after the grace period, and retires the old key after another, by the clock', async () => {
    const g = await samlFixture(stack, 'spkeys-clock');
    const [oldCert = ''] = (await metadata(g.connectionId)).signing;
    const rotated = await call<SpKeysAnswer>('POST', path(g, 'rotate'), { body: { graceDays: 2 } });
    expect(rotated.status, rotated.text).toBe(200);
    const [, newCert = ''] = (await metadata(g.connectionId)).signing;
    expect(newCert).not.toBe('');
    clock.advance(2 * 86_400 + 60);
    // Nobody activated it: the next key signs once its grace period is over, and is the only one published.
    expect((await login(g.connectionId)).signedWith(newCert)).toBe(true);
    expect((await metadata(g.connectionId)).signing).toEqual([newCert]);
    const toOld = (now: Date) =>
      encryptAssertion(
        signResponse(response(g, { nameId: unique(), now }), g.key, 'assertion'),
        pemOf(oldCert),
      );
    expect((await postAcs(g, await toOld(clock.now()))).status).toBe(200);
    // Two more days: the old key is retired, no longer read.
    clock.advance(2 * 86_400);
    expect(await postAcs(g, await toOld(clock.now()))).toMatchObject({
      status: 400,
      code: 'decryption_failed',
    });
  });
});

describe('the private key', () => {
  it('never appears in an answer or a DynamoDB item', async () => {
    const keys = await Promise.all(
      stack.secrets
        .refs()
        .filter((ref) => ref.includes('/sp-keys/'))
        .map((ref) => stack.secrets.get(ref)),
    );
    expect(keys.length).toBeGreaterThan(0);
    const bodies = keys.map((pem) => pem.replace(/-----[^-]+-----|\s+/g, '').slice(0, 80));
    const items = JSON.stringify(await stack.items());
    expect(items).not.toContain('PRIVATE KEY');
    for (const body of bodies) expect(items).not.toContain(body);
    expect(answers.length).toBeGreaterThan(10);
    for (const answer of answers) {
      expect(answer).not.toContain('PRIVATE KEY');
      for (const body of bodies) expect(answer).not.toContain(body);
    }
  });
});

describe('a container holding an older copy of the connection', () => {
  it('signs with the new key when another one activated it and retired the old key meanwhile', async () => {
    const g = await samlFixture(stack, 'spkeys-stale');
    expect((await call('POST', path(g, 'rotate'))).status).toBe(200);
    await login(g.connectionId); // this container now holds the connection with the old key current
    // what activate + retire do from another container: the next key current, the old secret gone
    const item = await connectionItem(g.connectionId);
    const [oldKey, nextKey] = item.derived?.sp?.keys ?? [];
    if (!oldKey || !nextKey) throw new Error('expected two keys after rotate');
    const rt = runtime();
    await rt.db.doc.send(
      new UpdateCommand({
        TableName: rt.db.table,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'SET derived.sp.#keys = :k, version = :v',
        ExpressionAttributeNames: { '#keys': 'keys' },
        ExpressionAttributeValues: {
          ':k': [{ ...nextKey, activatesAt: clock.now().toISOString() }],
          ':v': item.version + 1,
        },
      }),
    );
    await stack.secrets.delete(oldKey.secretRef);
    const signed = await login(g.connectionId);
    expect(signed.signedWith(nextKey.certificate)).toBe(true);
  });
});

describe('an uploaded SP key', () => {
  it('removed with null gives way to a generated pair: published, signing, the uploaded secret deleted', async () => {
    const fixtures = new URL('../fixtures/interop/', import.meta.url);
    const g = await samlFixture(stack, 'spkeys-upload', {
      spPrivateKeyPem: readFileSync(new URL('TEST-ONLY-sp.key.pem', fixtures), 'utf8'),
      spCertificatePem: readFileSync(new URL('TEST-ONLY-sp.crt.pem', fixtures), 'utf8'),
    });
    const uploadedRef = (await connectionItem(g.connectionId)).secretRefs as Record<string, string>;
    const removed = await call<{ secretsSet: string[] }>(
      'PATCH',
      `/admin/tenants/${g.tenantId}/connections/${g.connectionId}`,
      { body: { saml: { spPrivateKeyPem: null, spCertificatePem: null } } },
    );
    expect(removed.status, removed.text).toBe(200);
    expect(removed.body.secretsSet).not.toContain('spPrivateKeyPem');
    await expect(stack.secrets.get(uploadedRef.spPrivateKeyPem ?? '')).rejects.toThrow();
    const published = await metadata(g.connectionId);
    expect(published.signing).toHaveLength(1);
    const [generated] = (await connectionItem(g.connectionId)).derived?.sp?.keys ?? [];
    expect(generated?.certificate).toBe(published.signing[0]);
    expect((await login(g.connectionId)).signedWith(published.signing[0] ?? '')).toBe(true);
  });
});

describe('keys generated for a save that is not written', () => {
  it('are deleted: concurrent PATCHes of a connection saved before SP keys leave one key and one secret', async () => {
    const g = await samlFixture(stack, 'spkeys-race');
    const spSecrets = () =>
      stack.secrets.refs().filter((r) => r.includes(`/connections/${g.connectionId}/sp-keys/`));
    // as saved before SP keys existed
    const item = await connectionItem(g.connectionId);
    const rt = runtime();
    await rt.db.doc.send(
      new UpdateCommand({
        TableName: rt.db.table,
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: 'REMOVE derived.sp',
      }),
    );
    for (const ref of spSecrets()) await stack.secrets.delete(ref);
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        stack.call('PATCH', `/admin/tenants/${g.tenantId}/connections/${g.connectionId}`, {
          body: { name: `renamed ${i}` },
        }),
      ),
    );
    expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(answers.every((a) => a.status === 200 || a.status === 409)).toBe(true);
    const keysNow = (await connectionItem(g.connectionId)).derived?.sp?.keys ?? [];
    expect(spSecrets().sort()).toEqual(keysNow.map((k) => k.secretRef).sort());
  });
});
