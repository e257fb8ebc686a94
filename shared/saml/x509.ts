import { createHash, type KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * A self-signed X.509 v3 certificate (RFC 5280) for an SP key pair, written with node:crypto alone:
 * Node signs and parses certificates (X509Certificate) but does not issue them, so the few DER
 * structures a certificate needs are encoded here rather than bringing in a certificate library
 * (and its size) for one call. The certificate only carries the SP's public key to IdPs in the
 * SAML metadata, which pins it as is: no chain, no revocation, no name to match.
 */

const tlv = (tag: number, ...contents: Buffer[]): Buffer => {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) length = Buffer.from([n]);
  else if (n < 0x100) length = Buffer.from([0x81, n]);
  else if (n < 0x10000) length = Buffer.from([0x82, n >> 8, n & 0xff]);
  else length = Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
};
const seq = (...items: Buffer[]) => tlv(0x30, ...items);
const set = (...items: Buffer[]) => tlv(0x31, ...items);
const explicit = (n: number, ...items: Buffer[]) => tlv(0xa0 + n, ...items);
const integer = (bytes: Buffer) =>
  tlv(0x02, (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.alloc(1), bytes]) : bytes);
const bitString = (bytes: Buffer, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), bytes);
const octetString = (bytes: Buffer) => tlv(0x04, bytes);
const NULL = Buffer.from([0x05, 0x00]);
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const out = [40 * a + b];
  for (const arc of rest) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 section 4.1.2.5). */
function time(date: Date): Buffer {
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${iso}Z`, 'ascii'));
}

const name = (commonName: string) =>
  seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))));

const SHA256_WITH_RSA = seq(oid('1.2.840.113549.1.1.11'), NULL);

export interface SelfSignedOptions {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** At most 64 characters (ub-common-name). */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** The certificate, DER-encoded, signed with RSA PKCS#1 v1.5 / SHA-256 by its own key. */
export function selfSignedCertificate(o: SelfSignedOptions): Buffer {
  const spki = o.publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  serial[0] = (serial[0] ?? 0) & 0x7f || 0x01; // positive, and no leading zero octet
  // keyUsage: digitalSignature (bit 0) for AuthnRequests, keyEncipherment (bit 2) for the
  // assertion key the IdP wraps with RSA-OAEP. Not a CA.
  const extensions = seq(
    seq(oid('2.5.29.19'), TRUE, octetString(seq())),
    seq(oid('2.5.29.15'), TRUE, octetString(bitString(Buffer.from([0xa0]), 5))),
    seq(oid('2.5.29.14'), octetString(octetString(createHash('sha1').update(spki).digest()))),
  );
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))),
    integer(serial),
    SHA256_WITH_RSA,
    name(o.commonName),
    seq(time(o.notBefore), time(o.notAfter)),
    name(o.commonName),
    spki,
    explicit(3, extensions),
  );
  return seq(tbs, SHA256_WITH_RSA, bitString(sign('sha256', tbs, o.privateKey)));
}
