import { AppError, type ErrorCode } from '../errors.ts';
import type { IdpMetadata } from './metadata.ts';
import { signingKeys, verifyEnvelopedSignature } from './signature.ts';
import {
  childElements,
  descendants,
  firstChild,
  malformed,
  NS,
  parseUntrustedXml,
  wholeText,
} from './xml.ts';

/**
 * Our own validation of a SAML Response, on one parse of it: structure first (one assertion in
 * its place, unique IDs: the signature-wrapping family), signatures with xml-crypto's
 * canonicalization on that same DOM (signature.ts), then Issuer, Destination, Recipient, audience,
 * time windows and NameID. Each refusal has its own code.
 */
export interface ResponseChecks {
  idp: IdpMetadata;
  spEntityId: string;
  acsUrl: string;
  allowSha1: boolean;
  wantAssertionsSigned: boolean;
  wantResponseSigned: boolean;
  clockSkewSeconds: number;
  now: Date;
  /**
   * The SP private keys (PEM) an encrypted assertion may be encrypted to, read when one arrives;
   * none: the connection cannot take encrypted assertions.
   */
  decryptionKeys?: () => Promise<string[]>;
}

export interface ValidatedAssertion {
  responseId: string;
  assertionId: string;
  inResponseTo?: string;
  nameId: string;
  nameIdFormat?: string;
  attributes: Record<string, string[]>;
  issuer: string;
  /** Epoch seconds after which the assertion can no longer be used (for the replay guard). */
  usableUntil: number;
  /**
   * Epoch milliseconds of the latest AuthnStatement's AuthnInstant (SAML core 2.7.2): when the IdP
   * authenticated the person. Absent when no statement carries a valid one; read, not required,
   * so only a login that asked for re-authentication (ForceAuthn) depends on it.
   */
  authnInstant?: number;
}

const refuse = (status: number, code: ErrorCode, message: string) => new AppError(status, code, message);

const STRONG_SIG = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
]);
const STRONG_DIGEST = new Set([
  'http://www.w3.org/2001/04/xmlenc#sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512',
]);
/** Encrypted assertions: RSA-OAEP key transport and AES-GCM content only (no CBC padding oracles). */
const KEY_TRANSPORT = new Set([
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  'http://www.w3.org/2009/xmlenc11#rsa-oaep',
]);
const CONTENT_CIPHERS = new Set([
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
]);
/** The XML Encryption elements xml-encryption looks up by local name. */
const XENC_ELEMENTS = new Set([
  'EncryptedData',
  'EncryptedKey',
  'EncryptionMethod',
  'CipherData',
  'CipherValue',
  'CipherReference',
  'ReferenceList',
  'DataReference',
  'KeyReference',
  'AgreementMethod',
]);
const SHA1_SIG = 'http://www.w3.org/2000/09/xmldsig#rsa-sha1';
const SHA1_DIGEST = 'http://www.w3.org/2000/09/xmldsig#sha1';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

function time(element: Element, attribute: string): number | undefined {
  const value = element.getAttribute(attribute);
  if (!value) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}T/.test(value))
    throw malformed(`${attribute} is not a dateTime`);
  return ms;
}

/**
 * Each signature: one SignedInfo (CVE-2025-29774/5) and strong algorithms. The verifier
 * (signature.ts) reads DigestValue and SignatureValue as text only.
 */
function checkSignatureShape(signature: Element, allowSha1: boolean): void {
  const signedInfos = childElements(signature, NS.dsig, 'SignedInfo');
  if (signedInfos.length !== 1 || descendants(signature, NS.dsig, 'SignedInfo').length !== 1) {
    throw refuse(400, 'invalid_signature', 'A signature has more than one SignedInfo.');
  }
  const signedInfo = signedInfos[0] as Element;
  const method = firstChild(signedInfo, NS.dsig, 'SignatureMethod')?.getAttribute('Algorithm') ?? '';
  const digests = descendants(signedInfo, NS.dsig, 'DigestMethod').map(
    (d) => d.getAttribute('Algorithm') ?? '',
  );
  const weakOk = (alg: string, strong: Set<string>, sha1: string) =>
    strong.has(alg) || (allowSha1 && alg === sha1);
  if (
    !weakOk(method, STRONG_SIG, SHA1_SIG) ||
    digests.length === 0 ||
    !digests.every((d) => weakOk(d, STRONG_DIGEST, SHA1_DIGEST))
  ) {
    throw refuse(
      400,
      'weak_algorithm',
      'The response is signed with a weak or unknown algorithm; RSA-SHA256 or stronger is required.',
    );
  }
}

