import { AsyncLocalStorage } from 'node:async_hooks';
import type { UnavailableCode } from '../error-codes.ts';
import { AppError, isAppError } from '../errors.ts';

/**
 * How long the service waits for an AWS service (DynamoDB, Secrets Manager, EventBridge) before
 * it answers 503 instead. A connection must open within 1 s and an attempt answer within 2 s; a
 * failed attempt is tried once more (after at most ~0.2 s, or ~1 s when throttled), and the whole
 * call, retries included, is cut at 5 s whatever the socket does. So a call to a frozen service
 * gives up after about 4.2 s, to a stopped one at once, and an API request does not outlive the
 * shortest Lambda timeout of a function that uses AWS (10 s, shared/routes.ts).
 */
export const AWS_CALL_LIMITS = {
  connectionTimeoutMs: 1000,
  requestTimeoutMs: 2000,
  maxAttempts: 2,
  deadlineMs: 5000,
} as const;

/** Client options that apply AWS_CALL_LIMITS: spread into every AWS SDK client's constructor. */
export const awsClientOptions = () => ({
  requestHandler: {
    connectionTimeout: AWS_CALL_LIMITS.connectionTimeoutMs,
    requestTimeout: AWS_CALL_LIMITS.requestTimeoutMs,
    // Without it the SDK only logs a warning when requestTimeout passes and keeps waiting.
    throwOnRequestTimeout: true,
  },
  maxAttempts: AWS_CALL_LIMITS.maxAttempts,
});

/** What a client is told to wait (Retry-After, seconds) when an AWS service is out. */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
]);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'AbortError', 'RequestTimeout', 'RequestTimeoutException']);
// The SDK's own list of throttling errors (@smithy/service-error-classification), plus Secrets
// Manager's quota error.
const THROTTLING_NAMES = new Set([
  'BandwidthLimitExceeded',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: number };
  $retryable?: { throttling?: boolean };
}

/**
 * Whether an AWS SDK call failed because the service could not be reached or could not serve it:
 * no connection, a timeout, throttling, or a 5xx. Those are outages (503, retry later). Anything
 * else is the service's answer (a failed condition, a cancelled transaction, a validation error, a
 * missing resource) and stays as thrown, for the adapter that made the call to interpret.
 */
export function isOutage(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || isAppError(error)) return false;
  const e = error as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode;
  if (typeof e.name === 'string' && (TIMEOUT_NAMES.has(e.name) || THROTTLING_NAMES.has(e.name))) return true;
  if (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code)) return true;
  if (e.$retryable?.throttling === true || status === 429) return true;
  if (e.$fault === 'server' || (typeof status === 'number' && status >= 500)) return true;
  return false;
}

/** The 503 an adapter answers for an outage of the service it wraps; the SDK error stays in the logs. */
export const serviceUnavailable = (code: UnavailableCode, message: string, cause: unknown): AppError =>
  new AppError(code, message, {
    cause,
    expose: true,
    headers: { 'retry-after': String(OUTAGE_RETRY_AFTER_SECONDS) },
  });

/**
 * Resolves as `work` does, or rejects with a TimeoutError after `ms`: the caller stops waiting even
 * when the SDK's socket timeouts do not fire (a response that trickles in, a stuck retry).
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(Object.assign(new Error(`${what} did not answer within ${ms} ms`), { name: 'TimeoutError' })),
      ms,
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Outages seen during one request, by service. Once a call has waited for a service and given up,
 * later calls to it in the same request (giving back a login attempt on the way out, say) fail at
 * once: the request is answering 503 anyway, and waiting again would double its time. Scoped to the
 * request, so other requests (the local server runs many at once) still try.
 */
const outages = new AsyncLocalStorage<Map<UnavailableCode, AppError>>();

/** Runs one request's work with its own outage memory (shared/http/handler.ts calls it). */
export const withOutageScope = <T>(work: () => Promise<T>): Promise<T> => outages.run(new Map(), work);

/**
 * Runs one AWS call: bounded by AWS_CALL_LIMITS.deadlineMs, and an outage becomes `code` (503 with
 * Retry-After). Every other error, and an AppError thrown inside, passes through unchanged.
 */
export async function callAws<T>(
  code: UnavailableCode,
  message: string,
  what: string,
  call: () => Promise<T>,
): Promise<T> {
  const seen = outages.getStore();
  const earlier = seen?.get(code);
  if (earlier) throw serviceUnavailable(code, message, earlier);
  try {
    return await withDeadline(call(), AWS_CALL_LIMITS.deadlineMs, what);
  } catch (error) {
    if (!isOutage(error)) throw error;
    const unavailable = serviceUnavailable(code, message, error);
    seen?.set(code, unavailable);
    throw unavailable;
  }
}
