import { validate } from '../http/request.ts';
import { CreateTokenBody, createToken, listTokens, revokeToken } from '../identity/tokens.ts';
import {
  type Ctx,
  disabledFor,
  formStart,
  managed,
  type PageState,
  type PostResult,
  personOf,
  type SectionHandler,
  unknownAction,
} from './context.ts';
import { type Form, integer, optional, stickyFor, text } from './form.ts';
import { copyField, esc, hidden, input } from './layout.ts';

/**
 * API tokens: the signed-in person's own, for scripts and the CLI. A new token's secret is shown
 * once, on the page that answers its creation, and never again (the table keeps only its hash).
 */
const day = (iso: string | undefined) => (iso ? esc(iso.slice(0, 10)) : '—');

async function get(ctx: Ctx, state: PageState, created?: { name: string; token: string; expiresAt: string }) {
  const owner = { userId: personOf(ctx).userId, tenantId: ctx.tenant.id };
  const items = await listTokens(ctx.rt, owner);
  const values = stickyFor(state.values, 'create');
  const shown = created
    ? `<div class="card" id="new-token" role="status"><h2>Your new token “${esc(created.name)}”</h2>
<p class="warnbox"><strong>Copy it now: it is not shown again.</strong> It acts as you in this organization until ${day(created.expiresAt)}.</p>
${copyField('API token', 'token-secret', created.token)}</div>`
    : '';
  const rows = items
    .map(
      (
        t,
      ) => `<tr data-token="${esc(t.name)}"><td data-label="Name">${esc(t.name)}</td><td data-label="Created">${day(t.createdAt)}</td>
<td data-label="Expires">${day(t.expiresAt)}</td><td data-label="Last used">${day(t.lastUsedAt)}</td>
<td data-label="Revoke">${formStart(ctx, 'revoke')}${hidden('tokenId', t.id)}<button type="submit" class="small danger" data-revoke="${esc(t.name)}"${disabledFor(ctx)}>Revoke</button></form></td></tr>`,
    )
    .join('');
  const table = items.length
    ? `<table class="stack" id="tokens"><thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">Revoke</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p id="no-tokens">You have no API tokens.</p>';
  const form = `<div class="card"><h2>Create a token</h2>${formStart(ctx, 'create', { id: 'token-form' })}
${managed(
  ctx,
  `<div class="inline"><div>${input('Name', 'name', values?.name, { required: true, id: 'token-name', hint: 'What it is for, e.g. "deploy script".' })}</div>
<div>${input('Expires in (days)', 'expiresInDays', values?.expiresInDays ?? '90', { type: 'number', min: 1, max: 365, required: true, id: 'token-days' })}</div></div>
<button class="primary" type="submit" id="create-token">Create token</button>`,
)}</form></div>`;
  return {
    title: 'API tokens',
    body: `${shown}<p>Tokens act as you (<strong>${esc(personOf(ctx).email)}</strong>) in this organization, with your role at the time of each call.</p>${form}<h2>Your tokens</h2>${table}`,
  };
}

async function post(ctx: Ctx, form: Form): Promise<PostResult> {
  const owner = { userId: personOf(ctx).userId, tenantId: ctx.tenant.id };
  const action = text(form, 'action');
  if (action === 'create') {
    const body = validate(CreateTokenBody, {
      name: text(form, 'name'),
      ...(optional(form, 'expiresInDays') ? { expiresInDays: integer(form, 'expiresInDays') } : {}),
    });
    const created = await createToken(ctx.rt, owner, body);
    // Answered here, not redirected: the secret is on this page only.
    return get(ctx, {}, created);
  }
  if (action === 'revoke') {
    await revokeToken(ctx.rt, owner, text(form, 'tokenId'));
    return { redirect: ctx.path, done: 'token-revoked' };
  }
  throw unknownAction();
}

export const tokens: SectionHandler = { get: (ctx, state) => get(ctx, state), post };
