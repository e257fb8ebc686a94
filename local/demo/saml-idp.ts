import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignedXml } from 'xml-crypto';

/**
 * A small SAML identity provider for the demo and the tests: a key pair with a self-signed
 * certificate, IdP metadata, and signed Responses shaped like Okta's and Entra ID's. It lives in
 * local/ and is never part of a Lambda bundle.
 */
export interface IdpKey {
  keyPem: string;
  certPem: string;
  /** The certificate's base64 DER, as metadata and KeyInfo carry it. */
  certDer: string;
}

/** A fresh RSA key and self-signed certificate (openssl, SHA-256). */
export function makeIdpKey(
  options: { bits?: number; days?: number; digest?: 'sha256' | 'sha1'; cn?: string } = {},
): IdpKey {
  const dir = mkdtempSync(join(tmpdir(), 'saml-idp-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        `rsa:${options.bits ?? 2048}`,
        `-${options.digest ?? 'sha256'}`,
        '-days',
        String(options.days ?? 365),
        '-nodes',
        '-subj',
        `/CN=${options.cn ?? 'Demo IdP'}`,
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'pipe' },
    );
    const keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
    const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    return { keyPem, certPem, certDer: certPem.replace(/-----[^-]+-----|\s+/g, '') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function idpMetadata(
  entityId: string,
  certsDer: string[],
  ssoUrl: string,
  options: { wantAuthnRequestsSigned?: boolean } = {},
) {
  const keys = certsDer
    .map(
      (der) =>
        `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    )
    .join('');
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${esc(entityId)}">
<md:IDPSSODescriptor WantAuthnRequestsSigned="${options.wantAuthnRequestsSigned ? 'true' : 'false'}" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}
<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(ssoUrl)}"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(ssoUrl)}"/>
</md:IDPSSODescriptor></md:EntityDescriptor>`;
}

export interface ResponseOptions {
  issuer: string;
  destination?: string | null;
  recipient?: string | null;
  audiences?: string[] | null;
  nameId: string;
  nameIdFormat?: string;
  attributes?: Record<string, string | string[]>;
  inResponseTo?: string;
  now?: Date;
  /** Seconds the assertion stays valid. */
  lifetime?: number;
  notBefore?: Date;
  responseId?: string;
  assertionId?: string;
  status?: string;
  assertionIssuer?: string | null;
  responseIssuer?: string | null;
}

/** An unsigned Response with one Assertion, the way IdPs build them. */
export function buildResponse(o: ResponseOptions): string {
  const now = o.now ?? new Date();
  const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const notBefore = o.notBefore ?? new Date(now.getTime() - 60_000);
  const notOnOrAfter = new Date(now.getTime() + (o.lifetime ?? 300) * 1000);
  const responseId = o.responseId ?? `_r${randomUUID().replace(/-/g, '')}`;
  const assertionId = o.assertionId ?? `_a${randomUUID().replace(/-/g, '')}`;
  const irt = o.inResponseTo ? ` InResponseTo="${esc(o.inResponseTo)}"` : '';
  const dest = o.destination === null ? '' : ` Destination="${esc(o.destination ?? '')}"`;
  const recipient = o.recipient === null ? '' : ` Recipient="${esc(o.recipient ?? '')}"`;
  const audiences =
    o.audiences === null
      ? ''
      : `<saml:AudienceRestriction>${(o.audiences ?? []).map((a) => `<saml:Audience>${esc(a)}</saml:Audience>`).join('')}</saml:AudienceRestriction>`;
  const attrs = Object.entries(o.attributes ?? {})
    .map(([name, value]) => {
      const values = (Array.isArray(value) ? value : [value])
        .map((v) => `<saml:AttributeValue xsi:type="xs:string">${esc(v)}</saml:AttributeValue>`)
        .join('');
      return `<saml:Attribute Name="${esc(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${values}</saml:Attribute>`;
    })
    .join('');
  const responseIssuer =
    o.responseIssuer === null ? '' : `<saml:Issuer>${esc(o.responseIssuer ?? o.issuer)}</saml:Issuer>`;
  const assertionIssuer =
    o.assertionIssuer === null ? '' : `<saml:Issuer>${esc(o.assertionIssuer ?? o.issuer)}</saml:Issuer>`;
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${responseId}" Version="2.0" IssueInstant="${iso(now)}"${dest}${irt}>${responseIssuer}<samlp:Status><samlp:StatusCode Value="${o.status ?? 'urn:oasis:names:tc:SAML:2.0:status:Success'}"/></samlp:Status><saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${assertionId}" Version="2.0" IssueInstant="${iso(now)}">${assertionIssuer}<saml:Subject><saml:NameID Format="${o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'}">${esc(o.nameId)}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${irt} NotOnOrAfter="${iso(notOnOrAfter)}"${recipient}/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="${iso(notBefore)}" NotOnOrAfter="${iso(notOnOrAfter)}">${audiences}</saml:Conditions><saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${assertionId}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement>${attrs}</saml:AttributeStatement></saml:Assertion></samlp:Response>`;
}

const ALGS = {
  sha256: {
    sig: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    digest: 'http://www.w3.org/2001/04/xmlenc#sha256',
  },
  sha1: {
    sig: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
    digest: 'http://www.w3.org/2000/09/xmldsig#sha1',
  },
};

/** Signs the element with this ID (enveloped, exclusive c14n), the signature after its Issuer. */
export function signElement(xml: string, id: string, key: IdpKey, alg: 'sha256' | 'sha1' = 'sha256'): string {
  const sig = new SignedXml({
    privateKey: key.keyPem,
    publicCert: key.certPem,
    signatureAlgorithm: ALGS[alg].sig,
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: `//*[@ID='${id}']`,
    transforms: [
      'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
      'http://www.w3.org/2001/10/xml-exc-c14n#',
    ],
    digestAlgorithm: ALGS[alg].digest,
  });
  const hasIssuer = new RegExp(`ID="${id}"[^>]*>\\s*<(\\w+:)?Issuer`).test(xml);
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: hasIssuer
      ? { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' }
      : { reference: `//*[@ID='${id}']`, action: 'prepend' },
  });
  return sig.getSignedXml();
}

