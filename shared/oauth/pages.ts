import { escapeHtml } from '../http/responses.ts';
import { PAGE_STYLE } from '../pages/login.ts';

/**
 * The OpenID Provider's own pages, in the hosted login page's look: sign-out confirmation, the
 * device code pages, the error page, and "find your workspace". oidc-provider calls the
 * `…Source` functions with the Koa context and the form it built (with its CSRF field).
 */

interface KoaCtx {
  body: unknown;
  type: string;
  status: number;
  oidc?: { client?: { clientName?: string; clientId: string } };
}

const CSP =
  "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";

export const page = (title: string, content: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${PAGE_STYLE}
.muted{color:#616e7c;font-size:.9rem}code.user-code{font-size:1.6rem;letter-spacing:.1rem}</style></head>
<body><main>${content}</main></body></html>`;

function render(ctx: KoaCtx, title: string, content: string) {
  ctx.type = 'html';
  (ctx as unknown as { set(name: string, value: string): void }).set('content-security-policy', CSP);
  ctx.body = page(title, content);
}

const appName = (ctx: KoaCtx) => {
  const client = ctx.oidc?.client;
  return client ? escapeHtml(client.clientName ?? client.clientId) : 'the application';
};

export async function logoutSource(ctx: KoaCtx, form: string) {
  render(
    ctx,
    'Sign out',
    `<h1>Sign out?</h1><p>You are signing out of ${appName(ctx)}. This also ends your sign-in session here.</p>
${form.replace('</form>', '<input type="hidden" name="sso" value="end"></form>')}
<button class="primary" id="logout-yes" type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button id="logout-no" type="submit" form="op.logoutForm">No, stay signed in</button>`,
  );
}

export async function postLogoutSuccessSource(ctx: KoaCtx) {
  render(ctx, 'Signed out', `<h1>Signed out</h1><p id="signed-out">You have signed out.</p>`);
}

const snake = (name: string) =>
  name
    .replace(/Error$/, '')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();

export async function userCodeInputSource(
  ctx: KoaCtx,
  form: string,
  _out: unknown,
  error?: { name?: string; userCode?: string; error?: string },
) {
  const message = !error
    ? 'Enter the code shown on your device.'
    : error.userCode || error.name === 'NoCodeError'
      ? 'That code is not valid or has expired. Try again.'
      : error.name === 'AbortedError'
        ? 'The sign-in request was cancelled.'
        : 'Something went wrong; try again.';
  render(
    ctx,
    'Connect a device',
    `<h1>Connect a device</h1><p id="device-message" role="${error ? 'alert' : 'status'}">${escapeHtml(message)}</p>
${error ? `<p class="muted">Error code: <code id="error-code">${escapeHtml(error.error ?? snake(error.name ?? 'Unknown'))}</code></p>` : ''}
${form.replace('<input ', '<input aria-label="Code" ')}
<button class="primary" id="device-continue" type="submit" form="op.deviceInputForm">Continue</button>`,
  );
}

export async function userCodeConfirmSource(
  ctx: KoaCtx,
  form: string,
  _client: unknown,
  _info: unknown,
  userCode: string,
) {
  render(
    ctx,
    'Confirm the device',
    `<h1>Confirm the device</h1><p>${appName(ctx)} asks to sign in as you. Check that your device shows this code:</p>
<p><code class="user-code" id="user-code">${escapeHtml(userCode)}</code></p>
<p class="muted">If you did not start this, or the code differs, cancel.</p>
${form}
<button class="primary" id="device-confirm" type="submit" form="op.deviceConfirmForm">Confirm</button>
<button id="device-abort" type="submit" form="op.deviceConfirmForm" value="yes" name="abort">Cancel</button>`,
  );
}

export async function deviceSuccessSource(ctx: KoaCtx) {
  render(
    ctx,
    'Device connected',
    `<h1>Device connected</h1><p id="device-done">You signed in to ${appName(ctx)} on your device. You may close this page.</p>`,
  );
}

/** The library's errors before the application's redirect URI is known (else they go back to it). */
export async function renderError(ctx: KoaCtx, out: { error: string; error_description?: string }) {
  render(
    ctx,
    'Sign-in problem',
    `<h1>We could not complete this request</h1>
<p>${escapeHtml(out.error_description ?? 'The application sent an invalid request.')}</p>
<p class="muted">Error code: <code id="error-code">${escapeHtml(out.error)}</code></p>`,
  );
}

/** "Find your workspace": the email decides the tenant when the application named none. */
export function workspacePage(
  action: string,
  tenants?: { id: string; name: string; url: string }[],
  notFound = false,
) {
  const choice = tenants?.length
    ? `<p>Your email belongs to several organizations. Choose one:</p>${tenants
        .map(
          (t) =>
            `<a class="sso" data-tenant="${escapeHtml(t.id)}" href="${escapeHtml(t.url)}">${escapeHtml(t.name)}</a>`,
        )
        .join('\n')}`
    : '';
  return page(
    'Find your workspace',
    `<h1>Find your workspace</h1>
${notFound ? '<p id="workspace-message" role="alert">No organization we know signs in with that email. Check the address, or ask your administrator.</p>' : ''}
${
  choice ||
  `<form method="post" action="${escapeHtml(action)}" id="workspace-form">
<label>Work email<input type="email" name="email" autocomplete="username" required></label>
<button class="primary" type="submit">Continue</button></form>`
}`,
  );
}
