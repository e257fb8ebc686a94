import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCodeEntry, errorCatalogue, isErrorCode } from '../../shared/error-codes.ts';
import { AppError } from '../../shared/errors.ts';

/**
 * The catalogue against the source: every code a throw site names is catalogued, with a status the
 * catalogue gives it, and every catalogued code is thrown somewhere (or marked reserved). The type
 * checker already refuses an unknown code passed to AppError; this also covers what it cannot see
 * (the local server's own envelopes, a status written at the throw site).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const SOURCE_DIRS = ['shared', 'functions', 'local'];
const CATALOGUE_FILE = join('shared', 'error-codes.ts');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && path !== CATALOGUE_FILE ? [path] : [];
  });
}

interface Use {
  code: string;
  /** The status written at the throw site, when it names one. */
  status?: number;
  where: string;
}

// `new AppError(400, 'code'`, `super(503, 'code'`, `refuse(400, 'code'`, `envelope(res, 405, 'code'`:
// a status then a code, in any call.
const STATUS_THEN_CODE = /\(\s*(?:res\s*,\s*)?(\d{3})\s*,\s*'([a-z][a-z0-9_]*)'/g;
// `new AppError('code'`, and the ports' 503 helpers that take a code first.
const CODE_FIRST =
  /(?:new AppError|super|callAws|serviceUnavailable|Errors\.unavailable)\(\s*'([a-z][a-z0-9_]*)'/g;

const uses: Use[] = SOURCE_DIRS.flatMap(sourceFiles).flatMap((file) => {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const line = (index: number) =>
    `${relative(ROOT, join(ROOT, file))}:${text.slice(0, index).split('\n').length}`;
  return [
    ...[...text.matchAll(STATUS_THEN_CODE)].map((m) => ({
      code: m[2] as string,
      status: Number(m[1]),
      where: line(m.index),
    })),
    ...[...text.matchAll(CODE_FIRST)].map((m) => ({ code: m[1] as string, where: line(m.index) })),
  ];
});

const entries: [string, ErrorCodeEntry][] = Object.entries(ERROR_CODES);
const statusesOf = (entry: ErrorCodeEntry) => [entry.status, ...(entry.alsoStatus ?? [])];

describe('the error catalogue', () => {
  it('finds the throw sites it checks', () => {
    expect(uses.length).toBeGreaterThan(100);
    expect(uses.map((u) => u.code)).toEqual(
      expect.arrayContaining(['not_found', 'xml_too_deep', 'mail_unavailable']),
    );
  });

  it('lists every code the source throws', () => {
    const unknown = uses.filter((u) => !isErrorCode(u.code)).map((u) => `${u.code} at ${u.where}`);
    expect(unknown).toEqual([]);
  });

  it('gives every code the status its throw sites answer with', () => {
    const mismatched = uses
      .filter((u) => u.status !== undefined && isErrorCode(u.code))
      .filter(
        (u) => !statusesOf(ERROR_CODES[u.code as keyof typeof ERROR_CODES]).includes(u.status as number),
      )
      .map((u) => `${u.code} ${u.status} at ${u.where}`);
    expect(mismatched).toEqual([]);
  });

  it('has every entry thrown somewhere, or marked reserved (and a reserved one thrown nowhere)', () => {
    const used = new Set(uses.map((u) => u.code));
    const unused = entries.filter(([code, e]) => !used.has(code) && !e.reserved).map(([code]) => code);
    expect(unused).toEqual([]);
    const reservedButUsed = entries.filter(([code, e]) => used.has(code) && e.reserved).map(([code]) => code);
    expect(reservedButUsed).toEqual([]);
  });

  it('keeps each alternative status in use: an alsoStatus nobody throws is dropped', () => {
    const stale = entries.flatMap(([code, e]) =>
      (e.alsoStatus ?? [])
        .filter((s) => s === e.status || !uses.some((u) => u.code === code && u.status === s))
        .map((s) => `${code} ${s}`),
    );
    expect(stale).toEqual([]);
  });

  it('documents every entry: snake_case code, an error status, one line of meaning', () => {
    for (const { code, entry } of errorCatalogue()) {
      expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
      for (const status of statusesOf(entry)) {
        expect(status, code).toBeGreaterThanOrEqual(400);
        expect(status, code).toBeLessThan(600);
      }
      expect(entry.meaning, code).toMatch(/^[A-Z`].{10,200}\.$/);
      expect(entry.meaning, code).not.toMatch(/\n/);
    }
  });

  it('is where AppError takes its status from when the throw site names none', () => {
    expect(new AppError('store_unavailable', 'x')).toMatchObject({ status: 503, expose: false });
    expect(new AppError('not_found', 'x')).toMatchObject({ status: 404, code: 'not_found', expose: true });
    expect(new AppError(401, 'idp_error', 'x', { details: { a: 1 } })).toMatchObject({
      status: 401,
      code: 'idp_error',
      details: { a: 1 },
    });
    const cause = new Error('root');
    expect(new AppError('internal_error', 'x', { cause }).cause).toBe(cause);
  });
});
