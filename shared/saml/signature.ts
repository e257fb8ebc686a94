import { createHash, type KeyObject, timingSafeEqual, verify, X509Certificate } from 'node:crypto';
import {
  C14nCanonicalization,
  C14nCanonicalizationWithComments,
} from 'xml-crypto/lib/c14n-canonicalization.js';
import {
  ExclusiveCanonicalization,
  ExclusiveCanonicalizationWithComments,
} from 'xml-crypto/lib/exclusive-canonicalization.js';
import { AppError } from '../errors.ts';
import type { IdpMetadata } from './metadata.ts';
import { childElements, firstChild, NS } from './xml.ts';

/**
 * XML Signature core validation of an enveloped signature, on the DOM the response was parsed
 * into once: the reference is resolved to the signature's own parent (never looked up by XPath
 * in a re-parsed copy), that very element is canonicalized and digested, so what the caller
 * reads afterwards is exactly what was signed. Canonicalization is xml-crypto's; the cryptography
 * is Node's. Only the shapes SAML uses are accepted: one Reference to the parent's ID, the
 * enveloped-signature transform, then at most one canonicalization.
 */

const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const EXC_C14N_COMMENTS = 'http://www.w3.org/2001/10/xml-exc-c14n#WithComments';
const C14N = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315';
const C14N_COMMENTS = 'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments';

type Canonicalizer = {
  process(node: Node, options: Record<string, unknown>): string;
};
const CANONICALIZERS: Record<string, () => Canonicalizer> = {
  [EXC_C14N]: () => new ExclusiveCanonicalization() as Canonicalizer,
  [EXC_C14N_COMMENTS]: () => new ExclusiveCanonicalizationWithComments() as Canonicalizer,
  [C14N]: () => new C14nCanonicalization() as Canonicalizer,
  [C14N_COMMENTS]: () => new C14nCanonicalizationWithComments() as Canonicalizer,
};
/** A same-document reference (`#id`) dereferences without comments (XMLDSig 4.4.3.3). */
const WITHOUT_COMMENTS: Record<string, string> = {
  [EXC_C14N]: EXC_C14N,
  [EXC_C14N_COMMENTS]: EXC_C14N,
  [C14N]: C14N,
  [C14N_COMMENTS]: C14N,
};
const EXCLUSIVE = new Set([EXC_C14N, EXC_C14N_COMMENTS]);

const DIGESTS: Record<string, string> = {
  'http://www.w3.org/2001/04/xmlenc#sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384': 'sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512': 'sha512',
  'http://www.w3.org/2000/09/xmldsig#sha1': 'sha1',
};
/** RSA PKCS#1 v1.5, as every IdP we target signs (SHA-1 only reaches here when the connection allows it). */
const SIGNATURES: Record<string, string> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': 'sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1': 'sha1',
};
/** xml-crypto's default for an element prefixed `ds:` without a declaration in the subset. */
const DEFAULT_NS_FOR_PREFIX = { ds: NS.dsig };

const invalid = (message: string) => new AppError(400, 'invalid_signature', message);

/** The metadata certificates' public keys, made once per metadata object (it lives in the connection cache). */
const keysByMetadata = new WeakMap<IdpMetadata, KeyObject[]>();
export function signingKeys(idp: IdpMetadata): KeyObject[] {
  let keys = keysByMetadata.get(idp);
  if (!keys) {
    try {
      keys = idp.certificates.map((c) => new X509Certificate(Buffer.from(c.der, 'base64')).publicKey);
    } catch {
      throw invalid('An IdP signing certificate of this connection cannot be read.');
    }
    keysByMetadata.set(idp, keys);
  }
  return keys;
}

function text(element: Element | undefined): string {
  let out = '';
  for (let c = element?.firstChild; c; c = c.nextSibling) {
    if (c.nodeType !== 3) throw invalid('A signature value holds something other than text.');
    out += c.nodeValue ?? '';
  }
  return out;
}

function base64(value: string): Buffer {
  const compact = value.replace(/[\t\n\r ]+/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(compact))
    throw invalid('A signature value is not base64.');
  return Buffer.from(compact, 'base64');
}

/**
 * The namespace declarations in scope on the element from its ancestors (nearest first, one per
 * prefix), less those the element declares itself or uses as its own prefix: what inclusive C14N
 * and an InclusiveNamespaces list import into a detached subset (as xml-crypto's
 * `findAncestorNs`).
 */
function ancestorNamespaces(element: Element): { prefix: string; namespaceURI: string }[] {
  const own = new Set<string>([element.prefix ?? '']);
  for (let i = 0; i < element.attributes.length; i++) {
    const name = element.attributes[i]?.nodeName ?? '';
    if (name === 'xmlns' || name.startsWith('xmlns:')) own.add(name.replace(/^xmlns:?/, ''));
  }
  const seen = new Set<string>();
  const out: { prefix: string; namespaceURI: string }[] = [];
  for (let p = element.parentNode; p && p.nodeType === 1; p = p.parentNode) {
    const attributes = (p as Element).attributes;
    for (let i = 0; i < attributes.length; i++) {
      const a = attributes[i];
      if (!a || !/^xmlns(?::|$)/.test(a.nodeName)) continue;
      const prefix = a.nodeName.replace(/^xmlns:?/, '');
      if (seen.has(prefix)) continue;
      seen.add(prefix);
      if (a.nodeValue && !own.has(prefix)) out.push({ prefix, namespaceURI: a.nodeValue });
    }
  }
  return out;
}

