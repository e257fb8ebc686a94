import { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import { XMLSerializer } from '@xmldom/xmldom';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SignedXml } from 'xml-crypto';
import { buildResponse, idOf, idpMetadata, makeIdpKey } from '../../local/demo/saml-idp.ts';
import { type IdpMetadata, parseIdpMetadata } from '../../shared/saml/metadata.ts';
import { validateResponse } from '../../shared/saml/response.ts';
import { signingKeys, verifyEnvelopedSignature } from '../../shared/saml/signature.ts';
import { parseUntrustedXml } from '../../shared/saml/xml.ts';

/**
 * The signature verifier works on the DOM the response was parsed into (no re-parse, no XPath).
 * These tests hold it to xml-crypto's own signing in every shape SAML IdPs use, to the attacks
 * on XML signatures, and, by property, to never accept what xml-crypto (through node-saml's
 * `getVerifiedXml`, the reference it replaced) refuses.
 */

const IDP = 'https://idp.sig.test/metadata';
const SP = 'https://sp.sig.test/saml';
const ACS = 'https://sp.sig.test/acs';
const key = makeIdpKey();
const other = makeIdpKey();
const idp: IdpMetadata = parseIdpMetadata(idpMetadata(IDP, [key.certDer], 'https://idp.sig.test/sso'));

const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const EXC = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';

const unsigned = (over: Record<string, unknown> = {}) =>
  buildResponse({
    issuer: IDP,
    destination: ACS,
    recipient: ACS,
    audiences: [SP],
    nameId: 'pat@sig.test',
    attributes: { firstName: 'Pat', groups: ['g-eng', 'g-ops'] },
    ...over,
  });

interface SignOptions {
  transforms?: string[];
  canonicalization?: string;
  signatureAlgorithm?: string;
  digestAlgorithm?: string;
  prefixList?: string[];
  prefix?: string;
  signer?: typeof key;
}

/** Signs the element with this ID with xml-crypto, in the shape asked. */
function sign(xml: string, id: string, o: SignOptions = {}): string {
  const signer = o.signer ?? key;
  const sig = new SignedXml({
    privateKey: signer.keyPem,
    publicCert: signer.certPem,
    signatureAlgorithm: o.signatureAlgorithm ?? RSA_SHA256,
    canonicalizationAlgorithm: o.canonicalization ?? EXC,
  });
  sig.addReference({
    xpath: `//*[@ID='${id}']`,
    transforms: o.transforms ?? [ENVELOPED, EXC],
    digestAlgorithm: o.digestAlgorithm ?? SHA256,
    ...(o.prefixList ? { inclusiveNamespacesPrefixList: o.prefixList } : {}),
  });
  sig.computeSignature(xml, {
    ...(o.prefix === undefined ? { prefix: 'ds' } : o.prefix ? { prefix: o.prefix } : {}),
    location: { reference: `//*[@ID='${id}']/*[local-name(.)='Issuer']`, action: 'after' },
  });
  return sig.getSignedXml();
}

const signAssertion = (xml: string, o?: SignOptions) => sign(xml, idOf(xml, 'Assertion'), o);
const signBoth = (xml: string, o?: SignOptions) => {
  const inner = signAssertion(xml, o);
  return sign(inner, idOf(inner, 'Response'), o);
};

const checks = (over: Record<string, unknown> = {}) => ({
  idp,
  spEntityId: SP,
  acsUrl: ACS,
  allowSha1: false,
  wantAssertionsSigned: false,
  wantResponseSigned: false,
  clockSkewSeconds: 60,
  now: new Date(),
  ...over,
});

/** Parsed as the ACS parses (strictly: a mutation that is not well-formed XML never gets this far). */
const parse = (xml: string) => parseUntrustedXml(xml);
/** Our verifier on the first signature of the element with this local name. */
function verifyOn(xml: string, element: 'Response' | 'Assertion', keys = signingKeys(idp)): boolean {
  const doc = parse(xml);
  const parent = doc.getElementsByTagNameNS('*', element)[0] as Element;
  const signature = Array.from(parent.childNodes).find(
    (n) => n.nodeType === 1 && (n as Element).localName === 'Signature',
  ) as Element;
  return verifyEnvelopedSignature(signature, parent, keys);
}
/** xml-crypto's verdict through node-saml, on the same element. */
function referenceVerdict(xml: string, element: 'Response' | 'Assertion'): boolean {
  try {
    const doc = parse(xml);
    const parent = doc.getElementsByTagNameNS('*', element)[0] as Element;
    return Boolean(getVerifiedXml(xml, parent as never, [key.certPem]));
  } catch {
    return false;
  }
}
const ours = (xml: string, element: 'Response' | 'Assertion') => {
  try {
    return verifyOn(xml, element);
  } catch {
    return false;
  }
};