/**
 * The response as a checklist, each step named after what it checks (SAML core, bindings and
 * profiles sections cited in each). Any step that fails throws its own code; none is skipped.
 */
export async function validateResponse(xml: string, checks: ResponseChecks): Promise<ValidatedAssertion> {
  const { doc, response } = parseResponse(xml);
  checkStatus(response);
  checkSignedEnvelopeBeforeDecrypting(response, checks);
  const { assertion, encrypted } = await theOneAssertion(doc, response, checks.decryptionKeys);
  const { responseId, assertionId } = checkIds(doc, response, assertion);
  checkSignatures(doc, response, assertion, encrypted, checks);
  checkIssuers(response, assertion, checks.idp.entityId);
  checkDestination(response, checks.acsUrl);
  const window = validityWindow(checks);
  const conditionsEnd = checkConditions(assertion, checks.spEntityId, window);
  const subject = checkSubject(response, assertion, checks.acsUrl, window);
  const attributes = readAttributes(assertion);
  const authnInstant = readAuthnInstant(assertion);
  const ends = [conditionsEnd, subject.confirmationEnd].filter((v): v is number => v !== undefined);
  return {
    responseId,
    assertionId,
    ...(subject.inResponseTo ? { inResponseTo: subject.inResponseTo } : {}),
    nameId: subject.nameId,
    ...(subject.nameIdFormat ? { nameIdFormat: subject.nameIdFormat } : {}),
    attributes,
    issuer: checks.idp.entityId,
    usableUntil: Math.ceil((Math.max(...ends) + window.skew) / 1000),
    ...(authnInstant !== undefined ? { authnInstant } : {}),
  };
}

/** One parse of the message, with line ends as an XML processor normalizes them (XML 1.0 section 2.11), before anything is digested; its root must be a samlp:Response. */
function parseResponse(xml: string): { doc: Document; response: Element } {
  const doc = parseUntrustedXml(xml.replace(/\r\n?/g, '\n'), 'response');
  const response = doc.documentElement;
  if (response.localName !== 'Response' || response.namespaceURI !== NS.protocol)
    throw malformed('the root is not a samlp:Response');
  return { doc, response };
}

/** Status first (SAML core 3.2.2.2): an IdP refusal is reported as such, whatever else the message holds. */
function checkStatus(response: Element): void {
  const status = firstChild(response, NS.protocol, 'Status');
  const code = status ? firstChild(status, NS.protocol, 'StatusCode') : undefined;
  const statusValue = code?.getAttribute('Value') ?? '';
  if (statusValue === SUCCESS) return;
  const sub = code ? firstChild(code, NS.protocol, 'StatusCode')?.getAttribute('Value') : undefined;
  const detail = [statusValue, sub]
    .filter(Boolean)
    .map((v) => v?.split(':').pop())
    .join('/');
  throw refuse(401, 'idp_error', `The identity provider refused the sign-in (${detail || 'no status'}).`);
}

/**
 * Exactly one assertion, a direct child of the Response: anything else (a second assertion, one
 * hidden in Advice or Extensions, the XSW family) is refused before any signature is read. An
 * EncryptedAssertion (SAML core 2.3.4) is decrypted with the SP key.
 */
async function theOneAssertion(
  doc: Document,
  response: Element,
  decryptionKeys: (() => Promise<string[]>) | undefined,
): Promise<{ assertion: Element; encrypted: boolean }> {
  const assertions = descendants(doc, NS.assertion, 'Assertion');
  const encrypted = descendants(doc, NS.assertion, 'EncryptedAssertion');
  if (
    assertions.length + encrypted.length !== 1 ||
    (assertions[0] ?? encrypted[0])?.parentNode !== response
  ) {
    throw malformed('a response must hold exactly one assertion, directly in the Response');
  }
  return encrypted[0]
    ? { assertion: await decryptAssertion(encrypted[0], decryptionKeys), encrypted: true }
    : { assertion: assertions[0] as Element, encrypted: false };
}

/** IDs must be unique, or a signature reference could point somewhere unexpected; both are needed and bounded. */
function checkIds(doc: Document, response: Element, assertion: Element) {
  const ids = new Set<string>();
  const walk = (n: Node) => {
    for (let c = n.firstChild; c; c = c.nextSibling) {
      if (c.nodeType !== 1) continue;
      const id = (c as Element).getAttribute('ID');
      if (id) {
        if (ids.has(id)) throw malformed('two elements share an ID');
        ids.add(id);
      }
      walk(c);
    }
  };
  walk(doc);
  const responseId = response.getAttribute('ID') ?? '';
  const assertionId = assertion.getAttribute('ID') ?? '';
  if (!responseId || !assertionId) throw malformed('the Response and the Assertion need an ID');
  if (responseId.length > 256 || assertionId.length > 256) throw malformed('an ID is too long');
  return { responseId, assertionId };
}

