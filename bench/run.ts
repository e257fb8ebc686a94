/**
 * `npm run bench`: per-protocol login cost beside raw library baselines, DynamoDB requests and
 * capacity per login, cost per million logins, bundle sizes and cold starts. Prints a table and
 * writes bench/results.json. Not part of `npm test`: speed is measured here, never in timed tests.
 * See bench/README.md for what each number means.
 *
 * Environment: BENCH_QUICK=1 (a fast smoke run, fewer iterations), BENCH_PROFILE=1 (CPU profiles
 * of the warm handlers, the raw libraries and every cold start, written to a temp dir and
 * summarised in results.json), BENCH_AWS_SDK=bundled|runtime (bundle the AWS SDK or leave it to the
 * runtime, whatever infra/function.ts says, to compare cold starts).
 */
// Errors only: a 5xx during a run shows its cause; nothing else is logged.
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_DEV = 'false';

const { main } = await import('./main.ts');
await main();

export {};
