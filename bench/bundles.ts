import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { FUNCTIONS, type FunctionName } from '../shared/routes.ts';
import { type ProfileSummary, summarizeProfile } from './lib/profile.ts';
import { round } from './lib/stats.ts';

/**
 * Bundle size and cold start. Each functions/*.ts is bundled the way infra/function.ts has CDK do
 * it (esbuild: platform node, target node22, ESM, minified, external source map without sources,
 * the createRequire banner, and the AWS SDK bundled or left to the runtime as `bundleAwsSDK`
 * says there), and a hello-world handler the same way. Cold start: a fresh `node` process (Node
 * 22, with the NODE_OPTIONS the function sets) imports the bundle and runs its first invocation
 * against the running DynamoDB Local and a loopback Secrets Manager / EventBridge; the time is
 * from process start (performance.timeOrigin) to the end of that invocation, median of a few runs.
 * The bundles are written under node_modules/.cache so that an SDK left out of them resolves to
 * this project's copy, as it resolves to the runtime's in Lambda.
 */
export const REPO = resolve(import.meta.dirname, '..');

const BANNER = "import { createRequire } from 'module';const require = createRequire(import.meta.url);";

/** infra/function.ts's stand-in for the SES client in functions that send no mail. */
const MAIL_ABSENT = join(REPO, 'infra', 'mail-absent.ts');

/** The settings of infra/function.ts this benchmark follows, read from its source. */
export interface Bundling {
  /** The functions built with the AWS SDK left to the runtime (the others bundle it). */
  runtimeSdk: string[];
  sourceMap: boolean;
  nodeOptions: string;
  /** The bundle budgets in bytes (`default` and per function), from BUNDLE_BUDGET_BYTES there. */
  budgets: Record<string, number>;
}

export function infraBundling(names: string[]): Bundling {
  const source = readFileSync(join(REPO, 'infra/function.ts'), 'utf8');
  // infra/function.ts: `RUNTIME_SDK = new Set([...])` lists the functions that do not bundle it.
  const listed = /RUNTIME_SDK = new Set\(\[([^\]]*)\]\)/.exec(source)?.[1] ?? '';
  const runtimeSdk = [...listed.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
  // BENCH_AWS_SDK=bundled|runtime overrides infra's choice for every function, to compare the two.
  const override = process.env.BENCH_AWS_SDK;
  // `BUNDLE_BUDGET_BYTES ... = { default: 1_000_000, oauth: 1_500_000, 'oauth-logout': ... }`
  const budgetBlock = /BUNDLE_BUDGET_BYTES[^=]*=\s*\{([^}]*)\}/.exec(source)?.[1] ?? '';
  const budgets = Object.fromEntries(
    [...budgetBlock.matchAll(/'?([\w-]+)'?\s*:\s*([\d_]+)/g)].map((m) => [
      m[1] as string,
      Number((m[2] as string).replaceAll('_', '')),
    ]),
  );
  return {
    budgets,
    runtimeSdk: override === 'bundled' ? [] : override === 'runtime' ? names : runtimeSdk,
    sourceMap: !/sourceMap:\s*false/.test(source),
    nodeOptions: /NODE_OPTIONS:\s*'([^']*)'/.exec(source)?.[1] ?? '',
  };
}

export interface BundleResult {
  bytes: number;
  /** Process start → bundle imported → first invocation done (the issue's "importMs"). */
  importMs: number;
  /** Of that: process start → the bundle's module evaluated. */
  loadMs: number;
  /** Of that: the first invocation alone. */
  firstInvokeMs: number;
  status: string;
  /** The largest packages in the bundle (bytes in the output), from the metafile. */
  topPackages: { name: string; bytes: number }[];
  /** With BENCH_PROFILE: one more cold start under `node --cpu-prof`, summarised. */
  profile?: ProfileSummary;
}

export type ColdEvent = () => Promise<unknown> | unknown;

async function bundle(
  entry: string,
  outdir: string,
  bundleAwsSdk: boolean,
  sourceMap: boolean,
  mail: boolean,
): Promise<{ file: string; metafile: Metafile }> {
  const file = join(outdir, 'index.mjs');
  const out = await build({
    entryPoints: [entry],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    minify: true,
    sourcemap: sourceMap,
    sourcesContent: false,
    // CDK's default externals when the SDK is not bundled (the runtime provides v3).
    external: bundleAwsSdk ? [] : ['@aws-sdk/*'],
    // as infra/function.ts: the SES client only where the spec declares mail, a stand-in elsewhere
    ...(mail ? {} : { alias: { '@aws-sdk/client-sesv2': MAIL_ABSENT } }),
    mainFields: ['module', 'main'],
    banner: { js: BANNER },
    metafile: true,
    logLevel: 'silent',
  });
  return { file, metafile: out.metafile };
}

/** The JavaScript output's size as esbuild's metafile records it (the .map is not loaded code). */
const outputBytes = (metafile: Metafile): number | undefined =>
  Object.entries(metafile.outputs).find(([file]) => file.endsWith('.mjs'))?.[1].bytes;

function topPackages(metafile: Metafile, top = 5): { name: string; bytes: number }[] {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name =
        [...input.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].at(-1)?.[1] ??
        `(ours) ${input.split('/')[0]}`;
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, bytes]) => ({ name, bytes }));
}

