import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layering, read from the import graph (docs/architecture.md, "Layers"):
 *
 *   functions/ → shared entry points (…/http.ts, …-job.ts)
 *   registry (connections/registry.ts) and the server side that dispatches by connection type
 *     → the protocols (saml/, oidc/, ldap/), each importing only the contract
 *     → the contract (connections/contract.ts) and the protocol-blind core (identity/, store/, …)
 *
 * Type-only imports (`import type`, `export type … from`) may point upward: they vanish at run
 * time. Every other arrow points down, and there is no circle.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const PROTOCOLS = ['saml', 'oidc', 'ldap'] as const;
const CONTRACT = 'shared/connections/contract.ts';
const REGISTRY = 'shared/connections/registry.ts';
/** The server side, above the protocols: what dispatches by connection type through the registry. */
const REGISTRY_USERS = new Set([
  'shared/connections/service.ts',
  'shared/connections/secrets.ts',
  'shared/identity/session-service.ts',
]);

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
  /** `import 'x'`: loaded for its side effects only. */
  bare: boolean;
}

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => posix.join(relative(ROOT, e.parentPath).split('\\').join('/'), e.name))
    .sort();
}

/** The repository file an import names, or undefined for a package. */
function resolveSpecifier(from: string, specifier: string): string | undefined {
  if (specifier.startsWith('#shared/')) return `shared/${specifier.slice('#shared/'.length)}`;
  if (!specifier.startsWith('.')) return undefined;
  return relative(ROOT, resolve(ROOT, dirname(from), specifier))
    .split('\\')
    .join('/');
}

function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest);
  const edges: Edge[] = [];
  for (const statement of source.statements) {
    let specifier: ts.Expression | undefined;
    let typeOnly = false;
    let bare = false;
    if (ts.isImportDeclaration(statement)) {
      specifier = statement.moduleSpecifier;
      typeOnly = statement.importClause?.isTypeOnly ?? false;
      bare = statement.importClause === undefined;
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier) {
      specifier = statement.moduleSpecifier;
      typeOnly = statement.isTypeOnly;
    }
    if (!specifier || !ts.isStringLiteral(specifier)) continue;
    const to = resolveSpecifier(file, specifier.text);
    if (to) edges.push({ from: file, to, typeOnly, bare });
  }
  // Dynamic imports of our own files count as arrows too.
  const visit = (node: ts.Node) => {
    if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      const to = resolveSpecifier(file, node.arguments[0].text);
      if (to) edges.push({ from: file, to, typeOnly: false, bare: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

const sharedFiles = filesUnder('shared');
const functionFiles = filesUnder('functions');
const edges = [...sharedFiles, ...functionFiles].flatMap(importsOf);
const runtimeEdges = edges.filter((e) => !e.typeOnly);
const folderOf = (file: string) => file.split('/')[1] ?? '';
const isProtocolFile = (file: string) =>
  file.startsWith('shared/') && (PROTOCOLS as readonly string[]).includes(folderOf(file));

/** Every cycle's first file path found by a depth-first walk, as a readable chain. */
function cycles(among: Edge[]): string[] {
  const next = new Map<string, string[]>();
  for (const e of among) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const walk = (file: string) => {
    state.set(file, 'open');
    stack.push(file);
    for (const to of next.get(file) ?? []) {
      if (state.get(to) === 'open') found.push([...stack.slice(stack.indexOf(to)), to].join(' → '));
      else if (!state.has(to)) walk(to);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of sharedFiles) if (!state.has(file)) walk(file);
  return found;
}

describe('the import graph of shared/ and functions/', () => {
  it('reads the graph (every import resolves to a file that exists)', () => {
    const known = new Set([...sharedFiles, ...functionFiles]);
    expect(sharedFiles.length).toBeGreaterThan(50);
    // The registry's arrows to the three connectors are seen, so the graph is the real one.
    const fromRegistry = edges.filter((e) => e.from === REGISTRY).map((e) => e.to);
    for (const protocol of PROTOCOLS) expect(fromRegistry).toContain(`shared/${protocol}/connector.ts`);
    expect(edges.filter((e) => e.from.startsWith('shared/') && !known.has(e.to))).toEqual([]);
  });

  it('has no import cycle among shared/ files, type-only imports included', () => {
    const shared = edges.filter((e) => e.from.startsWith('shared/') && e.to.startsWith('shared/'));
    expect(cycles(shared)).toEqual([]);
  });

  it('keeps the connector contract free of every protocol and of the registry', () => {
    const out = edges.filter((e) => e.from === CONTRACT).map((e) => e.to);
    expect(out.filter((to) => isProtocolFile(to) || to === REGISTRY)).toEqual([]);
  });

  it('never lets a protocol folder import another protocol, or the registry side except type-only', () => {
    const wrong = edges.filter(
      (e) =>
        isProtocolFile(e.from) &&
        ((isProtocolFile(e.to) && folderOf(e.to) !== folderOf(e.from)) ||
          (!e.typeOnly && (e.to === REGISTRY || REGISTRY_USERS.has(e.to)))),
    );
    expect(wrong.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('lets only the registry import the protocols among the files outside them (type-only aside)', () => {
    const wrong = runtimeEdges.filter(
      (e) =>
        e.from.startsWith('shared/') &&
        !isProtocolFile(e.from) &&
        e.from !== REGISTRY &&
        isProtocolFile(e.to),
    );
    expect(wrong.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('lets only the server side reach the registry', () => {
    const users = runtimeEdges
      .filter((e) => e.to === REGISTRY && e.from.startsWith('shared/'))
      .map((e) => e.from);
    expect([...new Set(users)].filter((f) => !REGISTRY_USERS.has(f))).toEqual([]);
  });

  it('has functions reach a protocol only through its entry points (…http.ts, …-job.ts)', () => {
    const wrong = edges.filter(
      (e) =>
        e.from.startsWith('functions/') &&
        isProtocolFile(e.to) &&
        !/(^|[-/])(http|[a-z-]+-job)\.ts$/.test(e.to),
    );
    expect(wrong.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
    // Functions import shared code and packages only: never another function or a local helper.
    expect(edges.filter((e) => e.from.startsWith('functions/') && !e.to.startsWith('shared/'))).toEqual([]);
  });

  it('has no bare side-effect import in functions/: a capability is declared, never registered by loading a file', () => {
    expect(
      edges.filter((e) => e.from.startsWith('functions/') && e.bare).map((e) => `${e.from} → ${e.to}`),
    ).toEqual([]);
    // Nor anywhere in shared/: nothing registers itself into a table when imported.
    expect(
      edges.filter((e) => e.from.startsWith('shared/') && e.bare).map((e) => `${e.from} → ${e.to}`),
    ).toEqual([]);
  });
});
