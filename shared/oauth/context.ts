import { AsyncLocalStorage } from 'node:async_hooks';
import type { Application } from '../applications/model.ts';
import type { AppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Membership } from '../identity/model.ts';
import type { SessionClaims } from '../identity/sessions.ts';
import type { SessionRecord } from '../store/sessions.ts';

/**
 * What one OpenID Provider request knows beyond the library's own models, kept for the duration of
 * the request (the library's hooks run deep inside it): the house request, the sign-in session
 * (sso_session) once checked, and what the adapter read of grants (tenant and session behind them).
 */
export interface SignedIn {
  claims: SessionClaims;
  record: SessionRecord;
  membership: Membership;
}

export interface GrantLinks {
  tenantId: string;
  ssoSid: string;
}

export interface OAuthRequestContext {
  request: HttpRequest;
  /** undefined: not checked yet; null: checked, no valid sign-in session. */
  signedIn?: SignedIn | null;
  /** Grant id → the tenant and sign-in session it stands on, as the adapter read or wrote them. */
  grants: Map<string, GrantLinks>;
  /** Applications read in this request, by client id (null: none such). */
  applications: Map<string, Application | null>;
  /** Grants whose artifacts this request already deleted. */
  revoked: Set<string>;
  /** The links of an OP session the library destroyed to save it under a new id. */
  renamedSession?: GrantLinks;
  /** The sign-in session a new grant or OP session is about to be linked to. */
  linkTo?: GrantLinks;
  /** A store or secrets outage the library swallowed into a server_error: answered as our 503. */
  outage?: AppError;
}

const storage = new AsyncLocalStorage<OAuthRequestContext>();

export const runInContext = <T>(context: OAuthRequestContext, work: () => Promise<T>): Promise<T> =>
  storage.run(context, work);

/** The current request's context; outside a request (the logout consumer) there is none. */
export const currentContext = (): OAuthRequestContext | undefined => storage.getStore();

/** A fresh context for one request. */
export const newContext = (request: HttpRequest): OAuthRequestContext => ({
  request,
  grants: new Map(),
  applications: new Map(),
  revoked: new Set(),
});
