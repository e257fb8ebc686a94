import * as z from 'zod';
import { AppError, Errors, isAppError } from '../errors.ts';
import type { HttpRequest, HttpResult, Operation } from '../http/types.ts';
import { checkSetupLink, openSetupLink, SETUP_COOKIE } from '../identity/setup-links.ts';
import { type Runtime, runtime } from '../runtime.ts';
import { TenantId } from '../tenants/model.ts';
import { getTenant } from '../tenants/service.ts';
import { audit } from './audit.ts';
import { type ConsoleCaller, consoleCaller, consoleCallerOrEnded, SECTIONS, type Section } from './auth.ts';
import { connections } from './connections.ts';
import type { Ctx, PageState, Rendered, SectionHandler } from './context.ts';
import { checkCsrf, checkOrigin, consoleCsrf } from './csrf.ts';
import { domains } from './domains.ts';
import type { Form } from './form.ts';
import { groups } from './groups.ts';
import { bare, errorBox, esc, frame, hidden, page, seeOther } from './layout.ts';
import { settings } from './settings.ts';
import { tokens } from './tokens.ts';
import { users } from './users.ts';

/**
 * The console (GET /console, GET|POST /console/{tenantId}/{section}[/{itemId}]): server-rendered
 * pages for a tenant's owners and admins (auditors look, members are refused), signed in with the
 * `sso_session` cookie. Underneath are the admin services themselves, called with the principal
 * the admin API would build for that session: the same authorization, validation, error codes
 * and audit. Every POST is checked for its origin and CSRF token before anything is read or written.
 */
const SECTION_HANDLERS: Record<Section, SectionHandler> = {
  settings,
  connections,
  domains,
  users,
  groups,
  tokens,
  audit,
};

/** The form every console POST is: the CSRF token, the action, and the page's own fields. */
export const ConsoleForm = z.looseObject({
  csrf: z.string().describe('The value of the sso_console_csrf cookie (double submit).'),
  action: z.string().optional().describe('What the form does on its page (save, enable, delete, …).'),
});

/** GET /console?tenant=: the organization to sign in to when nobody is signed in. */
export const ConsoleHomeQuery = z.looseObject({ tenant: TenantId.optional() });

/** Flash messages a redirect may name (`?done=`); anything else shows nothing. */
const FLASH: Record<string, string> = {
  'settings-saved': 'Settings saved.',
  'connection-checked':
    'Connection saved, switched off. Check the report below; when it is right, enable it.',
  'connection-saved': 'Connection saved.',
  'connection-enabled': 'Connection enabled: people can sign in through it.',
  'connection-disabled': 'Connection disabled: nobody signs in through it.',
  'connection-deleted': 'Connection deleted.',
  'sp-keys-rotated': 'A new SP key was made; it signs from its activation date.',
  'sp-keys-activated': 'The next SP key is now the current one.',
  'sp-keys-retired': 'The retiring SP key was removed.',
  'domain-added': 'Domain added: publish its TXT record, then verify it.',
  'domain-verified': 'Domain verified.',
  'domain-removed': 'Domain removed.',
  'group-imported': 'Directory group imported as an external role.',
  'user-invited': 'Invitation sent.',
  'user-saved': 'User updated.',
  'sessions-revoked': 'The user was signed out everywhere in this organization.',
  'token-revoked': 'API token revoked.',
  'group-created': 'Group created.',
  'mapping-saved': 'Mapping saved.',
  'mapping-removed': 'Mapping removed.',
  'xrole-created': 'External role created.',
  'xrole-deleted': 'External role deleted.',
};

const SECTION_TITLES: Record<Section, string> = {
  settings: 'Settings',
  connections: 'Connections',
  domains: 'Domains',
  users: 'Users',
  groups: 'Groups',
  tokens: 'API tokens',
  audit: 'Audit',
};

const SEGMENT = /^[A-Za-z0-9._~-]{1,100}$/;

const notFoundError = () => Errors.notFound('The page');

function loginUrl(rt: Runtime, tenantId: string, path: string): string {
  const back = `${rt.config.BASE_URL}${path}`;
  return `/t/${encodeURIComponent(tenantId)}/login?redirect=${encodeURIComponent(back)}`;
}

function errorPage(error: AppError, request: HttpRequest, extra = ''): HttpResult {
  return page(
    error.status,
    bare(
      error.status === 404 ? 'Not found' : 'We could not open this page',
      `${errorBox(error, request.requestId)}${extra}<p><a href="/console">Go to the console</a></p>`,
    ),
  );
}

