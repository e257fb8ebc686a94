/**
 * One error type for everything the service refuses on purpose. `code` is stable and part of the
 * public contract; `message` is safe to show; `cause` and `detail` stay in the logs. Errors that are
 * not `expose`d (5xx by default) reach the client as a generic message.
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
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly details: unknown;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.code = code;
    this.expose = options.expose ?? status < 500;
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
    new AppError(400, 'invalid_request', message, { details }),
  unauthorized: (message = 'Authentication is required.') => new AppError(401, 'unauthorized', message),
  forbidden: (message = 'You are not allowed to do this.') => new AppError(403, 'forbidden', message),
  notFound: (what: string) => new AppError(404, 'not_found', `${what} was not found.`),
  alreadyExists: (what: string) => new AppError(409, 'already_exists', `${what} already exists.`),
  versionConflict: () =>
    new AppError(
      409,
      'version_conflict',
      'The resource was changed by someone else; read it again and retry with its current version.',
    ),
  internal: (cause: unknown) =>
    new AppError(500, 'internal_error', 'Something went wrong on our side.', { cause, expose: false }),
  unavailable: (code: string, message: string, cause?: unknown) =>
    new AppError(503, code, message, { cause }),
  jsonTooDeep: () =>
    new AppError(
      400,
      'json_too_deep',
      `The JSON nests arrays and objects deeper than ${MAX_DOCUMENT_DEPTH} levels.`,
    ),
};
