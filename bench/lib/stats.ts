/** Small statistics over timing samples, in milliseconds. */
export interface Summary {
  n: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function summarize(samples: readonly number[]): Summary {
  const mean = samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length);
  return {
    n: samples.length,
    p50Ms: round(percentile(samples, 50)),
    p99Ms: round(percentile(samples, 99)),
    meanMs: round(mean),
    minMs: round(Math.min(...samples)),
  };
}

export const round = (value: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** Milliseconds since an origin, with sub-millisecond resolution. */
export const now = (): number => performance.now();

/**
 * CPU time (user + system, all threads of this process) in ms. Logins per second "on one core"
 * are iterations divided by the CPU seconds they consumed here: what one core sustains once the
 * waits on DynamoDB, the IdP or the directory overlap with other requests.
 */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Runs the sides (ours, raw, …) round-robin over the same inputs, so each sees the same machine
 * state (GC, DynamoDB Local's JIT, CPU frequency) and drift cancels out; the side that goes first
 * rotates. `prepare`, when given, turns each input into what the sides take, outside the timing
 * (e.g. walking an OIDC login up to the callback, just before the code is used). Returns each
 * side's samples and the CPU ms it consumed.
 */
export async function interleave<T, K extends string, P = T>(
  inputs: readonly T[],
  sides: Record<K, (input: P, i: number) => Promise<unknown>>,
  prepare: (input: T, i: number) => Promise<P> | P = (input) => input as unknown as P,
): Promise<Record<K, { samples: number[]; cpuMs: number }>> {
  const names = Object.keys(sides) as K[];
  const out = Object.fromEntries(names.map((n) => [n, { samples: [] as number[], cpuMs: 0 }])) as Record<
    K,
    { samples: number[]; cpuMs: number }
  >;
  for (const [i, input] of inputs.entries()) {
    const prepared = await prepare(input, i);
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] as K;
      const c0 = cpuMs();
      const t0 = now();
      await sides[name](prepared, i);
      const t1 = now();
      out[name].samples.push(t1 - t0);
      out[name].cpuMs += cpuMs() - c0;
    }
  }
  return out;
}

export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/**
 * Our handler's own time: each login's duration minus the time it spent in DynamoDB calls, then
 * the p50 (and the same over raw's p50), to split the protocol and identity work from storage.
 */
export function ownTime(samples: readonly number[], dbMs: readonly number[], baselineP50Ms: number) {
  const own = samples.map((ms, i) => ms - (dbMs[i] ?? 0));
  const ownP50Ms = round(percentile(own, 50));
  return {
    dynamoP50Ms: round(percentile(dbMs, 50)),
    ownP50Ms,
    ownRatio: round(ownP50Ms / baselineP50Ms, 2),
  };
}