describe('accepts what IdPs sign', () => {
  it.each<[string, SignOptions]>([
    ['exclusive c14n (Okta, Entra ID, PingOne, OneLogin)', {}],
    ['exclusive c14n with an InclusiveNamespaces prefix list', { prefixList: ['xs', 'xsi'] }],
    [
      'inclusive c14n of the reference and of SignedInfo',
      { transforms: [ENVELOPED, C14N], canonicalization: C14N },
    ],
    ['the enveloped transform alone (inclusive c14n implied)', { transforms: [ENVELOPED] }],
    ['c14n with comments on a same-document reference', { transforms: [ENVELOPED, `${EXC}WithComments`] }],
    [
      'RSA-SHA512 with a SHA-512 digest',
      {
        signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
        digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha512',
      },
    ],
    ['a Signature in the default namespace (no ds: prefix)', { prefix: '' }],
  ])('%s', async (_, options) => {
    const xml = signAssertion(unsigned(), options);
    expect(referenceVerdict(xml, 'Assertion')).toBe(true);
    expect(verifyOn(xml, 'Assertion')).toBe(true);
    const both = signBoth(unsigned(), options);
    expect(verifyOn(both, 'Response')).toBe(true);
    const out = await validateResponse(
      both,
      checks({ wantAssertionsSigned: true, wantResponseSigned: true }),
    );
    expect(out.nameId).toBe('pat@sig.test');
  });

  it('accepts a response whose line ends became CRLF on the way (XML line-end normalization)', async () => {
    const xml = signAssertion(unsigned().replace(/></g, '>\n<'));
    expect(xml).toContain('\n');
    const out = await validateResponse(xml.replace(/\n/g, '\r\n'), checks());
    expect(out.attributes.groups).toEqual(['g-eng', 'g-ops']);
  });

  it('verifies with any metadata certificate (rotation) and no other', () => {
    const xml = signAssertion(unsigned(), { signer: other });
    expect(verifyOn(xml, 'Assertion')).toBe(false);
    const rotated = parseIdpMetadata(
      idpMetadata(IDP, [key.certDer, other.certDer], 'https://idp.sig.test/sso'),
    );
    expect(verifyOn(xml, 'Assertion', signingKeys(rotated))).toBe(true);
  });
});