/** GET /console: to the signed-in tenant's settings, or to sign in. */
export const home: Operation = async (request) => {
  const rt = runtime();
  const caller = await consoleCaller(rt, request);
  if (caller) return seeOther(`/console/${encodeURIComponent(caller.tenantId)}/settings`);
  const parsed = ConsoleHomeQuery.safeParse(request.query);
  const tenant = parsed.success ? parsed.data.tenant : undefined;
  if (tenant) return seeOther(loginUrl(rt, tenant, `/console/${tenant}/settings`));
  const invalid = !parsed.success;
  const body = `${invalid ? errorBox(Errors.invalidRequest('The organization id is not valid: it is a lower-case slug of 2 to 63 characters.'), request.requestId) : ''}
<div class="card"><p>Sign in to manage your organization's single sign-on, users and API tokens.</p>
<form method="get" action="/console"><label for="tenant">Organization id<span class="hint">The short name in your sign-in page's address, <code>/t/<em>your-organization</em>/login</code>.</span></label>
<input id="tenant" name="tenant" type="text" required autocomplete="organization" pattern="[a-z0-9][a-z0-9\\-]{1,62}">
<button class="primary" type="submit">Continue to sign in</button></form></div>`;
  return page(invalid ? 400 : 200, bare('Console', body));
};

/** GET /console/{tenantId}: the tenant's first page (a setup link's: its connections). */
export const tenantHome: Operation = async (request) => {
  const tenantId = request.params.tenantId ?? '';
  if (!TenantId.safeParse(tenantId).success) return errorPage(notFoundError(), request);
  const setup = request.cookies[SETUP_COOKIE] ? await consoleCaller(runtime(), request) : undefined;
  return seeOther(`/console/${tenantId}/${setup?.kind === 'setup' ? 'connections' : 'settings'}`);
};

/**
 * A setup link's pages carry its token in their URL: never kept by a cache, and no Referer from
 * them (`policy`). The page with the button is `same-origin` as every console page, so that its
 * form post carries our `Origin` (under no-referrer it would be `null`, refused); it loads nothing
 * and links nowhere else.
 */
function setupAnswer(answer: HttpResult, policy: 'no-referrer' | 'same-origin' = 'no-referrer'): HttpResult {
  return {
    ...answer,
    headers: { ...answer.headers, 'cache-control': 'no-store', 'referrer-policy': policy },
  };
}

/** The page an unusable setup link (used, revoked, mistyped, expired) or a refused post gets. */
function setupRefused(error: AppError, request: HttpRequest): HttpResult {
  return setupAnswer(
    page(
      error.status,
      bare(
        'This setup link does not open anything',
        `${errorBox(error, request.requestId)}<p id="setup-refused">A setup link works once: whoever opened it first has the page. Ask the person who sent it for a new link.</p>`,
      ),
    ),
  );
}

/**
 * GET /console/{tenantId}/setup/{token}: only looks at the link (nothing is written, so a mail
 * scanner or link previewer that follows it spends nothing) and shows a button, a console form
 * (CSRF cookie and field) posting to the same URL. An unusable link gets the refusal page.
 */
async function showSetupLink(rt: Runtime, request: HttpRequest, tenantId: string, token: string) {
  try {
    const { tenantName } = await checkSetupLink(rt, tenantId, token);
    const csrf = consoleCsrf(rt, request);
    const action = `/console/${tenantId}/setup/${token}`;
    const body = `<div class="card"><p>Open the single sign-on setup for <strong id="setup-tenant">${esc(tenantName)}</strong>.</p>
<p class="hint">The link works once: the browser that opens it keeps the page until the link expires or is revoked.</p>
<form method="post" action="${esc(action)}" id="setup-open">${hidden('csrf', csrf.value)}
<button class="primary" type="submit" id="open-setup">Open the single sign-on setup</button></form></div>`;
    return setupAnswer(
      page(200, bare(`Open the single sign-on setup for ${tenantName}`, body), [csrf.cookie]),
      'same-origin',
    );
  } catch (error) {
    if (isAppError(error) && error.status < 500) return setupRefused(error, request);
    throw error;
  }
}

/**
 * POST /console/{tenantId}/setup/{token}: uses a setup link, after the Origin and CSRF checks of
 * every console post. The link is spent (once: a second use, even a parallel one, gets the
 * `link_invalid` page), and the browser gets `sso_setup`, a session for this tenant's SSO pages
 * that ends with the link (HttpOnly, SameSite=Lax, its path the tenant's console).
 */
