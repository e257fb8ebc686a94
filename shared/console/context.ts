import { AppError, Errors } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import type { Runtime } from '../runtime.ts';
import type { Tenant } from '../tenants/model.ts';
import type { ConsoleCaller, SessionCaller } from './auth.ts';
import type { ConsoleCsrf } from './csrf.ts';
import type { Form } from './form.ts';
import { esc, hidden } from './layout.ts';

/** What a console page works with: the verified caller, the tenant, the request, the CSRF token. */
export interface Ctx {
  rt: Runtime;
  request: HttpRequest;
  caller: ConsoleCaller;
  tenant: Tenant;
  csrf: ConsoleCsrf;
  /** `/console/{tenantId}`. */
  base: string;
  /** The path segment after the section, when the route has one. */
  itemId: string | undefined;
  /** This page's path, rebuilt from the checked segments (forms post back to it). */
  path: string;
}

/** A rendered page body; the router wraps it in the frame. */
export interface Rendered {
  title: string;
  body: string;
  status?: number;
}

/** What a POST ends with: back to a page (Post/Redirect/Get, `done` names the flash) or a page now. */
export type PostResult = { redirect: string; done: string } | Rendered;

export interface PageState {
  /** The values a refused form was sent with, to fill it again. */
  values?: Form | undefined;
  error?: AppError | undefined;
}

export interface SectionHandler {
  get(ctx: Ctx, state: PageState): Promise<Rendered>;
  post?(ctx: Ctx, form: Form): Promise<PostResult>;
}

/** The opening of a form that posts to the console: CSRF field included. */
export const formStart = (ctx: Ctx, action: string, over: { path?: string; id?: string } = {}) =>
  `<form method="post" action="${esc(over.path ?? ctx.path)}"${over.id ? ` id="${over.id}"` : ''}>${hidden('csrf', ctx.csrf.value)}${hidden('action', action)}`;

/** A fieldset that an auditor sees greyed out (the server refuses their posts anyway). */
export const managed = (ctx: Ctx, inner: string, legend?: string) =>
  `<fieldset${legend ? '' : ' class="plain"'}${ctx.caller.canManage ? '' : ' disabled'}>${legend ? `<legend>${legend}</legend>` : ''}${inner}</fieldset>`;

/** Disabled attribute for an auditor's buttons. */
export const disabledFor = (ctx: Ctx) => (ctx.caller.canManage ? '' : ' disabled');

/** A form whose action the page does not know. */
export const unknownAction = () =>
  new AppError('invalid_request', 'This form asks for something the page does not do.');

/**
 * The signed-in person, for the pages that act as a person (their API tokens, the roles they may
 * grant): never a setup link, which the router keeps to the SSO pages anyway.
 */
export function personOf(ctx: Ctx): SessionCaller {
  if (ctx.caller.kind !== 'session') throw Errors.forbidden('A setup link opens the SSO pages only.');
  return ctx.caller;
}
