import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptAssertion, idOf, makeIdpKey, signElement, signResponse } from '../../local/demo/saml-idp.ts';
import {
  authnRequestId,
  authnRequestXml,
  IDP_ENTITY,
  postAcs,
  response,
  type SamlFixture,
  samlFixture,
  signed,
} from '../helpers/saml.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
let f: SamlFixture;
const keys = { key: makeIdpKey(), rotated: makeIdpKey(), attacker: makeIdpKey() };

beforeAll(async () => {
  stack = await startTestStack();
  f = await samlFixture(stack, 'saml-co', {}, keys);
});
afterAll(async () => {
  await stack.close();
});

const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml');
const serialize = (doc: Document | Node) => new XMLSerializer().serializeToString(doc as never);
const first = (node: Document | Element, ns: string, name: string) =>
  node.getElementsByTagNameNS(ns, name)[0] as Element;
let n = 0;
const unique = (prefix = 'u') => `${prefix}${++n}-${Date.now()}@saml.test`;

describe('accepted shapes', () => {
  it.each(['assertion', 'response', 'both'] as const)(
    'a %s-signed response signs the person in',
    async (what) => {
      const email = unique(what);
      const out = await postAcs(f, signed(f, { nameId: email }, what));
      expect(out.status).toBe(200);
      expect(out.email).toBe(email);
      expect(out.body.session).toMatchObject({ tid: 'saml-co', amr: ['saml'], cid: f.connectionId });
    },
  );

  it('accepts a response signed with the rotated certificate listed in the metadata', async () => {
    const out = await postAcs(
      f,
      signResponse(response(f, { nameId: unique('rot') }), f.rotated, 'assertion'),
    );
    expect(out.status).toBe(200);
  });

  it('accepts pretty-printed XML and several audiences', async () => {
    const email = unique('pretty');
    const pretty = response(f, { nameId: email, audiences: ['https://other.test/sp', f.entityId] }).replace(
      /></g,
      '>\n  <',
    );
    const out = await postAcs(f, signResponse(pretty, f.key, 'both'));
    expect(out.status).toBe(200);
    expect(out.email).toBe(email);
  });

  it('sends the browser to an allowed RelayState, and anything else to appUrl', async () => {
    const browser = { accept: 'text/html' };
    const allowed = await postAcs(f, signed(f, { nameId: unique() }), {
      ...browser,
      relayState: 'https://app.saml.test/deep/x',
    });
    expect(allowed.status).toBe(303);
    expect(allowed.location).toBe('https://app.saml.test/deep/x');
    const hostile = await postAcs(f, signed(f, { nameId: unique() }), {
      ...browser,
      relayState: 'https://evil.test/deep',
    });
    expect(hostile.location).toBe('https://app.saml.test/home');
  });

  it('completes an SP-initiated login once, refusing unknown and reused InResponseTo', async () => {
    const start = await fetch(
      `${stack.url}/saml/${f.connectionId}/login?redirect=${encodeURIComponent('https://app.saml.test/deep/report')}`,
      {
        redirect: 'manual',
      },
    );
    expect(start.status).toBe(302);
    const location = start.headers.get('location') ?? '';
    expect(location.startsWith('https://idp.saml.test/sso?SAMLRequest=')).toBe(true);
    const id = authnRequestId(location);
    expect(id).toMatch(/^_[0-9a-f]{40}$/);

    const ok = await postAcs(f, signed(f, { nameId: unique('sp'), inResponseTo: id }), {
      accept: 'text/html',
    });
    expect(ok.status).toBe(303);
    expect(ok.location).toBe('https://app.saml.test/deep/report');
    const reused = await postAcs(f, signed(f, { nameId: unique('sp'), inResponseTo: id }));
    expect(reused).toMatchObject({ status: 400, code: 'unknown_request' });
    const unknown = await postAcs(f, signed(f, { nameId: unique('sp'), inResponseTo: '_not-ours' }));
    expect(unknown).toMatchObject({ status: 400, code: 'unknown_request' });
  });

  it('uses the whole NameID: a comment inside it never truncates it', async () => {
    // The attacker owns victim@corp.test.evil.test at the IdP and splits its signed NameID with a
    // comment; exclusive c14n drops comments, so the signature still holds.
    const xml = signed(f, { nameId: 'victim@corp.test.evil.test' }).replace(
      'victim@corp.test.evil.test<',
      'victim@corp.test<!---->.evil.test<',
    );
    expect(xml).toContain('victim@corp.test<!---->.evil.test');
    const out = await postAcs(f, xml);
    expect(out.status).toBe(200);
    expect(out.email).toBe('victim@corp.test.evil.test');
  });

  it('serves SP metadata naming this connection', async () => {
    const res = await fetch(`${stack.url}/saml/${f.connectionId}/metadata.xml`);
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${f.entityId}"`);
    expect(xml).toContain(`Location="${f.acsUrl}"`);
    expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST');
    expect(xml).toContain('WantAssertionsSigned="true"');
    expect(xml).toContain('urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
  });
});

/** Signature wrapping, after SAML Raider's XSW1–XSW8: an evil twin the signature does not cover. */
function xsw(variant: number): string {
  const victim = 'admin@saml.test';
  const responseSigned = variant <= 2;
  const good = signed(f, { nameId: unique('xsw') }, responseSigned ? 'response' : 'assertion');
  const doc = parse(good);
  const root = doc.documentElement;
  const assertion = first(doc, SAML, 'Assertion');
  const evilAssertion = assertion.cloneNode(true) as Element;
  evilAssertion.setAttribute('ID', '_evil');
  const sigInEvil = evilAssertion.getElementsByTagNameNS(DS, 'Signature')[0];
  if (sigInEvil) evilAssertion.removeChild(sigInEvil);
  first(evilAssertion, SAML, 'NameID').textContent = victim;
  switch (variant) {
    case 1: {
      // the signed Response moves inside its own Signature; an evil Response takes its place
      const evil = root.cloneNode(true) as Element;
      evil.setAttribute('ID', '_evilresponse');
      const evilSig = first(evil, DS, 'Signature');
      evil.replaceChild(evilAssertion, first(evil, SAML, 'Assertion'));
      evilSig.appendChild(root.cloneNode(true));
      return serialize(evil);
    }
    case 2: {
      const evil = root.cloneNode(true) as Element;
      evil.setAttribute('ID', '_evilresponse');
      const evilSig = first(evil, DS, 'Signature');
      evil.replaceChild(evilAssertion, first(evil, SAML, 'Assertion'));
      evil.insertBefore(root.cloneNode(true), evilSig);
      return serialize(evil);
    }
    case 3:
      root.insertBefore(evilAssertion, assertion);
      return serialize(doc);
    case 4:
      root.replaceChild(evilAssertion, assertion);
      evilAssertion.appendChild(assertion);
      return serialize(doc);
    case 5: {
      const copy = assertion.cloneNode(true) as Element;
      first(assertion, SAML, 'NameID').textContent = victim;
      root.appendChild(copy);
      return serialize(doc);
    }
    case 6: {
      const sig = first(assertion, DS, 'Signature');
      const copy = assertion.cloneNode(true) as Element;
      const copySig = first(copy, DS, 'Signature');
      copy.removeChild(copySig);
      first(assertion, SAML, 'NameID').textContent = victim;
      sig.appendChild(copy);
      return serialize(doc);
    }
    case 7: {
      const ext = doc.createElementNS(SAMLP, 'samlp:Extensions');
      ext.appendChild(assertion.cloneNode(true));
      root.insertBefore(ext, assertion);
      root.replaceChild(evilAssertion, assertion);
      return serialize(doc);
    }
    default: {
      const sig = first(assertion, DS, 'Signature');
      const object = doc.createElementNS(DS, 'ds:Object');
      const copy = assertion.cloneNode(true) as Element;
      copy.removeChild(first(copy, DS, 'Signature'));
      object.appendChild(copy);
      sig.appendChild(object);
      first(assertion, SAML, 'NameID').textContent = victim;
      return serialize(doc);
    }
  }
}

describe('the attack suite', () => {
  const refused = async (xml: string, code: string | RegExp, raw = false) => {
    const out = await postAcs(f, xml, { raw });
    expect(out.status, JSON.stringify(out.body)).toBeGreaterThanOrEqual(400);
    expect(out.status).toBeLessThan(500);
    if (typeof code === 'string') expect(out.code).toBe(code);
    else expect(out.code).toMatch(code);
    expect(out.body.session).toBeUndefined();
  };

  it('refuses an unsigned response', async () => refused(response(f), 'invalid_signature'));

  it('refuses a response whose signature was stripped', async () => {
    const xml = signed(f).replace(/<ds:Signature[\s\S]*<\/ds:Signature>/, '');
    await refused(xml, 'invalid_signature');
  });

  it('refuses a response edited after signing', async () => {
    await refused(
      signed(f, { nameId: 'me@saml.test' }).replace('me@saml.test', 'admin@saml.test'),
      'invalid_signature',
    );
    await refused(signed(f, {}, 'response').replace('g-eng', 'g-admins'), 'invalid_signature');
  });

  it('refuses a response re-signed by another key that carries its certificate in KeyInfo', async () => {
    await refused(signResponse(response(f), f.attacker, 'both'), 'invalid_signature');
  });

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('refuses signature wrapping XSW%i', async (variant) => {
    await refused(xsw(variant), /^(malformed_response|invalid_signature)$/);
  });

  it('refuses an assertion hidden in Advice and two assertions', async () => {
    const hidden = response(f, { nameId: 'admin@saml.test' }).replace(
      '<saml:AuthnStatement',
      `<saml:Advice>${/<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(response(f))?.[0]}</saml:Advice><saml:AuthnStatement`,
    );
    await refused(signResponse(hidden, f.key, 'response'), 'malformed_response');
    const base = response(f);
    const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(base)?.[0] ?? '';
    const two = base.replace(
      '</samlp:Response>',
      `${assertion.replace(/ID="[^"]+"/, 'ID="_second"')}</samlp:Response>`,
    );
    await refused(signResponse(two, f.key, 'response'), 'malformed_response');
  });

  it('refuses a processing instruction in signed content (signed as text, read as nothing)', async () => {
    // Canonicalized, `admin@saml.test<?x .evil.test?>` is the signed `admin@saml.test.evil.test`;
    // read as DOM text it would be admin@saml.test.
    const xml = signed(f, { nameId: 'admin@saml.test.evil.test' }).replace(
      'admin@saml.test.evil.test',
      'admin@saml.test<?x .evil.test?>',
    );
    await refused(xml, 'malformed_response');
  });

  it('refuses the xml-crypto 2025 shapes: a comment in DigestValue, a second SignedInfo', async () => {
    const good = signed(f);
    await refused(good.replace(/<ds:DigestValue>/, '<ds:DigestValue><!--injected-->'), 'invalid_signature');
    const signedInfo = /<ds:SignedInfo>[\s\S]*?<\/ds:SignedInfo>/.exec(good)?.[0] ?? '';
    await refused(good.replace(signedInfo, signedInfo + signedInfo), 'invalid_signature');
  });

  it.each([
    ['a wrong Response Issuer', { responseIssuer: 'https://evil.test' }, 'issuer_mismatch'],
    ['no Response Issuer', { responseIssuer: null }, 'issuer_mismatch'],
    ['a wrong Assertion Issuer', { assertionIssuer: 'https://evil.test' }, 'issuer_mismatch'],
    ['no Assertion Issuer', { assertionIssuer: null }, 'issuer_mismatch'],
    ['a wrong Audience', { audiences: ['https://other.test/sp'] }, 'audience_mismatch'],
    ['no AudienceRestriction', { audiences: null }, 'audience_mismatch'],
    ['a wrong Destination', { destination: 'https://other.test/acs' }, 'destination_mismatch'],
    ['no Destination', { destination: null }, 'destination_mismatch'],
    ['a wrong Recipient', { recipient: 'https://other.test/acs' }, 'recipient_mismatch'],
    ['no Recipient', { recipient: null }, 'recipient_mismatch'],
    ['an expired assertion', { now: new Date(Date.now() - 3_600_000) }, 'expired'],
    ['a not-yet-valid assertion', { notBefore: new Date(Date.now() + 600_000) }, 'not_yet_valid'],
    ['a Responder status', { status: 'urn:oasis:names:tc:SAML:2.0:status:Responder' }, 'idp_error'],
  ])('refuses %s', async (_, over, code) => {
    await refused(signed(f, over as never, 'both'), code);
  });

  it('accepts a NotBefore just inside the clock skew', async () => {
    const out = await postAcs(
      f,
      signed(f, { nameId: unique('skew'), notBefore: new Date(Date.now() + 30_000) }),
    );
    expect(out.status).toBe(200);
  });

  it('refuses the same response twice, and the same assertion in a new envelope', async () => {
    const xml = signed(f, { nameId: unique('replay') });
    expect((await postAcs(f, xml)).status).toBe(200);
    await refused(xml, 'replayed_assertion');
    const rewrapped = signElement(
      xml.replace(/(<samlp:Response [^>]*ID=")[^"]+/, '$1_fresh-envelope'),
      '_fresh-envelope',
      f.key,
    );
    expect(idOf(rewrapped, 'Response')).toBe('_fresh-envelope');
    await refused(rewrapped, 'replayed_assertion');
    expect(stack.events.recent.some((e) => e.type === 'saml.replay_blocked')).toBe(true);
  });

  it('writes nothing for a replayed assertion ID, even for a person it would provision', async () => {
    // The replay guard runs beside the person's lookup; provisioning must still wait for it.
    const assertionId = `_replayed-${Date.now()}`;
    expect((await postAcs(f, signed(f, { nameId: unique('first'), assertionId }))).status).toBe(200);
    const newcomer = unique('newcomer');
    for (let i = 0; i < 3; i++) {
      await refused(signed(f, { nameId: newcomer, assertionId }), 'replayed_assertion');
    }
    const users = await stack.call<{ items: unknown[] }>(
      'GET',
      `/admin/tenants/${f.tenantId}/users?email=${encodeURIComponent(newcomer)}`,
    );
    expect(users.status).toBe(200);
    expect(users.body.items).toEqual([]);
    expect(stack.events.recent.some((e) => JSON.stringify(e).includes(newcomer))).toBe(false);
  });

  it('refuses SHA-1 unless the connection allows it', async () => {
    await refused(signResponse(response(f), f.key, 'assertion', 'sha1'), 'weak_algorithm');
    const lax = await samlFixture(stack, 'saml-sha1-co', { allowSha1: true }, keys);
    const out = await postAcs(
      lax,
      signResponse(response(lax, { nameId: unique('sha1') }), lax.key, 'assertion', 'sha1'),
    );
    expect(out.status).toBe(200);
  });

  it('refuses billion laughs, XXE, garbage and oversized bodies', async () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><samlp:Response xmlns:samlp="${SAMLP}">&lol2;</samlp:Response>`;
    await refused(laughs, 'malformed_response');
    const xxe = `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response xmlns:samlp="${SAMLP}">&x;</samlp:Response>`;
    await refused(xxe, 'malformed_response');
    await refused('not base64 at all!', 'malformed_response', true);
    await refused('garbage <<<', 'malformed_response');
    await refused('', 'malformed_response', true);
    const big = await postAcs(f, `${response(f)}${' '.repeat(300 * 1024)}`);
    expect(big.status).toBe(413);
  });

  it('never answers 5xx nor signs anyone else in when a valid response is mutated', async () => {
    const email = unique('prop');
    const original = signed(f, { nameId: email }, 'both');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: original.length - 1 }),
        fc.integer({ min: 0, max: 8 }),
        fc.string({ maxLength: 3 }),
        async (at, cut, insert) => {
          const mutated = original.slice(0, at) + insert + original.slice(at + cut);
          const out = await postAcs(f, mutated);
          expect(out.status).toBeLessThan(500);
          if (out.status === 200) expect(out.email).toBe(email);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('re-authentication asked for (prompt=login)', () => {
  /** An SP-initiated login with this query; the AuthnRequest's XML and ID. */
  const start = async (query = '') => {
    const res = await fetch(`${stack.url}/saml/${f.connectionId}/login${query}`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location') ?? '';
    return { xml: authnRequestXml(location), id: authnRequestId(location) };
  };
  const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  /** A signed answer to `id` whose AuthnStatement says `authnInstant` (null: no AuthnStatement). */
  const answer = (id: string, authnInstant: number | null, nameId = unique('reauth')) => {
    const xml = response(f, { nameId, inResponseTo: id });
    const shaped =
      authnInstant === null
        ? xml.replace(/<saml:AuthnStatement[\s\S]*?<\/saml:AuthnStatement>/, '')
        : xml.replace(/AuthnInstant="[^"]+"/, `AuthnInstant="${iso(authnInstant)}"`);
    expect(shaped).toContain(
      authnInstant === null ? '</saml:Subject>' : `AuthnInstant="${iso(authnInstant)}"`,
    );
    if (authnInstant === null) expect(shaped).not.toContain('AuthnStatement');
    return signResponse(shaped, f.key, 'assertion');
  };

  it('puts ForceAuthn="true" in the AuthnRequest for prompt=login only', async () => {
    expect((await start('?prompt=login')).xml).toMatch(/ ForceAuthn="true"/);
    expect(
      (await start(`?prompt=login&redirect=${encodeURIComponent('https://app.saml.test/deep/x')}`)).xml,
    ).toMatch(/ ForceAuthn="true"/);
    for (const query of ['', '?prompt=consent', '?prompt=LOGIN', '?prompt=login%20consent', '?prompt=']) {
      expect((await start(query)).xml, query).not.toMatch(/ForceAuthn/);
    }
  });

  it('accepts an AuthnInstant since the request, and refuses a stale or missing one (401 reauthentication_failed)', async () => {
    const fresh = await start('?prompt=login');
    const ok = await postAcs(f, answer(fresh.id, Date.now()));
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);

    const stale = await start('?prompt=login');
    const old = await postAcs(f, answer(stale.id, Date.now() - 10 * 60_000));
    expect(old).toMatchObject({ status: 401, code: 'reauthentication_failed' });
    expect(old.body.session).toBeUndefined();
    // The request is spent: a fresh answer to it is no longer taken.
    expect(await postAcs(f, answer(stale.id, Date.now()))).toMatchObject({
      status: 400,
      code: 'unknown_request',
    });

    const missing = await start('?prompt=login');
    expect(await postAcs(f, answer(missing.id, null))).toMatchObject({
      status: 401,
      code: 'reauthentication_failed',
    });
  });

  it('judges AuthnInstant on the connection clock skew, and not at all without prompt=login', async () => {
    // 60 s by default: an IdP clock 20 s behind ours still re-authenticates.
    const skewed = await start('?prompt=login');
    expect((await postAcs(f, answer(skewed.id, Date.now() - 20_000))).status).toBe(200);
    const plain = await start();
    expect((await postAcs(f, answer(plain.id, Date.now() - 10 * 60_000))).status).toBe(200);
    const none = await start('?prompt=consent');
    expect((await postAcs(f, answer(none.id, null))).status).toBe(200);
  });
});

describe('single sign-on turned off for the tenant', () => {
  it('refuses IdP- and SP-initiated logins with sso_disabled, provisions nobody, hides the button', async () => {
    const off = await samlFixture(stack, 'saml-off-co', {}, keys);
    const set = (ssoEnabled: boolean) =>
      stack.call('PATCH', `/admin/tenants/${off.tenantId}`, { body: { settings: { ssoEnabled } } });
    expect((await set(false)).status).toBe(200);
    const email = unique('off');
    const out = await postAcs(off, signed(off, { nameId: email }));
    expect(out.status).toBe(403);
    expect(out.code).toBe('sso_disabled');
    expect(out.body.session).toBeUndefined();
    const users = await stack.call<{ items: unknown[] }>(
      'GET',
      `/admin/tenants/${off.tenantId}/users?email=${encodeURIComponent(email)}`,
    );
    expect(users.body.items).toEqual([]);
    const sp = await stack.call('GET', `/saml/${off.connectionId}/login`, { token: null });
    expect(sp.status).toBe(403);
    const page = await stack.call('GET', `/t/${off.tenantId}/login`, {
      token: null,
      headers: { accept: 'text/html' },
    });
    expect(page.status).toBe(200);
    expect(page.text).not.toContain(`/saml/${off.connectionId}/login`);

    expect((await set(true)).status).toBe(200);
    const again = await postAcs(off, signed(off, { nameId: email }));
    expect(again.status).toBe(200);
    expect(again.email).toBe(email);
  });
});

describe('connection metadata', () => {
  it('reports compatibility and keeps the parsed IdP', async () => {
    const view = await stack.call<{
      compatibility: { compatible: boolean };
      idp: { entityId: string; certificates: unknown[] };
    }>('GET', `/admin/tenants/saml-co/connections/${f.connectionId}`);
    expect(view.body.compatibility.compatible).toBe(true);
    expect(view.body.idp).toMatchObject({ entityId: IDP_ENTITY });
    expect(view.body.idp.certificates).toHaveLength(2);
  });
});

describe('encrypted assertions', () => {
  const sp = makeIdpKey({ cn: 'SP' });
  let enc: SamlFixture;
  beforeAll(async () => {
    enc = await samlFixture(
      stack,
      'saml-enc-co',
      { spPrivateKeyPem: sp.keyPem, spCertificatePem: sp.certPem },
      keys,
    );
  });

  it('decrypts an RSA-OAEP / AES-GCM assertion with the SP key, signed inside or on the Response', async () => {
    const email = unique('enc');
    const inside = await encryptAssertion(
      signResponse(response(enc, { nameId: email }), enc.key, 'assertion'),
      sp.certPem,
    );
    expect(inside).toContain('EncryptedAssertion');
    const out = await postAcs(enc, inside);
    expect(out.status, JSON.stringify(out.body)).toBe(200);
    expect(out.email).toBe(email);
  });

  it('accepts an encrypted assertion inside a signed Response', async () => {
    const xml = await encryptAssertion(response(enc, { nameId: unique('enc2') }), sp.certPem);
    const out = await postAcs(enc, signElement(xml, idOf(xml, 'Response'), enc.key));
    expect(out.status, JSON.stringify(out.body)).toBe(200);
  });

  it('refuses CBC content encryption, an unsigned encrypted assertion and another SP’s key', async () => {
    const signedXml = signResponse(response(enc, { nameId: unique('enc3') }), enc.key, 'assertion');
    const cbc = await encryptAssertion(signedXml, sp.certPem, 'http://www.w3.org/2001/04/xmlenc#aes256-cbc');
    expect(await postAcs(enc, cbc)).toMatchObject({ status: 400, code: 'weak_algorithm' });
    const unsigned = await encryptAssertion(response(enc, { nameId: unique('enc4') }), sp.certPem);
    expect(await postAcs(enc, unsigned)).toMatchObject({ status: 400, code: 'invalid_signature' });
    const other = makeIdpKey({ cn: 'Other SP' });
    const wrongKey = await encryptAssertion(signedXml, other.certPem);
    expect(await postAcs(enc, wrongKey)).toMatchObject({ status: 400, code: 'decryption_failed' });
    // a connection with its own (generated) SP key cannot read what was encrypted to another SP's
    expect(await postAcs(f, await encryptAssertion(signed(f), sp.certPem))).toMatchObject({
      status: 400,
      code: 'decryption_failed',
    });
  });

  it('refuses XML Encryption elements of another namespace (xml-encryption reads them by local name)', async () => {
    const gcm = await encryptAssertion(
      signResponse(response(enc, { nameId: unique('enc5') }), enc.key, 'assertion'),
      sp.certPem,
    );
    // A CBC method placed first in EncryptedData, outside the xenc namespace: we would check the
    // GCM one, xml-encryption would use this one (a padding oracle on the GCM key).
    const smuggled = gcm.replace(
      /(<(?:\w+:)?EncryptedData[^>]*>)/,
      '$1<foo:EncryptionMethod xmlns:foo="urn:evil" Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>',
    );
    expect(smuggled).not.toBe(gcm);
    expect(await postAcs(enc, smuggled)).toMatchObject({ status: 400, code: 'malformed_response' });
  });

  it('publishes the SP certificate in the SP metadata', async () => {
    const xml = await (await fetch(`${stack.url}/saml/${enc.connectionId}/metadata.xml`)).text();
    expect(xml).toContain(sp.certDer.slice(0, 60));
    expect(xml).toContain('use="encryption"');
    expect(xml).toContain('AuthnRequestsSigned="true"');
  });

  it('signs SP-initiated AuthnRequests with the SP key (redirect binding signature)', async () => {
    const start = await fetch(`${stack.url}/saml/${enc.connectionId}/login`, { redirect: 'manual' });
    const location = new URL(start.headers.get('location') ?? '');
    expect(location.searchParams.get('SigAlg')).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    const signedPart = location.search.slice(1).split('&Signature=')[0] ?? '';
    const { createVerify } = await import('node:crypto');
    const ok = createVerify('RSA-SHA256')
      .update(signedPart)
      .verify(sp.certPem, Buffer.from(location.searchParams.get('Signature') ?? '', 'base64'));
    expect(ok).toBe(true);
  });
});
