import { DOMParser } from '@xmldom/xmldom';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError, MAX_DOCUMENT_DEPTH } from '../../shared/errors.ts';
import { jsonNestsDeeperThan, toRequest } from '../../shared/http/request.ts';
import type { HttpEvent } from '../../shared/http/types.ts';
import { mergePatch } from '../../shared/merge-patch.ts';
import { descendants, parseUntrustedXml, wholeText } from '../../shared/saml/xml.ts';

/**
 * Untrusted documents are bounded in depth (64 levels of XML elements, of JSON arrays and
 * objects) before any recursive code reads them, and refused with a 4xx code of their own.
 */

const codeOf = (run: () => unknown): string | undefined => {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
};

/** The nesting depth of a parsed JSON value, counted without recursion. */
function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    max = Math.max(max, d + 1);
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

const deepObject = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const nested = (levels: number, inner = '') => `${'<a>'.repeat(levels)}${inner}${'</a>'.repeat(levels)}`;

describe('jsonNestsDeeperThan', () => {
  it('agrees with the depth of the parsed value, whatever the strings hold', () => {
    const tricky = fc.constantFrom('[', ']', '{', '}', '"', '\\', '\\"[', '[\\\\', '\\u005b');
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        fc.oneof(fc.string(), tricky, fc.integer(), fc.constant(null)),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.oneof(fc.string(), tricky), tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 8 }), (v, limit) => {
        const text = JSON.stringify(v);
        expect(jsonNestsDeeperThan(text, limit)).toBe(jsonDepth(JSON.parse(text)) > limit);
      }),
      { numRuns: 500 },
    );
  });

  it('counts 64 levels as within the bound and 65 as beyond, for 40,000 too', () => {
    expect(jsonNestsDeeperThan(deepObject(64))).toBe(false);
    expect(jsonNestsDeeperThan(deepObject(65))).toBe(true);
    expect(jsonNestsDeeperThan(`${'['.repeat(40_000)}${']'.repeat(40_000)}`)).toBe(true);
    expect(jsonNestsDeeperThan(`"${'['.repeat(40_000)}"`)).toBe(false);
  });
});

describe('JSON request bodies', () => {
  const event = (body: string, contentType = 'application/json'): HttpEvent =>
    ({
      routeKey: 'PATCH /x',
      rawPath: '/x',
      headers: { 'content-type': contentType },
      body,
      isBase64Encoded: false,
      requestContext: { http: { method: 'PATCH', sourceIp: '127.0.0.1' }, requestId: 'r' },
    }) as unknown as HttpEvent;

  it('are parsed up to 64 levels and refused past them with json_too_deep', () => {
    expect(jsonDepth(toRequest(event(deepObject(64))).body)).toBe(64);
    // the body is parsed when an operation reads it (after authorization)
    expect(codeOf(() => toRequest(event(deepObject(65))).body)).toBe('json_too_deep');
    expect(codeOf(() => toRequest(event(`{"settings":${deepObject(40_000)}}`)).body)).toBe('json_too_deep');
    expect(codeOf(() => toRequest(event(deepObject(65), 'application/merge-patch+json')).body)).toBe(
      'json_too_deep',
    );
  });

  it('answer 400 for the refusal', () => {
    try {
      void toRequest(event(deepObject(100))).body;
    } catch (error) {
      expect(error).toMatchObject({ status: 400, code: 'json_too_deep', expose: true });
    }
    expect.assertions(1);
  });
});

describe('mergePatch', () => {
  it('merges a patch 64 levels deep and refuses a deeper one instead of overflowing the stack', () => {
    expect(jsonDepth(mergePatch({}, JSON.parse(deepObject(64))))).toBe(64);
    expect(codeOf(() => mergePatch({}, JSON.parse(deepObject(65))))).toBe('json_too_deep');
    expect(codeOf(() => mergePatch({}, JSON.parse(deepObject(40_000))))).toBe('json_too_deep');
  });
});

