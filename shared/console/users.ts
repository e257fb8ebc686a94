import { AppError, Errors, isAppError } from '../errors.ts';
import { validate } from '../http/request.ts';
import { ListQuery } from '../identity/admin-http.ts';
import {
  CreateUserBody,
  createUser,
  listUsers,
  type memberView,
  PatchUserBody,
  patchUser,
} from '../identity/members.ts';
import { sendInvitation } from '../identity/password-links.ts';
import { revokeSessions } from '../identity/session-admin.ts';
import { TENANT_ROLES } from '../tenants/model.ts';
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
import { type Form, optional, stickyFor, text, version } from './form.ts';
import { esc, hidden, input, select } from './layout.ts';

/**
 * Users: the members of the tenant, a page at a time; invite one (the member is added, invited, and
 * mailed a link to set a password), change a role, disable or enable, sign out everywhere.
 */
type Member = ReturnType<typeof memberView>;

const STATUS_BADGE: Record<string, string> = {
  active: '<span class="badge ok">active</span>',
  invited: '<span class="badge warn">invited</span>',
  disabled: '<span class="badge off">disabled</span>',
};

/** The roles this caller may hand out: only an owner grants owner (the service says the same). */
const grantable = (ctx: Ctx) => TENANT_ROLES.filter((r) => r !== 'owner' || personOf(ctx).role === 'owner');

function row(ctx: Ctx, m: Member): string {
  const self = m.id === personOf(ctx).userId;
  const name = [m.firstName, m.lastName].filter(Boolean).join(' ');
  const canChangeRole = ctx.caller.canManage && (m.role !== 'owner' || personOf(ctx).role === 'owner');
  const role = canChangeRole
    ? `${formStart(ctx, 'role')}${hidden('userId', m.id)}${hidden('version', m.version)}<div class="inline">${select(`Role of ${m.email}`, 'role', grantable(ctx), m.role, { bare: true })}<button type="submit" class="small">Change</button></div></form>`
    : `<span class="badge">${esc(m.role)}</span>`;
  const action = (what: string, label: string, cls = '') =>
    `${formStart(ctx, what)}${hidden('userId', m.id)}${hidden('version', m.version)}<button type="submit" class="small ${cls}" data-action="${what}"${disabledFor(ctx)}>${label}</button></form>`;
  const actions = [
    m.status === 'disabled' ? action('enable', 'Enable') : self ? '' : action('disable', 'Disable'),
    self ? '' : action('revoke-sessions', 'Sign out everywhere'),
    !m.ssoOnly && m.status !== 'disabled' && !m.hasPassword ? action('invite-again', 'Send invitation') : '',
  ].join('');
  return `<tr data-user="${esc(m.email)}"><td data-label="Person"><strong>${esc(m.email)}</strong>${name ? `<br><span class="muted">${esc(name)}</span>` : ''}${self ? ' <span class="badge">you</span>' : ''}</td>
<td data-label="Role" class="role">${role}</td><td data-label="Status" class="status">${STATUS_BADGE[m.status] ?? esc(m.status)}</td>
<td data-label="Sign-in">${m.ssoOnly ? 'single sign-on only' : m.hasPassword ? 'password set' : 'no password yet'}</td>
<td data-label="Actions">${actions ? `<div class="actions">${actions}</div>` : ''}</td></tr>`;
}

function inviteForm(ctx: Ctx, values: Form | undefined): string {
  const v = (name: string) => values?.[name];
  return `<div class="card"><h2>Invite someone</h2>${formStart(ctx, 'invite', { id: 'invite-form' })}
${managed(
  ctx,
  `<div class="inline"><div>${input('Email', 'email', v('email'), { type: 'email', required: true, id: 'invite-email', autocomplete: 'off' })}</div>
<div>${select('Role', 'role', grantable(ctx), v('role') ?? 'member', { id: 'invite-role' })}</div></div>
<div class="inline"><div>${input('First name', 'firstName', v('firstName'), { hint: 'Optional.' })}</div><div>${input('Last name', 'lastName', v('lastName'), { hint: 'Optional.' })}</div></div>
<p class="hint">They get an email with a link to set their password (valid 7 days). People who sign in through your identity provider need no invitation.</p>
<button class="primary" type="submit" id="invite">Send invitation</button>`,
)}</form></div>`;
}

async function get(ctx: Ctx, state: PageState) {
  const q = ctx.request.query;
  const query = validate(
    ListQuery,
    { ...(q.email ? { email: q.email } : {}), ...(q.cursor ? { cursor: q.cursor } : {}), limit: 50 },
    'query',
  );
  const page = await listUsers(ctx.rt, ctx.caller.principal, ctx.tenant.id, query);
  const rows = page.items.map((m) => row(ctx, m)).join('');
  const search = `<form method="get" action="${esc(ctx.path)}" class="inline" role="search"><div>${input('Find by email', 'email', q.email ?? '', { type: 'search', id: 'user-search' })}</div><button type="submit">Find</button>${q.email ? ` <a href="${esc(ctx.path)}">Show everyone</a>` : ''}</form>`;
  const next = page.cursor
    ? `<p><a href="${esc(`${ctx.path}?cursor=${encodeURIComponent(page.cursor)}`)}" id="next-page">Next page</a></p>`
    : '';
  const table = page.items.length
    ? `<table class="stack" id="users"><thead><tr><th scope="col">Person</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Sign-in</th><th scope="col">Actions</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p>No one found.</p>';
  return {
    title: 'Users',
    body: `${inviteForm(ctx, stickyFor(state.values, 'invite'))}<h2>Members</h2>${search}${table}${next}`,
  };
}

async function post(ctx: Ctx, form: Form): Promise<PostResult> {
  const { rt, caller, tenant } = ctx;
  const here = ctx.path;
  const action = text(form, 'action');
  if (action === 'invite') {
    const body = validate(CreateUserBody, {
      email: text(form, 'email'),
      role: text(form, 'role') || 'member',
      status: 'invited',
      ...(optional(form, 'firstName') ? { firstName: text(form, 'firstName') } : {}),
      ...(optional(form, 'lastName') ? { lastName: text(form, 'lastName') } : {}),
    });
    const member = await createUser(rt, caller.principal, tenant.id, body);
    try {
      await sendInvitation(rt, caller.principal, tenant.id, member.id);
    } catch (error) {
      if (!isAppError(error)) throw error;
      throw new AppError(
        error.status,
        error.code,
        `${member.email} was added, but the invitation was not sent: ${error.message} Send it again from the list below.`,
        { headers: error.headers },
      );
    }
    return { redirect: here, done: 'user-invited' };
  }
  const userId = optional(form, 'userId');
  if (!userId) throw Errors.invalidRequest('The form names no user.');
  switch (action) {
    case 'role':
    case 'enable':
    case 'disable': {
      const change =
        action === 'role'
          ? { role: text(form, 'role') }
          : { status: action === 'enable' ? 'active' : 'disabled' };
      const patch = validate(PatchUserBody, { ...change, version: version(form) });
      await patchUser(rt, caller.principal, tenant.id, userId, patch, undefined);
      return { redirect: here, done: 'user-saved' };
    }
    case 'revoke-sessions':
      await revokeSessions(rt, caller.principal, tenant.id, userId);
      return { redirect: here, done: 'sessions-revoked' };
    case 'invite-again':
      await sendInvitation(rt, caller.principal, tenant.id, userId);
      return { redirect: here, done: 'user-invited' };
    default:
      throw unknownAction();
  }
}

export const users: SectionHandler = { get, post };