/** What the fresh process runs: import, one invocation, timings on stdout. */
const CHILD = `
const loaded = await import(process.argv[2]);
const t1 = performance.now();
const event = JSON.parse(process.env.BENCH_EVENT);
const context = { functionName: 'bench', awsRequestId: 'cold', memoryLimitInMB: '1024',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:bench',
  getRemainingTimeInMillis: () => 15000, callbackWaitsForEmptyEventLoop: false };
let status;
try {
  const result = await loaded.handler(event, context);
  status = String(result?.statusCode ?? 'ok');
} catch (error) {
  status = 'threw: ' + (error?.message ?? String(error));
}
const t2 = performance.now();
process.stdout.write('\\nBENCH ' + JSON.stringify({ loadMs: t1, importMs: t2, firstInvokeMs: t2 - t1, status }) + '\\n');
process.exit(0);
`;

const nodeBinary = () => {
  const local = join(REPO, 'node_modules/.bin/node');
  return existsSync(local) ? local : process.execPath;
};

async function coldRun(
  childFile: string,
  bundleFile: string,
  event: unknown,
  env: Record<string, string>,
  profileDir?: string,
): Promise<{ loadMs: number; importMs: number; firstInvokeMs: number; status: string }> {
  const profile = profileDir
    ? ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', profileDir]
    : [];
  const child = spawn(nodeBinary(), [...profile, childFile, bundleFile], {
    cwd: dirname(bundleFile),
    env: { ...env, BENCH_EVENT: JSON.stringify(event) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const code = await new Promise<number | null>((done) => child.once('exit', done));
  const line = out.split('\n').find((l) => l.startsWith('BENCH '));
  if (!line) throw new Error(`cold start of ${bundleFile} failed (${code}): ${err.slice(-2000)}`);
  return JSON.parse(line.slice('BENCH '.length));
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] as number;
};

export async function benchBundles(options: {
  /** A fresh first-invocation event per function (by name), made just before each run. */
  events: Record<string, ColdEvent>;
  env: Record<string, string>;
  runs: number;
  profileDir?: string;
}): Promise<{
  bundles: Record<string, BundleResult>;
  helloImportMs: number;
  helloBytes: number;
  bundling: Bundling;
}> {
  await mkdir(join(REPO, 'node_modules/.cache'), { recursive: true });
  const dir = await mkdtemp(join(REPO, 'node_modules/.cache/sso-bench-bundles-'));
  try {
    const childFile = join(dir, 'cold-start.mjs');
    await writeFile(childFile, CHILD);
    const helloEntry = join(dir, 'hello.mjs');
    await writeFile(helloEntry, "export const handler = async () => ({ statusCode: 200, body: 'hello' });\n");

    const names = (await readdir(join(REPO, 'functions')))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => basename(f, '.ts'))
      .sort();
    const settings = infraBundling(names);
    const built: Record<string, { file: string; metafile: Metafile }> = {};
    for (const name of [...names, 'hello']) {
      const outdir = join(dir, name);
      await mkdir(outdir, { recursive: true });
      built[name] = await bundle(
        name === 'hello' ? helloEntry : join(REPO, 'functions', `${name}.ts`),
        outdir,
        !settings.runtimeSdk.includes(name),
        settings.sourceMap,
        name in FUNCTIONS && FUNCTIONS[name as FunctionName].mail,
      );
    }

    const cold = async (name: string) => {
      const b = built[name];
      if (!b) throw new Error(`no bundle for ${name}`);
      const env = {
        ...options.env,
        POWERTOOLS_SERVICE_NAME: `sso-${name}`,
        ...(settings.nodeOptions ? { NODE_OPTIONS: settings.nodeOptions } : {}),
      };
      const event = async () => (name === 'hello' ? {} : await (options.events[name]?.() ?? {}));
      const runs = [];
      for (let i = 0; i < options.runs; i++) runs.push(await coldRun(childFile, b.file, await event(), env));
      let profile: ProfileSummary | undefined;
      if (options.profileDir) {
        const dir = join(options.profileDir, `cold-${name}`);
        await coldRun(childFile, b.file, await event(), env, dir);
        const [file] = await readdir(dir);
        if (file) profile = await summarizeProfile(join(dir, file));
      }
      return {
        ...(profile ? { profile } : {}),
        importMs: round(median(runs.map((r) => r.importMs)), 1),
        loadMs: round(median(runs.map((r) => r.loadMs)), 1),
        firstInvokeMs: round(median(runs.map((r) => r.firstInvokeMs)), 1),
        status: [...new Set(runs.map((r) => r.status))].join('/'),
      };
    };

    const hello = await cold('hello');
    const bundles: Record<string, BundleResult> = {};
    for (const name of names) {
      const b = built[name];
      if (!b) continue;
      bundles[name] = {
        bytes: outputBytes(b.metafile) ?? (await stat(b.file)).size,
        ...(await cold(name)),
        topPackages: topPackages(b.metafile),
      };
    }
    const helloBuilt = built.hello;
    return {
      bundles,
      bundling: settings,
      helloImportMs: hello.importMs,
      helloBytes: helloBuilt ? (await stat(helloBuilt.file)).size : 0,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