/**
 * Signatures (SAML core 5.4, Web SSO profile 4.1.3.5): only on the Response or the Assertion, at
 * most one each; every one present must verify against the metadata certificates (KeyInfo in the
 * message is never trusted), with strong algorithms; and what the connection requires is signed.
 */
function checkSignatures(
  doc: Document,
  response: Element,
  assertion: Element,
  encrypted: boolean,
  checks: ResponseChecks,
): void {
  if (checks.idp.certificates.length === 0)
    throw refuse(400, 'invalid_signature', 'The connection has no IdP signing certificate.');
  const keys = signingKeys(checks.idp);
  // With an encrypted assertion, its own signature is inside the decrypted document.
  const signatures = [
    ...descendants(doc, NS.dsig, 'Signature'),
    ...(encrypted ? descendants(assertion, NS.dsig, 'Signature') : []),
  ];
  let responseSigned = false;
  let assertionSigned = false;
  for (const signature of signatures) {
    const parent = signature.parentNode as Element | null;
    if (parent !== response && parent !== assertion) {
      throw refuse(
        400,
        'invalid_signature',
        'A signature sits somewhere other than the Response or the Assertion.',
      );
    }
    if ((parent === response && responseSigned) || (parent === assertion && assertionSigned))
      throw refuse(400, 'invalid_signature', 'An element carries more than one signature.');
    checkSignatureShape(signature, checks.allowSha1);
    if (!verifyEnvelopedSignature(signature, parent, keys))
      throw refuse(400, 'invalid_signature', 'The signature is not valid for the IdP’s certificates.');
    if (parent === response) responseSigned = true;
    else assertionSigned = true;
  }
  if (!responseSigned && !assertionSigned)
    throw refuse(400, 'invalid_signature', 'The response is not signed.');
  if (checks.wantResponseSigned && !responseSigned)
    throw refuse(400, 'invalid_signature', 'The Response must be signed.');
  if (checks.wantAssertionsSigned && !assertionSigned)
    throw refuse(400, 'invalid_signature', 'The Assertion must be signed.');
}

/**
 * A signed Response around an encrypted assertion is verified before anything is decrypted, so
 * our private key never works on ciphertext the IdP did not sign (no decryption oracle for a
 * tampered message). checkSignatures verifies it again with everything else, on the same rules.
 */
function checkSignedEnvelopeBeforeDecrypting(response: Element, checks: ResponseChecks): void {
  const signature = childElements(response, NS.dsig, 'Signature')[0];
  if (!signature || childElements(response, NS.assertion, 'EncryptedAssertion').length === 0) return;
  if (checks.idp.certificates.length === 0)
    throw refuse(400, 'invalid_signature', 'The connection has no IdP signing certificate.');
  checkSignatureShape(signature, checks.allowSha1);
  if (!verifyEnvelopedSignature(signature, response, signingKeys(checks.idp)))
    throw refuse(400, 'invalid_signature', 'The signature is not valid for the IdP’s certificates.');
}

/** Issuers (Web SSO profile 4.1.4.2): both present and both the IdP's entityID. */
function checkIssuers(response: Element, assertion: Element, entityId: string): void {
  const responseIssuer = firstChild(response, NS.assertion, 'Issuer');
  const assertionIssuer = firstChild(assertion, NS.assertion, 'Issuer');
  if (
    !responseIssuer ||
    wholeText(responseIssuer) !== entityId ||
    !assertionIssuer ||
    wholeText(assertionIssuer) !== entityId
  ) {
    throw refuse(
      400,
      'issuer_mismatch',
      'The response does not come from this connection’s identity provider.',
    );
  }
}

/** Destination (SAML bindings 3.5.5.2): required, and ours. */
function checkDestination(response: Element, acsUrl: string): void {
  if (response.getAttribute('Destination') !== acsUrl) {
    throw refuse(400, 'destination_mismatch', 'The response was sent to another destination.');
  }
}

interface ValidityWindow {
  now: number;
  skew: number;
  /** Checks NotBefore / NotOnOrAfter (SAML core 2.5.1.2, 2.4.1.2) with the skew; returns NotOnOrAfter. */
  check(element: Element): number | undefined;
}