describe('refuses forged and reshaped signatures', () => {
  const good = () => signAssertion(unsigned());
  const refusedBy = (xml: string) => {
    expect(referenceVerdict(xml, 'Assertion')).toBe(false);
    expect(ours(xml, 'Assertion')).toBe(false);
  };

  it('content changed after signing: an attribute value, the NameID, an added element', () => {
    refusedBy(good().replace('g-ops', 'g-admins'));
    refusedBy(good().replace('pat@sig.test', 'admin@sig.test'));
    refusedBy(
      good().replace(
        '</saml:AttributeStatement>',
        '<saml:Attribute Name="role"><saml:AttributeValue>admin</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>',
      ),
    );
  });

  it('a SignatureValue or DigestValue changed, or not base64', () => {
    const xml = good();
    const value = /<ds:SignatureValue>([^<]+)</.exec(xml)?.[1] ?? '';
    const flipped = value[5] === 'A' ? 'B' : 'A';
    refusedBy(xml.replace(value, value.slice(0, 5) + flipped + value.slice(6)));
    refusedBy(xml.replace(/<ds:DigestValue>[^<]+/, '<ds:DigestValue>AAAA'));
    refusedBy(xml.replace(/<ds:SignatureValue>[^<]+/, '<ds:SignatureValue>not*base64'));
  });

  it('a reference to another element, to the whole document, or two references', () => {
    const xml = good();
    const responseId = idOf(xml, 'Response');
    refusedBy(xml.replace(/URI="#[^"]+"/, `URI="#${responseId}"`));
    refusedBy(xml.replace(/URI="#[^"]+"/, 'URI=""'));
    const reference = /<ds:Reference[\s\S]*?<\/ds:Reference>/.exec(xml)?.[0] ?? '';
    expect(ours(xml.replace(reference, reference + reference), 'Assertion')).toBe(false);
  });

  it('transforms beyond enveloped + one canonicalization (XPath, XSLT, a missing enveloped)', () => {
    const xml = good();
    const xpath = `<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"><ds:XPath>not(ancestor-or-self::saml:Attribute)</ds:XPath></ds:Transform>`;
    expect(() => verifyOn(xml.replace('<ds:Transforms>', `<ds:Transforms>${xpath}`), 'Assertion')).toThrow(
      /enveloped/,
    );
    expect(() =>
      verifyOn(
        xml.replace(
          /<ds:Transform Algorithm="http:\/\/www.w3.org\/2001\/10\/xml-exc-c14n#"\/>/,
          `<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>`,
        ),
        'Assertion',
      ),
    ).toThrow(/unsupported transform/);
    expect(() =>
      verifyOn(
        xml.replace(
          /<ds:Transform Algorithm="http:\/\/www.w3.org\/2000\/09\/xmldsig#enveloped-signature"\/>/,
          '',
        ),
        'Assertion',
      ),
    ).toThrow(/enveloped/);
  });

  it('SignedInfo edited after signing (the digest method, or a reference URI)', () => {
    const xml = good();
    refusedBy(xml.replace('<ds:SignedInfo>', '<ds:SignedInfo Id="x">'));
    refusedBy(xml.replace(/(<ds:CanonicalizationMethod Algorithm=")[^"]+/, `$1${C14N}`));
  });

  it('an element or comment hidden in SignatureValue, an unknown signature method', () => {
    const xml = good();
    expect(ours(xml.replace('<ds:SignatureValue>', '<ds:SignatureValue><!--x-->'), 'Assertion')).toBe(false);
    expect(ours(xml.replace(/<ds:SignatureValue>/, '<ds:SignatureValue><x/>'), 'Assertion')).toBe(false);
    expect(() =>
      verifyOn(xml.replace(RSA_SHA256, 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256'), 'Assertion'),
    ).toThrow(/known method/);
  });

  it('a signature that does not start with SignedInfo then SignatureValue', () => {
    const xml = good().replace(
      /(<ds:SignedInfo>[\s\S]*<\/ds:SignedInfo>)(<ds:SignatureValue>[^<]*<\/ds:SignatureValue>)/,
      '$2$1',
    );
    expect(() => verifyOn(xml, 'Assertion')).toThrow(/SignedInfo and SignatureValue/);
  });

  it('a namespace rebound on an ancestor cannot keep the signed content and change its meaning', async () => {
    // Signed with the assertion's prefix bound on the Response; moving the binding changes what
    // the Assertion is, so either the digest or our structure checks refuse it.
    const xml = good().replace('xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"', 'xmlns:saml="urn:evil"');
    await expect(validateResponse(xml, checks())).rejects.toMatchObject({ status: 400 });
  });
});

describe('never accepts what xml-crypto refuses', () => {
  it('holds for random edits of signed responses (both signatures)', () => {
    const original = signBoth(unsigned({ nameId: 'prop@sig.test' }));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: original.length - 1 }),
        fc.integer({ min: 0, max: 6 }),
        fc.constantFrom('', 'a', '<', '>', '"', ' ', '\n', '&amp;', '<!---->', '<x/>', 'ID="_x"', '#', '='),
        (at, cut, insert) => {
          const mutated = original.slice(0, at) + insert + original.slice(at + cut);
          for (const element of ['Assertion', 'Response'] as const) {
            if (ours(mutated, element)) expect(referenceVerdict(mutated, element)).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the parsed document', () => {
  it('is left exactly as it was, so a second signature over it still verifies', () => {
    for (const options of [{}, { prefixList: ['xs'] }, { transforms: [ENVELOPED, C14N] }] as SignOptions[]) {
      const xml = signBoth(unsigned(), options);
      const doc = parse(xml);
      const before = new XMLSerializer().serializeToString(doc as never);
      const response = doc.documentElement;
      const assertion = doc.getElementsByTagNameNS('*', 'Assertion')[0] as Element;
      const signatureOf = (parent: Element) =>
        Array.from(parent.childNodes).find(
          (n) => n.nodeType === 1 && (n as Element).localName === 'Signature',
        ) as Element;
      // The assertion first: if its check left a trace, the response's digest would change.
      expect(verifyEnvelopedSignature(signatureOf(assertion), assertion, signingKeys(idp))).toBe(true);
      expect(verifyEnvelopedSignature(signatureOf(response), response, signingKeys(idp))).toBe(true);
      expect(new XMLSerializer().serializeToString(doc as never)).toBe(before);
    }
  });
});

describe('keys', () => {
  it('are made once per metadata object and are the certificates’ public keys', () => {
    const keys = signingKeys(idp);
    expect(signingKeys(idp)).toBe(keys);
    expect(keys.map((k) => k.asymmetricKeyType)).toEqual(['rsa']);
    const copy = { ...idp };
    expect(signingKeys(copy)).not.toBe(keys);
  });

  it('an unreadable certificate is an invalid_signature, not a crash', () => {
    const broken = { ...idp, certificates: [{ ...idp.certificates[0], der: 'AAAA' }] } as IdpMetadata;
    expect(() => signingKeys(broken)).toThrow(expect.objectContaining({ code: 'invalid_signature' }));
  });
});
