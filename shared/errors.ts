import { ERROR_CODES, type ErrorCode, type UnavailableCode } from './error-codes.ts';

export type { ErrorCode } from './error-codes.ts';

/**
 * One error type for everything the service refuses on purpose. `code` is stable and part of the
 * public contract: an entry of the catalogue in error-codes.ts, which also gives its status and
 * meaning. `message` is safe to show; `cause` and `detail` stay in the logs. Errors that are not
 * `expose`d (5xx by default) reach the client as a generic message.
 */
export interface AppErrorOptions {
  cause?: unknown;
  /** Safe, structured detail for the client (e.g. which field failed validation). */
  details?: unknown;
  /** Whether `message` may reach the client. Defaults to true below 500. */
  expose?: boolean;
  /** Extra response headers, e.g. Retry-After. */
  headers?: Record<string, string>;
}

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  /** A refusal with the status the catalogue gives its code: `new AppError('not_found', '…')`. */
  constructor(code: ErrorCode, message: string, options?: AppErrorOptions);
  /**
   * A refusal whose status is named at the throw site: one the catalogue lists for the code (its
   * `status` or an `alsoStatus`; test/unit/error-catalogue.test.ts checks every literal one).
   */
  constructor(status: number, code: ErrorCode, message: string, options?: AppErrorOptions);
  constructor(
    first: number | ErrorCode,
    second: string,
    third?: string | AppErrorOptions,
    fourth?: AppErrorOptions,
  ) {
    const named = typeof first === 'number';
    const code = (named ? second : first) as ErrorCode;
    const message = named ? (third as string) : second;
    const options = (named ? fourth : (third as AppErrorOptions | undefined)) ?? {};
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = named ? first : ERROR_CODES[code].status;
    this.code = code;
    this.expose = options.expose ?? this.status < 500;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;

/**
 * How deep a document from outside may nest (XML elements; JSON arrays and objects). Real SAML
 * messages, metadata and request bodies stay well under it; past it, a recursive walk (a DOM
 * helper, zod, a merge, the DynamoDB marshaller) could exhaust the stack and answer 500.
 */
export const MAX_DOCUMENT_DEPTH = 64;

/** Constructors for the codes used in more than one place. */
export const Errors = {
  invalidRequest: (message: string, details?: unknown) =>
    new AppError('invalid_request', message, { details }),
  unauthorized: (message = 'Authentication is required.') => new AppError('unauthorized', message),
  forbidden: (message = 'You are not allowed to do this.') => new AppError('forbidden', message),
  notFound: (what: string) => new AppError('not_found', `${what} was not found.`),
  alreadyExists: (what: string) => new AppError('already_exists', `${what} already exists.`),
  versionConflict: () =>
    new AppError(
      'version_conflict',
      'The resource was changed by someone else; read it again and retry with its current version.',
    ),
  internal: (cause: unknown) =>
    new AppError('internal_error', 'Something went wrong on our side.', { cause, expose: false }),
  unavailable: (code: UnavailableCode, message: string, cause?: unknown) =>
    new AppError(code, message, { cause }),
  jsonTooDeep: () =>
    new AppError(
      'json_too_deep',
      `The JSON nests arrays and objects deeper than ${MAX_DOCUMENT_DEPTH} levels.`,
    ),
};