function validityWindow(checks: Pick<ResponseChecks, 'now' | 'clockSkewSeconds'>): ValidityWindow {
  const now = checks.now.getTime();
  const skew = checks.clockSkewSeconds * 1000;
  return {
    now,
    skew,
    check: (element) => {
      const notBefore = time(element, 'NotBefore');
      const notOnOrAfter = time(element, 'NotOnOrAfter');
      if (notBefore !== undefined && now + skew < notBefore)
        throw refuse(400, 'not_yet_valid', 'The assertion is not valid yet.');
      if (notOnOrAfter !== undefined && now - skew >= notOnOrAfter)
        throw refuse(400, 'expired', 'The assertion has expired.');
      return notOnOrAfter;
    },
  };
}

/** Conditions: the window, and our entity ID in every AudienceRestriction (Web SSO profile 4.1.4.2, core 2.5.1.4). */
function checkConditions(assertion: Element, spEntityId: string, window: ValidityWindow): number | undefined {
  const conditions = firstChild(assertion, NS.assertion, 'Conditions');
  if (!conditions) throw refuse(400, 'audience_mismatch', 'The assertion has no Conditions and no audience.');
  const conditionsEnd = window.check(conditions);
  const restrictions = childElements(conditions, NS.assertion, 'AudienceRestriction');
  if (restrictions.length === 0)
    throw refuse(400, 'audience_mismatch', 'The assertion has no AudienceRestriction.');
  for (const r of restrictions) {
    if (!childElements(r, NS.assertion, 'Audience').some((a) => wholeText(a) === spEntityId)) {
      throw refuse(400, 'audience_mismatch', 'The assertion is meant for another service.');
    }
  }
  return conditionsEnd;
}

/**
 * Subject (Web SSO profile 4.1.4.2): a NameID, and a bearer confirmation for our ACS within its
 * window, whatever the login's origin; InResponseTo, when given twice, names one request.
 */
function checkSubject(response: Element, assertion: Element, acsUrl: string, window: ValidityWindow) {
  const subject = firstChild(assertion, NS.assertion, 'Subject');
  const nameIdElement = subject ? firstChild(subject, NS.assertion, 'NameID') : undefined;
  if (!subject || !nameIdElement) throw malformed('the assertion has no Subject NameID');
  const confirmations = childElements(subject, NS.assertion, 'SubjectConfirmation').filter(
    (c) => c.getAttribute('Method') === BEARER,
  );
  if (confirmations.length === 0) throw malformed('the assertion has no bearer SubjectConfirmation');
  let confirmationEnd: number | undefined;
  let inResponseTo: string | undefined;
  for (const confirmation of confirmations) {
    const data = firstChild(confirmation, NS.assertion, 'SubjectConfirmationData');
    if (!data || data.getAttribute('Recipient') !== acsUrl) {
      throw refuse(400, 'recipient_mismatch', 'The assertion was issued for another recipient.');
    }
    const end = window.check(data);
    if (end === undefined) throw malformed('SubjectConfirmationData has no NotOnOrAfter');
    confirmationEnd = Math.max(confirmationEnd ?? 0, end);
    const irt = data.getAttribute('InResponseTo') || undefined;
    if (irt) inResponseTo = irt;
  }
  const responseIrt = response.getAttribute('InResponseTo') || undefined;
  if (responseIrt && inResponseTo && responseIrt !== inResponseTo) {
    throw refuse(400, 'unknown_request', 'The response answers two different requests.');
  }
  inResponseTo = responseIrt ?? inResponseTo;
  if (inResponseTo && inResponseTo.length > 256) {
    throw refuse(400, 'unknown_request', 'The response answers a request we did not make.');
  }
  const nameId = wholeText(nameIdElement);
  if (!nameId) throw malformed('the NameID is empty');
  const nameIdFormat = nameIdElement.getAttribute('Format') || undefined;
  return { nameId, nameIdFormat, confirmationEnd, inResponseTo };
}

/** Attribute statements (SAML core 2.7.3): values by name, repeated names merged. */
function readAttributes(assertion: Element): Record<string, string[]> {
  const attributes: Record<string, string[]> = {};
  for (const statement of childElements(assertion, NS.assertion, 'AttributeStatement')) {
    for (const attribute of childElements(statement, NS.assertion, 'Attribute')) {
      const name = attribute.getAttribute('Name');
      if (!name) continue;
      const values = childElements(attribute, NS.assertion, 'AttributeValue').map(wholeText);
      attributes[name] = [...(attributes[name] ?? []), ...values];
    }
  }
  return attributes;
}