function prefixList(method: Element): string[] | undefined {
  const inclusive = childElements(method).filter((e) => e.localName === 'InclusiveNamespaces');
  if (inclusive.length === 0) return undefined;
  return (inclusive[0]?.getAttribute('PrefixList') ?? '')
    .split(/[\t\n\r ]+/)
    .filter(Boolean)
    .map((p) => (p === '#default' ? '' : p));
}

function canonicalize(algorithm: string, node: Element, original: Element, prefixes?: string[]): string {
  const make = CANONICALIZERS[algorithm];
  if (!make) throw invalid('A signature uses an unknown canonicalization.');
  return make().process(node, {
    defaultNsForPrefix: DEFAULT_NS_FOR_PREFIX,
    ancestorNamespaces: EXCLUSIVE.has(algorithm) && !prefixes?.length ? [] : ancestorNamespaces(original),
    ...(EXCLUSIVE.has(algorithm) ? { inclusiveNamespacesPrefixList: prefixes ?? [] } : {}),
  });
}

/**
 * Verifies `signature`, a child of `parent`, with one of `keys`. Returns false when no key
 * verifies it; throws `invalid_signature` for a signature of a shape we do not accept or whose
 * digest does not match. Algorithm strength is the caller's check (done before this).
 */
export function verifyEnvelopedSignature(signature: Element, parent: Element, keys: KeyObject[]): boolean {
  const parts = childElements(signature);
  const signedInfo = parts[0];
  const signatureValue = parts[1];
  if (
    signedInfo?.namespaceURI !== NS.dsig ||
    signedInfo.localName !== 'SignedInfo' ||
    signatureValue?.namespaceURI !== NS.dsig ||
    signatureValue.localName !== 'SignatureValue'
  ) {
    throw invalid('A signature does not start with SignedInfo and SignatureValue.');
  }
  const canonicalization = firstChild(signedInfo, NS.dsig, 'CanonicalizationMethod');
  const method = firstChild(signedInfo, NS.dsig, 'SignatureMethod')?.getAttribute('Algorithm') ?? '';
  const hash = SIGNATURES[method];
  const references = childElements(signedInfo, NS.dsig, 'Reference');
  const reference = references[0];
  if (!canonicalization || !hash || references.length !== 1 || !reference)
    throw invalid('A signature must have one canonicalization, a known method and exactly one Reference.');

  // The reference: the parent, by its ID, with the enveloped transform and one canonicalization.
  const id = parent.getAttribute('ID');
  if (!id || reference.getAttribute('URI') !== `#${id}`)
    throw invalid('A signature does not reference the element that holds it.');
  const transformLists = childElements(reference, NS.dsig, 'Transforms');
  if (transformLists.length > 1) throw invalid('A signature reference has more than one Transforms.');
  const transforms = transformLists[0] ? childElements(transformLists[0], NS.dsig, 'Transform') : [];
  const algorithms = transforms.map((t) => t.getAttribute('Algorithm') ?? '');
  if (algorithms[0] !== ENVELOPED || algorithms.length > 2)
    throw invalid('A signature must be enveloped, with at most one canonicalization after it.');
  const referenceC14n = WITHOUT_COMMENTS[algorithms[1] ?? C14N];
  if (!referenceC14n) throw invalid('A signature reference uses an unsupported transform.');
  const digestAlgorithm =
    DIGESTS[firstChild(reference, NS.dsig, 'DigestMethod')?.getAttribute('Algorithm') ?? ''];
  const digestValue = firstChild(reference, NS.dsig, 'DigestValue');
  if (!digestAlgorithm || !digestValue) throw invalid('A signature reference has no known digest.');

  // Digest the parent as it is in this document, less this signature (enveloped); comments are
  // left out by the canonicalization (WITHOUT_COMMENTS).
  const transform = transforms[1];
  const prefixes = transform ? prefixList(transform) : undefined;
  let canonical: string;
  if (referenceC14n === EXC_C14N && !prefixes?.length) {
    // The common case (every IdP we target): exclusive c14n without an InclusiveNamespaces list
    // reads the element and never writes to it, so the signature is set aside for the moment
    // rather than the whole element copied (a deep copy was most of the verification's time).
    const next = signature.nextSibling;
    parent.removeChild(signature);
    try {
      canonical = canonicalize(referenceC14n, parent, parent);
    } finally {
      parent.insertBefore(signature, next);
    }
  } else {
    // Inclusive c14n and InclusiveNamespaces lists add namespace declarations: on a copy.
    const clone = parent.cloneNode(true) as Element;
    let index = 0;
    for (let c = parent.firstChild; c && c !== signature; c = c.nextSibling) index++;
    const cloned = clone.childNodes.item(index);
    if (!cloned) throw invalid('A signature could not be located in its parent.');
    clone.removeChild(cloned);
    canonical = canonicalize(referenceC14n, clone, parent, prefixes);
  }
  const digest = createHash(digestAlgorithm).update(canonical, 'utf8').digest();
  const expected = base64(text(digestValue));
  if (expected.length !== digest.length || !timingSafeEqual(expected, digest))
    throw invalid('The signed content has been changed since it was signed.');

  // The signature over SignedInfo, canonicalized in its context.
  const infoAlgorithm = canonicalization.getAttribute('Algorithm') ?? '';
  const info = canonicalize(
    infoAlgorithm,
    signedInfo.cloneNode(true) as Element,
    signedInfo,
    prefixList(canonicalization),
  );
  const value = base64(text(signatureValue));
  const data = Buffer.from(info, 'utf8');
  return keys.some((key) => {
    if (key.asymmetricKeyType !== 'rsa') return false;
    try {
      return verify(hash, data, key, value);
    } catch {
      return false;
    }
  });
}
