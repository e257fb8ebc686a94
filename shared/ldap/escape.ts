import { EqualityFilter, type Filter, FilterParser } from 'ldapts';

/**
 * Everything that puts outside text into LDAP syntax: filter values (RFC 4515), DN attribute
 * values (RFC 4514), attribute names (RFC 4512), and Active Directory's objectGUID. Hostile input
 * stops here: a user's email never changes the shape of a filter or a DN.
 */

/**
 * RFC 4515 section 3: in a filter's assertion value, `*`, `(`, `)`, `\` and NUL must be written as
 * `\XX`. Other control characters are escaped as well so logs stay readable; everything else
 * (UTF-8 included) stays as it is, since the filter travels as UTF-8.
 */
export function escapeFilterValue(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    out +=
      char === '*' || char === '(' || char === ')' || char === '\\' || code < 0x20 || code === 0x7f
        ? `\\${code.toString(16).padStart(2, '0')}`
        : char;
  }
  return out;
}

/**
 * Parses a filter whose values were escaped with escapeFilterValue and whose attribute names went
 * through attr(), into the object the client sends.
 */
export const parseFilter = (text: string): Filter => FilterParser.parseString(text);

/** An equality assertion on raw bytes (objectGUID): built as an object, never as text. */
export const binaryEquals = (attribute: string, value: Buffer): Filter =>
  new EqualityFilter({ attribute: attr(attribute), value });

const DESCR = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;

/**
 * RFC 4512 section 1.4: an attribute is named by a `descr` (a keystring: a letter, then letters,
 * digits and hyphens) or a numeric OID; we take descr only, the form every directory publishes.
 */
export const isAttributeName = (name: string): boolean => DESCR.test(name);

/** An attribute name from configuration, checked before it goes into a filter. */
export function attr(name: string): string {
  if (!isAttributeName(name)) throw new Error(`"${name}" is not an LDAP attribute name`);
  return name;
}

/**
 * RFC 4514 section 2.4: in an attribute value of a DN, `"`, `+`, `,`, `;`, `<`, `>` and `\` are
 * escaped with a backslash, as are a leading space or `#` and a trailing space; NUL is written as
 * `\00`. Other control characters are hex-escaped too (section 3 allows any hexpair).
 */
export function escapeDnValue(value: string): string {
  let out = '';
  const chars = [...value];
  chars.forEach((char, i) => {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) out += `\\${code.toString(16).padStart(2, '0')}`;
    else if ('"+,;<>\\='.includes(char)) out += `\\${char}`;
    else if ((i === 0 && (char === ' ' || char === '#')) || (i === chars.length - 1 && char === ' ')) {
      out += `\\${char}`;
    } else out += char;
  });
  return out;
}

/**
 * Active Directory's objectGUID is 16 bytes whose first three fields are little-endian (MS-DTYP
 * 2.3.4.2); its canonical string is the usual 8-4-4-4-12 form with those fields byte-swapped.
 */
export function guidToString(bytes: Buffer): string | undefined {
  if (bytes.length !== 16) return undefined;
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = [...bytes.subarray(from, to)];
    return Buffer.from(reverse ? part.reverse() : part).toString('hex');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

/** The bytes of an objectGUID from its canonical string (the inverse of guidToString). */
export function guidToBytes(guid: string): Buffer | undefined {
  if (!isUuid(guid)) return undefined;
  const [a = '', b = '', c = '', d = '', e = ''] = guid.toLowerCase().split('-');
  const le = (hex: string) => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(a), le(b), le(c), Buffer.from(d + e, 'hex')]);
}