/**
 * AuthnStatement (SAML core 2.7.2): the latest valid AuthnInstant of the assertion's statements.
 * Leniently read (an unusable value counts as none): only a re-authentication check relies on it.
 */
function readAuthnInstant(assertion: Element): number | undefined {
  let latest: number | undefined;
  for (const statement of childElements(assertion, NS.assertion, 'AuthnStatement')) {
    const value = statement.getAttribute('AuthnInstant') ?? '';
    const ms = /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN;
    if (!Number.isNaN(ms)) latest = Math.max(latest ?? ms, ms);
  }
  return latest;
}

const undecryptable = (cause: unknown) =>
  new AppError(400, 'decryption_failed', 'The encrypted assertion could not be decrypted.', { cause });

/**
 * Decrypts an EncryptedAssertion with the SP key after checking its algorithms, and parses the
 * result as strictly as the response itself: exactly one Assertion, nothing else.
 */
async function decryptAssertion(encrypted: Element, keysOf: (() => Promise<string[]>) | undefined) {
  const keys = keysOf ? await keysOf() : [];
  if (keys.length === 0)
    throw refuse(
      400,
      'encrypted_assertion_unsupported',
      'The assertion is encrypted but this connection has no SP key.',
    );
  // xml-encryption finds its elements by local name alone: an EncryptionMethod in another
  // namespace, placed first, would be the one it uses while we checked ours. So every XML
  // Encryption element must be in its namespace, and each appear where and as often as expected.
  const elements = descendants(encrypted, '*', '*');
  if (elements.some((e) => XENC_ELEMENTS.has(e.localName) && e.namespaceURI !== NS.xenc)) {
    throw malformed('the encrypted assertion holds XML Encryption elements of another namespace');
  }
  const datas = childElements(encrypted, NS.xenc, 'EncryptedData');
  const data = datas[0];
  if (
    datas.length !== 1 ||
    elements.filter((e) => e.localName === 'EncryptedData').length !== 1 ||
    !data ||
    childElements(data, NS.xenc, 'EncryptionMethod').length !== 1
  ) {
    throw malformed('the encrypted assertion must hold one EncryptedData with one EncryptionMethod');
  }
  const content = firstChild(data, NS.xenc, 'EncryptionMethod')?.getAttribute('Algorithm');
  const transports = descendants(encrypted, NS.xenc, 'EncryptedKey').map(
    (k) => firstChild(k, NS.xenc, 'EncryptionMethod')?.getAttribute('Algorithm') ?? '',
  );
  if (
    !content ||
    !CONTENT_CIPHERS.has(content) ||
    transports.length !== 1 ||
    !transports.every((t) => KEY_TRANSPORT.has(t))
  ) {
    throw refuse(
      400,
      'weak_algorithm',
      'The assertion is encrypted with an algorithm we do not accept (RSA-OAEP with AES-GCM only).',
    );
  }
  // Loaded when an encrypted assertion arrives: most connections never send one.
  const xmlenc = (await import('xml-encryption')).default as XmlEncryption;
  const xml = encrypted.toString();
  // Each SP key in turn (during a rotation the IdP may encrypt to the old or the new certificate);
  // the first that decrypts wins, and all failing answer one code whichever failed how.
  let assertionXml: string | undefined;
  let lastError: unknown;
  for (const key of keys) {
    try {
      assertionXml = await new Promise<string>((done, fail) =>
        xmlenc.decrypt(xml, { key, disallowDecryptionWithInsecureAlgorithm: true }, (error, result) =>
          error ? fail(error) : done(result),
        ),
      );
      break;
    } catch (cause) {
      lastError = cause;
    }
  }
  if (assertionXml === undefined) throw undecryptable(lastError);
  // Whatever went wrong inside the ciphertext answers like a failed decryption: no oracle.
  let inner: Document;
  try {
    inner = parseUntrustedXml(assertionXml.replace(/\r\n?/g, '\n'), 'assertion');
  } catch (cause) {
    throw undecryptable(cause);
  }
  const root = inner.documentElement;
  if (
    root.localName !== 'Assertion' ||
    root.namespaceURI !== NS.assertion ||
    descendants(root, NS.assertion, 'Assertion').length > 0
  ) {
    throw malformed('the encrypted content is not exactly one Assertion');
  }
  return root;
}

interface XmlEncryption {
  decrypt(
    xml: string,
    options: { key: string; disallowDecryptionWithInsecureAlgorithm: boolean },
    done: (error: Error | null, result: string) => void,
  ): void;
}
