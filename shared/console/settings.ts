import { validate } from '../http/request.ts';
import { PatchTenantBody, TENANT_ROLES, type TenantSettings } from '../tenants/model.ts';
import { patchTenant } from '../tenants/service.ts';
import {
  type Ctx,
  formStart,
  managed,
  type PageState,
  type SectionHandler,
  unknownAction,
} from './context.ts';
import { checked, type Form, integer, lines, optional, stickyFor, version } from './form.ts';
import { checkbox, esc, hidden, input, textarea, when } from './layout.ts';

/**
 * Tenant settings: single sign-on on or off, passwords forbidden but for some roles, session
 * length, where logins land (default application, appUrl, allowed redirect URLs). Saved through
 * the tenant service's patch with the version the form was rendered with.
 */
const minutes = (seconds: number) => Math.round(seconds / 60);

function settingsForm(ctx: Ctx, values: Form | undefined): string {
  const s = ctx.tenant.settings;
  const v = (name: string, current: string | undefined) => (values ? values[name] : current);
  const on = (name: string, current: boolean) => (values ? checked(values, name) : current);
  const roles = TENANT_ROLES.map((role) =>
    checkbox(role, `passwordRole.${role}`, on(`passwordRole.${role}`, s.passwordLoginRoles.includes(role))),
  ).join('');
  return `${formStart(ctx, 'save', { id: 'settings-form' })}${hidden('version', values?.version ?? ctx.tenant.version)}
${managed(
  ctx,
  `${checkbox('Single sign-on is on', 'ssoEnabled', on('ssoEnabled', s.ssoEnabled), 'Off: no SAML, OIDC or LDAP connection signs anyone in; passwords still work.')}`,
  'Single sign-on',
)}
${managed(
  ctx,
  `${checkbox('Forbid password logins', 'forbidPasswordLogin', on('forbidPasswordLogin', s.forbidPasswordLogin), 'People sign in through the identity provider; only the roles ticked below may still use a password.')}
<fieldset><legend>Roles still allowed a password</legend><p class="hint">Keep owner or admin, so a broken identity provider never locks administrators out.</p>${roles}</fieldset>`,
  'Passwords',
)}
${managed(
  ctx,
  `${input('Session length (minutes)', 'sessionMinutes', v('sessionMinutes', String(minutes(s.sessionTtlSeconds))), { type: 'number', min: 5, max: 43200, required: true, hint: 'How long a sign-in lasts: 5 minutes to 30 days (43200).' })}`,
  'Sessions',
)}
${managed(
  ctx,
  `${input('Default application (client id)', 'defaultApplication', v('defaultApplication', s.defaultApplication), { hint: 'The application IdP-initiated logins land in, through its initiate-login URI. Leave empty for none.' })}
${input('Application URL (appUrl)', 'appUrl', v('appUrl', s.appUrl), { type: 'url', hint: 'Where logins land without a default application. Leave empty for none.' })}
${textarea('Allowed redirect URLs', 'allowedRedirectUrls', v('allowedRedirectUrls', s.allowedRedirectUrls.join('\n')), { hint: 'One URL a line: a login may return to these (and below their paths). Needs an application URL.', rows: 4 })}`,
  'Where sign-ins land',
)}
<button class="primary" type="submit"${ctx.caller.canManage ? '' : ' disabled'}>Save settings</button></form>`;
}

function get(ctx: Ctx, state: PageState) {
  const t = ctx.tenant;
  const body = `<div class="card"><dl class="facts">
<dt>Organization id</dt><dd><code id="tenant-id">${esc(t.id)}</code></dd>
<dt>Hosted login page</dt><dd><a href="${esc(`${ctx.rt.config.BASE_URL}/t/${t.id}/login`)}">${esc(`${ctx.rt.config.BASE_URL}/t/${t.id}/login`)}</a></dd>
<dt>Version</dt><dd>${t.version} <span class="muted">(changed ${esc(when(t.updatedAt))})</span></dd></dl></div>
<div class="card">${settingsForm(ctx, stickyFor(state.values, 'save'))}</div>`;
  return Promise.resolve({ title: 'Settings', body });
}

/** The merge patch of the settings: only what the form changed, so a stale default is not re-checked. */
function settingsPatch(current: TenantSettings, form: Form): Record<string, unknown> {
  const patch: Record<string, unknown> = {
    ssoEnabled: checked(form, 'ssoEnabled'),
    forbidPasswordLogin: checked(form, 'forbidPasswordLogin'),
    passwordLoginRoles: TENANT_ROLES.filter((role) => checked(form, `passwordRole.${role}`)),
    allowedRedirectUrls: lines(form, 'allowedRedirectUrls'),
    appUrl: optional(form, 'appUrl') ?? null,
  };
  const sessionMinutes = integer(form, 'sessionMinutes');
  if (sessionMinutes !== undefined && sessionMinutes !== minutes(current.sessionTtlSeconds)) {
    patch.sessionTtlSeconds = sessionMinutes * 60;
  }
  const defaultApplication = optional(form, 'defaultApplication');
  if (defaultApplication !== current.defaultApplication)
    patch.defaultApplication = defaultApplication ?? null;
  return patch;
}

export const settings: SectionHandler = {
  get,
  async post(ctx, form) {
    if (form.action !== 'save') throw unknownAction();
    const expected = version(form);
    const patch = validate(PatchTenantBody, {
      settings: settingsPatch(ctx.tenant.settings, form),
      version: expected,
    });
    await patchTenant(ctx.rt, ctx.caller.principal, ctx.tenant.id, patch, undefined);
    return { redirect: `${ctx.base}/settings`, done: 'settings-saved' };
  },
};