async function useSetupLink(rt: Runtime, request: HttpRequest, tenantId: string, token: string) {
  try {
    // Origin and CSRF before the link is even read; refused, it stays unspent.
    checkOrigin(rt, request);
    checkCsrf(request, formOf(request));
  } catch (error) {
    if (!isAppError(error) || error.status >= 500) throw error;
    const back = `<p><a href="${esc(`/console/${tenantId}/setup/${token}`)}" id="reload">Open the link again</a> and use its button.</p>`;
    return setupAnswer(errorPage(error, request, back));
  }
  try {
    const opened = await openSetupLink(rt, tenantId, token);
    const maxAge = Math.max(0, opened.expiresAt - Math.floor(rt.clock.now().getTime() / 1000));
    const secure = rt.config.BASE_URL.startsWith('https:') ? '; Secure' : '';
    const cookie = `${SETUP_COOKIE}=${opened.sessionId}; Path=/console/${tenantId}; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
    // The answer that sets the session is never kept by a cache.
    return setupAnswer(seeOther(`/console/${tenantId}/connections`, [cookie]));
  } catch (error) {
    if (isAppError(error) && error.status < 500) return setupRefused(error, request);
    throw error;
  }
}

const isSetupLink = (request: HttpRequest) => {
  const { tenantId = '', section, itemId } = request.params;
  return section === 'setup' && itemId !== undefined && TenantId.safeParse(tenantId).success;
};

/** The page a setup cookie whose link was revoked or expired gets; the cookie is cleared. */
function setupEnded(error: AppError, request: HttpRequest, tenantId: string): HttpResult {
  const clear = `${SETUP_COOKIE}=; Path=/console/${tenantId}; HttpOnly; SameSite=Lax; Max-Age=0`;
  return page(
    error.status,
    bare(
      'This setup link was revoked or has expired',
      `${errorBox(error, request.requestId)}<p id="setup-ended">The page opened with it is closed.</p>`,
    ),
    [clear],
  );
}

interface Located {
  tenantId: string;
  section: Section;
  itemId: string | undefined;
  path: string;
}

function locate(request: HttpRequest): Located | undefined {
  const { tenantId = '', section = '', itemId } = request.params;
  if (!TenantId.safeParse(tenantId).success) return undefined;
  if (!(SECTIONS as readonly string[]).includes(section)) return undefined;
  if (itemId !== undefined && !SEGMENT.test(itemId)) return undefined;
  const path = `/console/${tenantId}/${section}${itemId === undefined ? '' : `/${itemId}`}`;
  return { tenantId, section: section as Section, itemId, path };
}

/**
 * Who may open the page: a signed-in caller of this very tenant (another tenant's id is a 404, as
 * in the admin API), with a role that may read it (a member: 403), for a section they may open.
 */
async function admit(
  rt: Runtime,
  request: HttpRequest,
  at: Located,
): Promise<{ caller: ConsoleCaller } | { answer: HttpResult }> {
  const caller = await consoleCallerOrEnded(rt, request, at.tenantId);
  if (!caller) return { answer: seeOther(loginUrl(rt, at.tenantId, at.path)) };
  if (caller.kind === 'setup-ended') return { answer: setupEnded(caller.error, request, at.tenantId) };
  if (caller.tenantId !== at.tenantId) return { answer: errorPage(Errors.notFound('The tenant'), request) };
  if (caller.kind === 'setup' && !caller.sections.includes(at.section)) {
    return {
      answer: errorPage(
        Errors.forbidden('A setup link opens this organization’s single sign-on connections only.'),
        request,
        `<p><a href="/console/${at.tenantId}/connections">Go to the connections</a></p>`,
      ),
    };
  }
  if (caller.kind === 'session' && caller.role === 'member') {
    return {
      answer: errorPage(
        Errors.forbidden('The console is for owners, admins and auditors; your role is member.'),
        request,
      ),
    };
  }
  if (!caller.sections.includes(at.section)) return { answer: errorPage(notFoundError(), request) };
  return { caller };
}

async function context(rt: Runtime, request: HttpRequest, at: Located, caller: ConsoleCaller): Promise<Ctx> {
  const tenant = await getTenant(rt, caller.principal, at.tenantId);
  return {
    rt,
    request,
    caller,
    tenant,
    csrf: consoleCsrf(rt, request),
    base: `/console/${at.tenantId}`,
    itemId: at.itemId,
    path: at.path,
  };
}

function framed(ctx: Ctx, section: Section, rendered: Rendered, state: PageState & { flash?: string }) {
  const html = frame({
    tenant: ctx.tenant,
    caller: ctx.caller,
    section,
    title: rendered.title,
    body: rendered.body,
    flash: state.flash,
    error: state.error,
    reloadUrl: ctx.path,
    traceId: ctx.request.requestId,
  });
  return page(rendered.status ?? state.error?.status ?? 200, html, [ctx.csrf.cookie]);
}

/** The page of a section, or its error in the frame; an error the page itself cannot show stands alone. */
async function render(ctx: Ctx, at: Located, state: PageState & { flash?: string }): Promise<HttpResult> {
  const handler = SECTION_HANDLERS[at.section];
  try {
    const rendered = await handler.get(ctx, state);
    return framed(ctx, at.section, rendered, state);
  } catch (error) {
    if (!isAppError(error) || error.status >= 500) throw error;
    const shown = state.error ?? error;
    return framed(
      ctx,
      at.section,
      { title: SECTION_TITLES[at.section], body: '', status: shown.status },
      {
        error: shown,
      },
    );
  }
}

/** GET /console/{tenantId}/{section}[/{itemId}]: a page of the console. */
export const consolePage: Operation = async (request) => {
  const rt = runtime();
  if (isSetupLink(request)) {
    return showSetupLink(rt, request, request.params.tenantId ?? '', request.params.itemId ?? '');
  }
  const at = locate(request);
  if (!at) return errorPage(notFoundError(), request);
  const admitted = await admit(rt, request, at);
  if ('answer' in admitted) return admitted.answer;
  let ctx: Ctx;
  try {
    ctx = await context(rt, request, at, admitted.caller);
  } catch (error) {
    if (isAppError(error) && error.status < 500) return errorPage(error, request);
    throw error;
  }
  const done = request.query.done;
  const flash = done && Object.hasOwn(FLASH, done) ? FLASH[done] : undefined;
  return render(ctx, at, flash ? { flash } : {});
};

/** POST /console/{tenantId}/{section}[/{itemId}]: a form of the console. */
export const consoleAction: Operation = async (request) => {
  const rt = runtime();
  if (isSetupLink(request)) {
    return useSetupLink(rt, request, request.params.tenantId ?? '', request.params.itemId ?? '');
  }
  const at = locate(request);
  if (!at) return errorPage(notFoundError(), request);
  const admitted = await admit(rt, request, at);
  if ('answer' in admitted) return admitted.answer;
  const { caller } = admitted;
  let form: Form;
  try {
    // Origin and CSRF before any other field is read and before anything is written.
    checkOrigin(rt, request);
    form = formOf(request);
    checkCsrf(request, form);
    if (!caller.canManage) {
      const role = caller.kind === 'session' ? caller.role : 'setup';
      throw Errors.forbidden(`The ${role} role can look at the console but not change anything.`);
    }
  } catch (error) {
    if (isAppError(error) && error.status < 500) return errorPage(error, request, reloadLink(at));
    throw error;
  }
  let ctx: Ctx;
  try {
    ctx = await context(rt, request, at, caller);
  } catch (error) {
    if (isAppError(error) && error.status < 500) return errorPage(error, request);
    throw error;
  }
  const handler = SECTION_HANDLERS[at.section];
  try {
    if (!handler.post) throw new AppError('method_not_allowed', 'This page has no form to send.');
    const result = await handler.post(ctx, form);
    if ('redirect' in result) {
      const location = result.done
        ? `${result.redirect}?done=${encodeURIComponent(result.done)}`
        : result.redirect;
      return seeOther(location, [ctx.csrf.cookie]);
    }
    return framed(ctx, at.section, result, {});
  } catch (error) {
    if (!isAppError(error) || error.status >= 500) throw error;
    // A stale form is never applied, nor filled in again: the person reloads and starts afresh.
    if (error.code === 'version_conflict') {
      return framed(ctx, at.section, { title: 'Not saved', body: '', status: error.status }, { error });
    }
    // Session ended meanwhile (it signed itself out, say): to sign in again.
    if (error.status === 401) return seeOther(loginUrl(rt, at.tenantId, at.path));
    return render(ctx, at, { values: form, error });
  }
};

const reloadLink = (at: Located) =>
  `<p><a href="${esc(at.path)}" id="reload">Reload the page</a> and try again.</p>`;

/** The posted form: URL-encoded fields only (a JSON body is not a console form). */
function formOf(request: HttpRequest): Form {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new AppError(
      'unsupported_media_type',
      'Console forms are sent as application/x-www-form-urlencoded.',
    );
  }
  const body = request.body;
  return (body ?? {}) as Form;
}
