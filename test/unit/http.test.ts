import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { prefersHtml } from '../../shared/http/negotiate.ts';
import { parseCookies } from '../../shared/http/request.ts';
import { escapeHtml } from '../../shared/http/responses.ts';
import { mergePatch } from '../../shared/merge-patch.ts';

describe('prefersHtml', () => {
  it.each([
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', true],
    ['application/json', false],
    ['*/*', false],
    [undefined, false],
    ['application/json, text/html', false],
    ['text/html;q=0.5, application/json', false],
    ['text/html;q=0', false],
    ['TEXT/HTML', true],
  ])('%s → %s', (accept, expected) => {
    expect(prefersHtml(accept)).toBe(expected);
  });
});

describe('mergePatch (RFC 7396)', () => {
  it('follows the RFC examples', () => {
    expect(mergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({
      a: 'z',
      c: { d: 'e' },
    });
    expect(mergePatch({ a: [1] }, { a: [2, 3] })).toEqual({ a: [2, 3] });
    expect(mergePatch({ a: 'b' }, ['c'])).toEqual(['c']);
  });

  it('replaces objects below the given depth', () => {
    expect(mergePatch({ o: { a: 1, b: 2 } }, { o: { a: 3 } }, 1)).toEqual({ o: { a: 3 } });
  });

  it('never touches a prototype', () => {
    const patched = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<
      string,
      unknown
    >;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(patched)).toBe(Object.prototype);
    expect(Object.keys(patched)).toEqual(['__proto__']);
  });

  it('leaves its inputs unchanged', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (target, patch) => {
        const [t, p] = [structuredClone(target), structuredClone(patch)];
        mergePatch(target, patch);
        expect(target).toEqual(t);
        expect(patch).toEqual(p);
      }),
    );
  });
});

describe('parseCookies', () => {
  it('keeps the first of repeated names and decodes values', () => {
    expect(parseCookies(['a=1; b=x%20y', 'a=2', 'junk', '=novalue', 'q="quoted"'])).toEqual({
      a: '1',
      b: 'x y',
      q: 'quoted',
    });
  });
});

describe('escapeHtml', () => {
  it('escapes markup and quotes', () => {
    expect(escapeHtml(`<script>alert("x")</script>&'`)).toBe(
      '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;',
    );
  });
});
