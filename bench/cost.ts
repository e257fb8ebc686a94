import type { DbUsage } from './lib/dynamo.ts';
import { round } from './lib/stats.ts';

/**
 * List prices (USD, us-east-1, on-demand, no free tier), as written in bench/README.md. Change
 * them in both places.
 */
export const PRICES = {
  /** DynamoDB on-demand, per million write / read request units (since the Nov 2024 reduction). */
  dynamoWriteRequestUnitPerMillion: 0.625,
  dynamoReadRequestUnitPerMillion: 0.125,
  /** Lambda on arm64 (Graviton), per GB-second and per million requests; billed per 1 ms. */
  lambdaArmGbSecond: 0.0000133334,
  lambdaRequestPerMillion: 0.2,
  /** API Gateway HTTP API, per million requests (first 300 million a month). */
  httpApiRequestPerMillion: 1.0,
} as const;

export const LAMBDA_MEMORY_GB = 1;

export interface LoginCost {
  totalUsd: number;
  dynamoUsd: number;
  lambdaUsd: number;
  httpApiUsd: number;
}

/**
 * Cost of a million logins: the DynamoDB request units measured per login, one Lambda invocation
 * per HTTP request at its measured duration (rounded up to the billed millisecond) and 1 GB, and
 * the HTTP API requests.
 */
export function costPerMillion(usage: Pick<DbUsage, 'rcu' | 'wcu'>, invocationsMs: number[]): LoginCost {
  const dynamoUsd =
    usage.wcu * PRICES.dynamoWriteRequestUnitPerMillion + usage.rcu * PRICES.dynamoReadRequestUnitPerMillion;
  const gbSeconds = invocationsMs.reduce((sum, ms) => sum + (Math.ceil(ms) / 1000) * LAMBDA_MEMORY_GB, 0);
  const lambdaUsd =
    gbSeconds * PRICES.lambdaArmGbSecond * 1e6 + invocationsMs.length * PRICES.lambdaRequestPerMillion;
  const httpApiUsd = invocationsMs.length * PRICES.httpApiRequestPerMillion;
  return {
    totalUsd: round(dynamoUsd + lambdaUsd + httpApiUsd, 2),
    dynamoUsd: round(dynamoUsd, 2),
    lambdaUsd: round(lambdaUsd, 2),
    httpApiUsd: round(httpApiUsd, 2),
  };
}

export const addUsage = (a: DbUsage, b: DbUsage): DbUsage => ({
  requests: a.requests + b.requests,
  rcu: a.rcu + b.rcu,
  wcu: a.wcu + b.wcu,
  reportedWcu: a.reportedWcu + b.reportedWcu,
  commands: [...a.commands, ...b.commands],
});
