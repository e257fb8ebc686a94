import { readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * CPU profiles: of a warm section in this process (the in-process twin of `node --cpu-prof`), or
 * of a cold-start process run with `--cpu-prof`. The .cpuprofile files open in Chrome DevTools or
 * speedscope; the summary says where self time went, by package and by function.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: (ProfileNode & { children?: number[] })[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  /** Samples where the thread waited (DynamoDB, the IdP, the directory), % of all samples. */
  idlePct: number;
  /** Share of busy self time per package (`ours`, `node:` internals, `(gc)`, `(native)`, …), in %. */
  byPackage: { name: string; pct: number }[];
  /** The functions with the most busy self time, in %. */
  top: { fn: string; where: string; pct: number }[];
}

let session: Session | undefined;

async function connected(): Promise<Session> {
  if (!session) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
  }
  return session;
}

/** Runs fn under the profiler and writes `{dir}/{name}.cpuprofile`. */
export async function profileSection(
  dir: string,
  name: string,
  fn: () => Promise<void>,
): Promise<ProfileSummary> {
  const s = await connected();
  await s.post('Profiler.start');
  try {
    await fn();
  } finally {
    const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    await writeFile(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
  return summarizeProfile(join(dir, `${name}.cpuprofile`));
}

/**
 * Profiles only the timed part of each of `n` rounds (`prepare` runs outside the profiler, e.g.
 * walking an OIDC login to its callback) and writes the rounds as one profile: their trees under
 * one root, their samples one after the other.
 */
export async function profileEach<P>(
  dir: string,
  name: string,
  n: number,
  prepare: () => Promise<P>,
  run: (prepared: P) => Promise<void>,
): Promise<ProfileSummary> {
  const s = await connected();
  const merged: CpuProfile = {
    nodes: [{ id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [] }],
    startTime: 0,
    endTime: 0,
    samples: [],
    timeDeltas: [],
  };
  let offset = 1;
  for (let i = 0; i < n; i++) {
    const prepared = await prepare();
    await s.post('Profiler.start');
    try {
      await run(prepared);
    } finally {
      const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: CpuProfile };
      if (i === 0) merged.startTime = profile.startTime;
      merged.endTime += profile.endTime - profile.startTime;
      const root = profile.nodes[0];
      for (const node of profile.nodes) {
        merged.nodes.push({
          ...node,
          id: node.id + offset,
          ...(node.children ? { children: node.children.map((c) => c + offset) } : {}),
        });
      }
      if (root) merged.nodes[0]?.children?.push(root.id + offset);
      merged.samples?.push(...(profile.samples ?? []).map((id) => id + offset));
      merged.timeDeltas?.push(...(profile.timeDeltas ?? []));
      offset += Math.max(...profile.nodes.map((x) => x.id));
    }
  }
  merged.endTime += merged.startTime;
  const file = join(dir, `${name}.cpuprofile`);
  await writeFile(file, JSON.stringify(merged));
  return summarizeProfile(file);
}

const packageOf = (node: ProfileNode): string => {
  const url = node.callFrame.url;
  // The innermost package: xml-crypto's own copy of xpath counts as xpath.
  const pkg = [...url.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].at(-1)?.[1];
  if (pkg) return pkg;
  if (url.startsWith('node:')) return 'node:';
  if (url.includes('/shared/') || url.includes('/functions/')) return 'ours';
  if (url) return url.split('/').pop() ?? url;
  const fn = node.callFrame.functionName;
  return fn === '(garbage collector)' ? '(gc)' : fn.startsWith('(') ? fn : '(native)';
};

export async function summarizeProfile(file: string, top = 10): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    if (node.callFrame.functionName === '(idle)') {
      idle += hits;
      continue;
    }
    total += hits;
    const pkg = packageOf(node);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + hits);
    const f = node.callFrame;
    const where = f.url
      ? `${f.url.replace(/^.*node_modules\//, '').replace(/^.*\/main\//, '')}:${f.lineNumber + 1}`
      : '';
    const key = `${f.functionName || '(anonymous)'}\t${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
  }
  const pct = (hits: number) => Math.round((hits / Math.max(1, total)) * 1000) / 10;
  return {
    file,
    idlePct: Math.round((idle / Math.max(1, idle + total)) * 1000) / 10,
    byPackage: [...byPackage.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, hits]) => ({ name, pct: pct(hits) })),
    top: [...byFunction.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, hits]) => {
        const [fn = '', where = ''] = key.split('\t');
        return { fn, where, pct: pct(hits) };
      }),
  };
}