export const idOf = (xml: string, element: 'Response' | 'Assertion') =>
  new RegExp(`<(?:\\w+:)?${element} [^>]*?ID="([^"]+)"`).exec(xml)?.[1] ?? '';

/** Signs the assertion, the response, or both (assertion first, as IdPs do). */
export function signResponse(
  xml: string,
  key: IdpKey,
  what: 'assertion' | 'response' | 'both',
  alg: 'sha256' | 'sha1' = 'sha256',
) {
  let out = xml;
  if (what !== 'response') out = signElement(out, idOf(out, 'Assertion'), key, alg);
  if (what !== 'assertion') out = signElement(out, idOf(out, 'Response'), key, alg);
  return out;
}

/** The auto-posting HTML form an IdP sends the browser to the ACS. */
export function autoPostForm(acsUrl: string, samlResponseXml: string, relayState?: string): string {
  const value = Buffer.from(samlResponseXml).toString('base64');
  return `<!doctype html><html><body onload="document.forms[0].submit()"><form method="post" action="${esc(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${value}">${relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : ''}
<noscript><button type="submit">Continue</button></noscript></form></body></html>`;
}

interface XmlEncryption {
  encrypt(
    content: string,
    options: Record<string, unknown>,
    callback: (error: Error | null, result: string) => void,
  ): void;
}
const xmlenc = createRequire(import.meta.url)('xml-encryption') as XmlEncryption;

/**
 * Replaces the (signed) Assertion with an EncryptedAssertion for the SP's certificate, as IdPs do
 * when the SP metadata carries an encryption key.
 */
export async function encryptAssertion(
  xml: string,
  spCertPem: string,
  content = 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  keyTransport = 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
): Promise<string> {
  const assertion = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(xml)?.[0] ?? '';
  // Standalone, the assertion must declare the namespace its prefix used from the Response.
  const standalone = assertion.replace(
    '<saml:Assertion ',
    '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ',
  );
  const encrypted = await new Promise<string>((done, fail) =>
    xmlenc.encrypt(
      standalone,
      {
        rsa_pub: spCertPem,
        pem: spCertPem,
        encryptionAlgorithm: content,
        keyEncryptionAlgorithm: keyTransport,
      },
      (error, result) => (error ? fail(error) : done(result)),
    ),
  );
  return xml.replace(assertion, `<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>`);
}
