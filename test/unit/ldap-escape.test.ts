import fc from 'fast-check';
import { AndFilter, EqualityFilter, FilterParser, SubstringFilter } from 'ldapts';
import { describe, expect, it } from 'vitest';
import { isUsablePassword } from '../../shared/ldap/client.ts';
import { formatParent, userFilter } from '../../shared/ldap/directory.ts';
import {
  escapeDnValue,
  escapeFilterValue,
  guidToBytes,
  guidToString,
  isAttributeName,
} from '../../shared/ldap/escape.ts';

/** A reference RFC 4514 reader for one attribute value: the inverse escapeDnValue must have. */
function readDnValue(text: string): { value: string; rest: string } {
  const chars = Array.from(text);
  const bytes: number[] = [];
  let i = 0;
  for (; i < chars.length; i++) {
    const char = chars[i] as string;
    if (char === '\\') {
      const pair = (chars[i + 1] ?? '') + (chars[i + 2] ?? '');
      if (/^[0-9a-fA-F]{2}$/.test(pair)) {
        bytes.push(Number.parseInt(pair, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(chars[i + 1] ?? '', 'utf8'));
        i += 1;
      }
    } else if (',+;'.includes(char)) break;
    else bytes.push(...Buffer.from(char, 'utf8'));
  }
  return { value: Buffer.from(bytes).toString('utf8'), rest: chars.slice(i).join('') };
}

const anyText = fc.string({ unit: 'binary', maxLength: 60 });
const hostile = fc.constantFrom('*', '(', ')', '\\', '\0', ')(', '*)(uid=*', '\\2a', '\\00', '|', '&', '=');
const mixed = fc.array(fc.oneof(anyText, hostile), { maxLength: 8 }).map((parts) => parts.join(''));

describe('RFC 4515 filter values', () => {
  it('escapes the five specials and control characters', () => {
    expect(escapeFilterValue('a*b(c)d\\e\0f')).toBe('a\\2ab\\28c\\29d\\5ce\\00f');
    expect(escapeFilterValue('é@exämple.test')).toBe('é@exämple.test');
    expect(escapeFilterValue('\n\x7f')).toBe('\\0a\\7f');
  });

  it('always parses back to one equality assertion of exactly the original value', () => {
    fc.assert(
      fc.property(mixed, (value) => {
        const filter = FilterParser.parseString(`(mail=${escapeFilterValue(value)})`);
        expect(filter).toBeInstanceOf(EqualityFilter);
        expect((filter as EqualityFilter).value).toBe(value);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the user filter an AND of objectClass and mail, whatever the email', () => {
    fc.assert(
      fc.property(mixed, mixed, (objectClass, email) => {
        const filter = FilterParser.parseString(userFilter(objectClass, 'mail', email));
        expect(filter).toBeInstanceOf(AndFilter);
        const parts = (filter as AndFilter).filters;
        expect(parts).toHaveLength(2);
        expect(parts.every((p) => p instanceof EqualityFilter)).toBe(true);
        expect((parts[1] as EqualityFilter).value).toBe(email);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps a wildcard from becoming a substring match', () => {
    const filter = FilterParser.parseString(userFilter('inetOrgPerson', 'mail', 'al*@example.test'));
    expect((filter as AndFilter).filters.some((f) => f instanceof SubstringFilter)).toBe(false);
    expect(userFilter('inetOrgPerson', 'mail', '*)(uid=*')).toBe(
      '(&(objectClass=inetOrgPerson)(mail=\\2a\\29\\28uid=\\2a))',
    );
  });

  it('refuses attribute names that would change a filter', () => {
    expect(() => userFilter('inetOrgPerson', 'mail)(uid=*', 'x')).toThrow();
    expect(isAttributeName('mail')).toBe(true);
    expect(isAttributeName('msDS-PrincipalName')).toBe(true);
    for (const bad of ['', 'mail)', 'm ail', '1mail', 'mail=*', 'mail\0'])
      expect(isAttributeName(bad)).toBe(false);
  });
});

describe('RFC 4514 DN values', () => {
  it('escapes the specials, leading space or #, trailing space and NUL', () => {
    expect(escapeDnValue('o,hara+x')).toBe('o\\,hara\\+x');
    expect(escapeDnValue('#a b ')).toBe('\\#a b\\ ');
    expect(escapeDnValue(' x')).toBe('\\ x');
    expect(escapeDnValue('a\0b;c<d>e"f\\g=h')).toBe('a\\00b\\;c\\<d\\>e\\"f\\\\g\\=h');
  });

  it('always reads back as one value that ends the RDN where the template says', () => {
    fc.assert(
      fc.property(mixed, (local) => {
        const dn = 'uid={},ou=people,dc=example,dc=test'.replaceAll('{}', escapeDnValue(local));
        const read = readDnValue(dn.slice('uid='.length));
        expect(read.value).toBe(local);
        expect(read.rest).toBe(',ou=people,dc=example,dc=test');
      }),
      { numRuns: 500 },
    );
  });

  it('finds where format-method users live', () => {
    expect(formatParent('uid={},ou=people,dc=example,dc=test')).toBe('ou=people,dc=example,dc=test');
    expect(formatParent('cn={}\\, staff,ou=x,dc=y')).toBe('ou=x,dc=y');
    expect(formatParent('uid={}')).toBeUndefined();
  });
});

describe('objectGUID', () => {
  it('turns the 16 bytes into the canonical string (first three fields little-endian) and back', () => {
    const bytes = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
    expect(guidToString(bytes)).toBe('03020100-0504-0706-0809-0a0b0c0d0e0f');
    expect(guidToBytes('03020100-0504-0706-0809-0A0B0C0D0E0F')).toEqual(bytes);
    expect(guidToString(Buffer.alloc(15))).toBeUndefined();
    expect(guidToBytes('not-a-guid')).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (raw) => {
        const buffer = Buffer.from(raw);
        expect(guidToBytes(guidToString(buffer) ?? '')).toEqual(buffer);
      }),
    );
  });
});

describe('passwords that never go to a bind', () => {
  it('refuses empty, whitespace-only and NUL-containing passwords', () => {
    for (const bad of ['', ' ', '   ', '\t\n', '\u00a0\u2003', '\0', 'secret\0', '\0secret']) {
      expect(isUsablePassword(bad), JSON.stringify(bad)).toBe(false);
    }
    for (const good of ['secret', ' secret ', 'x', 'pa ss']) expect(isUsablePassword(good)).toBe(true);
  });
});