describe('parseUntrustedXml', () => {
  it(`takes ${MAX_DOCUMENT_DEPTH} nested elements and refuses ${MAX_DOCUMENT_DEPTH + 1} with xml_too_deep`, () => {
    expect(parseUntrustedXml(nested(64)).documentElement.localName).toBe('a');
    expect(codeOf(() => parseUntrustedXml(nested(65)))).toBe('xml_too_deep');
    expect(codeOf(() => parseUntrustedXml(nested(63, '<b/>')))).toBeUndefined();
    expect(codeOf(() => parseUntrustedXml(nested(64, '<b/>')))).toBe('xml_too_deep');
    expect(codeOf(() => parseUntrustedXml(nested(12_000)))).toBe('xml_too_deep');
    expect(codeOf(() => parseUntrustedXml('<a>'.repeat(80_000)))).toBe('xml_too_deep');
  });

  it('does not count tags inside comments, CDATA sections, processing instructions or attribute values', () => {
    const inside = [
      `<!--${'<a>'.repeat(100)}-->`,
      `<![CDATA[${'<a>'.repeat(100)}]]>`,
      `<b x="${'>'.repeat(100)}" y='">'/>`,
      `<b>${'&lt;a&gt;'.repeat(100)}</b>`,
    ];
    for (const content of inside) {
      expect(
        codeOf(() => parseUntrustedXml(nested(60, content))),
        content.slice(0, 20),
      ).toBeUndefined();
    }
    const before = `<?xml version="1.0" encoding="UTF-8"?><!--${'<a>'.repeat(100)}--><?pi <a><a>?>`;
    expect(codeOf(() => parseUntrustedXml(`${before}${nested(64)}`))).toBeUndefined();
  });

  it('refuses what xmldom takes quadratic time over: many nodes beside the document element', () => {
    const started = Date.now();
    expect(codeOf(() => parseUntrustedXml('<a/>'.repeat(60_000)))).toBe('malformed_response');
    expect(codeOf(() => parseUntrustedXml(`<r/>${'<!---->'.repeat(30_000)}`))).toBe('malformed_response');
    expect(codeOf(() => parseUntrustedXml(`<r/>${'x<a/>'.repeat(40_000)}`))).toBe('malformed_response');
    expect(Date.now() - started).toBeLessThan(1_000);
    // A declaration and a few comments around the element stay fine.
    expect(codeOf(() => parseUntrustedXml(`<?xml version="1.0"?>\n${'<!-- c -->\n'.repeat(15)}<r/>\n`))).toBe(
      undefined,
    );
    expect(codeOf(() => parseUntrustedXml(`\ufeff<r/>`))).toBeUndefined();
  });

  it('agrees with the depth of the tree xmldom builds, for random documents', () => {
    const text = fc.constantFrom('x', '&amp;', ' ', '>', '"', "'");
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', maxDepth: 70 },
        text,
        fc.constantFrom('<!--<a>-->', '<![CDATA[<a></a>]]>', '<b/>', `<c x=">" y='&lt;'/>`),
        fc
          .tuple(fc.constantFrom('a', 'p:a', 'b'), fc.array(tie('node'), { maxLength: 3 }))
          .map(
            ([name, children]) =>
              `<${name}${name.includes(':') ? ' xmlns:p="urn:p"' : ''}>${children.join('')}</${name}>`,
          ),
      ),
    })).node;
    const chain = fc
      .tuple(fc.integer({ min: 55, max: 70 }), tree)
      .map(([levels, inner]) => `<r>${'<a>'.repeat(levels)}${inner}${'</a>'.repeat(levels)}</r>`);
    const seen = { refused: 0, taken: 0 };
    fc.assert(
      fc.property(chain, (xml) => {
        const doc = new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;
        let deepest = 0;
        const stack: [Element, number][] = [[doc.documentElement, 1]];
        while (stack.length > 0) {
          const [e, d] = stack.pop() as [Element, number];
          deepest = Math.max(deepest, d);
          for (let c = e.firstChild; c; c = c.nextSibling)
            if (c.nodeType === 1) stack.push([c as Element, d + 1]);
        }
        const refused = deepest > MAX_DOCUMENT_DEPTH;
        seen[refused ? 'refused' : 'taken']++;
        expect(codeOf(() => parseUntrustedXml(xml))).toBe(refused ? 'xml_too_deep' : undefined);
      }),
      { numRuns: 300 },
    );
    // Both sides of the bound were exercised.
    expect(seen.refused).toBeGreaterThan(20);
    expect(seen.taken).toBeGreaterThan(20);
  });
});

describe('descendants and wholeText', () => {
  it('walk in document order without recursion', () => {
    const doc = parseUntrustedXml(
      '<r xmlns:p="urn:p"><p:a i="1"><b><p:a i="2">x<!--c-->y</p:a></b></p:a>z<![CDATA[w]]><p:a i="3"/></r>',
    );
    expect(descendants(doc, 'urn:p', 'a').map((e) => e.getAttribute('i'))).toEqual(['1', '2', '3']);
    expect(descendants(doc, '*', '*')).toHaveLength(5);
    expect(descendants(doc.documentElement, '*', 'b')).toHaveLength(1);
    expect(wholeText(doc.documentElement)).toBe('xyzw');
  });
});
