import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import { validate } from '../http/request.ts';
import { escapeHtml, html, json } from '../http/responses.ts';
import type { HttpResult, Operation } from '../http/types.ts';
import { CSRF_FIELD, checkCsrf, newCsrf } from '../identity/csrf.ts';
import {
  describeLink,
  requestReset,
  UsePasswordLinkBody,
  usePasswordLink,
} from '../identity/password-links.ts';
import { wantsJson } from '../identity/respond.ts';
import { type Runtime, runtime } from '../runtime.ts';
import { PAGE_STYLE } from './login.ts';

/**
 * The hosted pages behind invitation and reset links: ask for a reset link (GET/POST
 * /login/forgot) and choose a password from a link (GET/POST /login/reset). Server-rendered, no
 * script; every form carries the CSRF token of the login page. The token of a link travels in the
 * query string, so these pages never send a Referer.
 */
/** How long POST /login/forgot takes at least, whatever the address. */
const FORGOT_ANSWER_MS = 400;

const NO_REFERRER = { 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' };

function page(title: string, content: string, cookies: string[] = []): HttpResult {
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head>
<body><main><h1>${escapeHtml(title)}</h1>
${content}
</main></body></html>`;
  return { ...html(200, body, NO_REFERRER), cookies };
}

const loginLink = (rt: Runtime, tenantId: string) =>
  `<p><a href="${escapeHtml(`${rt.config.BASE_URL}/t/${tenantId}/login`)}">Sign in</a></p>`;

export const TenantQuery = z.object({
  tenant: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{1,62}$/)
    .optional(),
});

/** GET /login/forgot: asks for the email to send a reset link to. */
export const forgotPage: Operation = async (request) => {
  const rt = runtime();
  const { tenant } = TenantQuery.safeParse(request.query).data ?? {};
  const csrf = newCsrf(rt);
  return page(
    'Reset your password',
    `<form method="post" action="${escapeHtml(rt.config.BASE_URL)}/login/forgot" id="forgot-form">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrf.value)}">
${tenant ? `<input type="hidden" name="tenant" value="${escapeHtml(tenant)}">` : ''}
<label>Email<input type="email" name="email" autocomplete="username" required></label>
<button class="primary" type="submit">Send me a link</button></form>
${tenant ? loginLink(rt, tenant) : ''}`,
    [csrf.cookie],
  );
};

export const ForgotBody = z.strictObject({
  email: z.string().trim().max(320).email(),
  tenant: z.string().max(63).optional(),
  [CSRF_FIELD]: z.string().max(200).optional(),
});

/**
 * POST /login/forgot {email}: 202, the same answer whether the address is known or not. Requests
 * are limited per address and per source so the form cannot be used to flood a mailbox.
 */
export const forgot: Operation = async (request) => {
  const rt = runtime();
  const body = validate(ForgotBody, request.body);
  checkCsrf(request, body[CSRF_FIELD]);
  // Known and unknown addresses answer alike, and after the same time: a known one's work (a
  // write and a mail) fits well inside it.
  await Promise.all([requestReset(rt, body.email, request.sourceIp), sleep(FORGOT_ANSWER_MS)]);
  if (wantsJson(request)) return json(202, { status: 'sent' });
  return page(
    'Check your mail',
    `<p id="sent">If an account uses <strong>${escapeHtml(body.email)}</strong> with a password, we sent it a link to choose a new one. The link works once, for one hour.</p>`,
  );
};

export const TokenQuery = z.object({ token: z.string().min(20).max(200) });

/** GET /login/reset?token=: the form to choose a password, or the error page of a spent link. */
export const resetPage: Operation = async (request) => {
  const rt = runtime();
  const { token } = validate(TokenQuery, request.query, 'query');
  const link = await describeLink(rt, token);
  const csrf = newCsrf(rt);
  const title =
    link.kind === 'invitation'
      ? `Welcome${link.tenantName ? ` to ${link.tenantName}` : ''}`
      : 'Choose a new password';
  return page(
    title,
    `<p>Choose the password for <strong id="link-email">${escapeHtml(link.email)}</strong>: at least 12 characters.</p>
<form method="post" action="${escapeHtml(rt.config.BASE_URL)}/login/reset" id="reset-form">
<input type="hidden" name="${CSRF_FIELD}" value="${escapeHtml(csrf.value)}">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<input type="email" name="username" value="${escapeHtml(link.email)}" autocomplete="username" hidden>
<label>New password<input type="password" name="password" autocomplete="new-password" minlength="12" required></label>
<button class="primary" type="submit">Set password</button></form>`,
    [csrf.cookie],
  );
};

export const ResetBody = UsePasswordLinkBody.extend({
  username: z.string().max(320).optional(),
  [CSRF_FIELD]: z.string().max(200).optional(),
}).strict();

/** POST /login/reset {token, password}: sets the person's own password; the link is spent. */
export const reset: Operation = async (request) => {
  const rt = runtime();
  const body = validate(ResetBody, request.body);
  checkCsrf(request, body[CSRF_FIELD]);
  const done = await usePasswordLink(rt, body);
  if (wantsJson(request)) return json(200, { status: 'password_set', tenants: done.tenantIds });
  return page(
    'Your password is set',
    `<p id="password-set">Sign in with your email and the new password.</p>${done.tenantIds
      .slice(0, 20)
      .map((t) => loginLink(rt, t))
      .join('')}`,
  );
};
