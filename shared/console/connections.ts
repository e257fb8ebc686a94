import type { Compatibility } from '../connections/model.ts';
import {
  type ConnectionView,
  changeSpKeys,
  createConnection,
  deleteConnection,
  directoryGroups,
  getConnection,
  listConnections,
  patchConnection,
  testConnection,
  viewOf,
} from '../connections/service.ts';
import { Errors, isAppError } from '../errors.ts';
import { validate } from '../http/request.ts';
import * as groupService from '../identity/groups.ts';
import { ACCESS_LEVELS } from '../identity/model.ts';
import {
  CONNECTION_TYPES,
  type ConnectionType,
  createBody,
  fieldsFor,
  patchBody,
  TYPE_NAMES,
} from './connection-forms.ts';
import {
  type Ctx,
  disabledFor,
  formStart,
  managed,
  type PageState,
  type PostResult,
  type Rendered,
  type SectionHandler,
  unknownAction,
} from './context.ts';
import { checked, type Form, integer, optional, stickyFor, text, version } from './form.ts';
import { copyField, errorBox, esc, hidden, input, select, when } from './layout.ts';

/**
 * Connections: the list, a new connection per protocol, and a connection's page (what to copy
 * into the identity provider, the compatibility report, the live test, the directory's groups,
 * its settings, enable or disable, delete). Every change goes through the connection service.
 */
const isType = (value: string | undefined): value is ConnectionType =>
  (CONNECTION_TYPES as readonly string[]).includes(value ?? '');

const typeName = (type: string) => esc(TYPE_NAMES[type as ConnectionType] ?? type);

export function compatibilityBadges(c: Compatibility): string {
  if (c.compatible && c.warnings.length === 0) return '<span class="badge ok">Compatible</span>';
  const parts = [
    c.compatible
      ? '<span class="badge ok">Compatible</span>'
      : `<span class="badge off">${c.problems.length} problem${c.problems.length === 1 ? '' : 's'}</span>`,
  ];
  if (c.warnings.length)
    parts.push(
      `<span class="badge warn">${c.warnings.length} warning${c.warnings.length === 1 ? '' : 's'}</span>`,
    );
  return parts.join(' ');
}

/** The compatibility report: the verdict, then each problem and warning with its code. */
export function compatibilityReport(c: Compatibility, id = 'compatibility'): string {
  const list = (items: { code: string; message: string }[]) =>
    `<ul class="findings">${items.map((f) => `<li><code>${esc(f.code)}</code> ${esc(f.message)}</li>`).join('')}</ul>`;
  return `<div id="${id}" data-compatible="${c.compatible}">
<p>${c.compatible ? '<span class="badge ok">Compatible</span> The service can use this connection.' : '<span class="badge off">Not compatible</span> Sign-ins through this connection will fail until the problems are fixed.'}</p>
${c.problems.length ? `<h3>Problems</h3>${list(c.problems)}` : ''}
${c.warnings.length ? `<h3>Warnings</h3>${list(c.warnings)}` : ''}</div>`;
}

const statusBadge = (enabled: boolean) =>
  enabled ? '<span class="badge ok">Enabled</span>' : '<span class="badge off">Disabled</span>';

// ---- list ----------------------------------------------------------------------------------------

async function list(ctx: Ctx): Promise<Rendered> {
  const items = await listConnections(ctx.rt, ctx.caller.principal, ctx.tenant.id);
  const rows = items
    .map(
      (
        c,
      ) => `<tr data-connection="${esc(c.id)}"><td data-label="Name"><a href="${ctx.base}/connections/${esc(c.id)}">${esc(c.name)}</a></td>
<td data-label="Type">${typeName(c.type)}</td><td data-label="Status">${statusBadge(c.enabled)}</td>
<td data-label="Compatibility">${compatibilityBadges(c.compatibility)}</td></tr>`,
    )
    .join('');
  const create = ctx.caller.canManage
    ? `<div class="actions">${CONNECTION_TYPES.map(
        (t) =>
          `<a class="button${t === 'saml' ? ' primary' : ''}" href="${ctx.base}/connections/new?type=${t}" id="new-${t}">New ${esc(TYPE_NAMES[t])} connection</a>`,
      ).join('')}</div>`
    : '';
  const table = items.length
    ? `<table class="stack" id="connections"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Compatibility</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p class="card">No connections yet: people sign in with a password. Add the identity provider your organization uses.</p>';
  return { title: 'Connections', body: `${create}${table}` };
}

// ---- new -----------------------------------------------------------------------------------------

const INTRO: Record<ConnectionType, string> = {
  saml: 'Paste (or point to) your identity provider’s SAML metadata. <strong>Check</strong> saves the connection switched off and shows its compatibility report, with the values to enter in your identity provider (entity ID, ACS URL, SP metadata); enable it once both sides are set up.',
  oidc: 'Give the OpenID Provider’s issuer and the client it registered for this service. <strong>Check</strong> saves the connection switched off, reads the provider’s discovery and shows the report and the redirect URI to register; enable it when it is right.',
  ldap: 'Point the service at your directory. <strong>Check</strong> saves the connection switched off and shows the report; then <strong>Test connection</strong> binds and searches for real, and you can import directory groups. Enable it when it is right.',
};

function newPage(ctx: Ctx, state: PageState): Rendered {
  const type = ctx.request.query.type ?? state.values?.type;
  if (!isType(type)) {
    const choices = CONNECTION_TYPES.map(
      (t) => `<li><a href="${ctx.base}/connections/new?type=${t}">${esc(TYPE_NAMES[t])}</a></li>`,
    ).join('');
    return {
      title: 'New connection',
      body: `<div class="card"><p>Which protocol does your identity provider speak?</p><ul>${choices}</ul></div>`,
    };
  }
  const values = stickyFor(state.values, 'create');
  const body = `<p class="note">${INTRO[type]}</p>
<div class="card">${formStart(ctx, 'create', { id: 'connection-form' })}${hidden('type', type)}
${managed(ctx, fieldsFor(type)(undefined, values))}
<div class="actions"><button class="primary" type="submit" id="check"${disabledFor(ctx)}>Check</button>
<a href="${ctx.base}/connections">Cancel</a></div></form></div>`;
  return { title: `New ${TYPE_NAMES[type]} connection`, body };
}

// ---- one connection ------------------------------------------------------------------------------

interface Extras {
  test?: { compatibility: Compatibility; report: unknown };
}

interface SpCertificate {
  fingerprint: string;
  status: string;
  source?: string;
  notAfter: string;
  activatesAt?: string;
  retiresAt?: string;
}

const SP_STATUS_BADGE: Record<string, string> = { current: 'ok', next: 'warn', retiring: 'off' };

/**
 * The SP certificates and their rotation: rotate (a next key, published now, signing after the
 * grace days or once activated), activate the next key now, retire the key it replaced. Each posts
 * to this page and goes through the connection service, as `POST …/sp-keys/{action}` does.
 */
function spKeysCard(ctx: Ctx, certificates: SpCertificate[]): string {
  const rows = certificates
    .map(
      (c) =>
        `<tr data-certificate="${esc(c.status)}"><td data-label="Status"><span class="badge ${SP_STATUS_BADGE[c.status] ?? ''}">${esc(c.status)}</span></td><td data-label="Fingerprint (SHA-256)"><code>${esc(c.fingerprint)}</code></td><td data-label="Signs from" class="nowrap">${esc(when(c.activatesAt)) || '—'}</td><td data-label="Kept until" class="nowrap">${esc(when(c.retiresAt)) || '—'}</td><td data-label="Valid until" class="nowrap">${esc(c.notAfter.slice(0, 10))}</td></tr>`,
    )
    .join('');
  const table = rows
    ? `<table class="stack" id="sp-certificates"><thead><tr><th scope="col">Status</th><th scope="col">Fingerprint (SHA-256)</th><th scope="col">Signs from</th><th scope="col">Kept until</th><th scope="col">Valid until</th></tr></thead><tbody>${rows}</tbody></table>`
    : '';
  if (certificates.some((c) => c.source === 'uploaded')) {
    return `<h3>SP certificates</h3>${table}<p class="hint" id="sp-keys-uploaded">This connection uses an uploaded SP key: it is not rotated here. Replace it in the connection’s settings, or remove it to use generated, rotatable keys.</p>`;
  }
  const has = (status: string) => certificates.some((c) => c.status === status);
  const rotate = has('next')
    ? '<p class="hint" id="sp-next-pending">A next key is published and waits to sign: activate it once the identity provider has its certificate, or let it start on its date.</p>'
    : `${formStart(ctx, 'sp-rotate', { id: 'sp-rotate-form' })}${managed(ctx, input('Days before the new key signs', 'graceDays', '7', { type: 'number', min: 0, max: 90, id: 'sp-grace-days', hint: 'The new certificate is published at once (the identity provider can import it); the current key keeps signing until then, and still decrypts for as many days after.' }))}
<button type="submit" id="sp-rotate"${disabledFor(ctx)}>Rotate: make a new key</button></form>`;
  const activate = has('next')
    ? `${formStart(ctx, 'sp-activate', { id: 'sp-activate-form' })}<button type="submit" class="primary" id="sp-activate"${disabledFor(ctx)}>Activate the next key now</button></form>`
    : '';
  const retire = has('retiring')
    ? `${formStart(ctx, 'sp-retire', { id: 'sp-retire-form' })}<button type="submit" class="danger" id="sp-retire"${disabledFor(ctx)}>Retire the old key now</button><span class="hint">Assertions still encrypted to it will no longer be read.</span></form>`
    : '';
  return `<h3>SP certificates</h3><p class="hint">They sign requests and decrypt assertions; the SP metadata publishes the current and the next one.</p>${table}
<div id="sp-keys">${rotate}<div class="actions">${activate}${retire}</div></div>`;
}

function spDetails(ctx: Ctx, view: ConnectionView, baseUrl: string): string {
  const sp = view.sp as Record<string, unknown>;
  const s = (key: string) => (typeof sp[key] === 'string' ? (sp[key] as string) : '');
  if (view.type === 'saml') {
    const certificates = Array.isArray(sp.certificates) ? (sp.certificates as SpCertificate[]) : [];
    return `<div class="card" id="sp-details"><h2>Enter these in your identity provider</h2>
${copyField('Entity ID (audience)', 'sp-entity-id', s('entityId'))}
${copyField('ACS URL (single sign-on URL)', 'sp-acs-url', s('acsUrl'))}
${copyField('SP metadata URL', 'sp-metadata-url', s('metadataUrl'))}
<p><a href="${esc(s('metadataUrl'))}" download="sp-metadata.xml" id="sp-metadata-download">Download the SP metadata</a> (an identity provider that imports metadata needs nothing else).${view.enabled ? '' : ' <strong>It is served once the connection is enabled</strong>; until then, enter the entity ID and ACS URL above.'}</p>
${spKeysCard(ctx, certificates)}</div>`;
  }
  if (view.type === 'oidc') {
    return `<div class="card" id="sp-details"><h2>Register these with your OpenID Provider</h2>
${copyField('Redirect URI', 'sp-redirect-uri', s('redirectUri'))}
${copyField('Initiate login URI', 'sp-login-url', s('loginUrl'))}
${(view.oidc as { tokenEndpointAuthMethod?: string } | undefined)?.tokenEndpointAuthMethod === 'private_key_jwt' ? copyField('JWKS URL (the service’s public key, for private_key_jwt)', 'sp-jwks-url', `${baseUrl}/oidc/${view.id}/jwks.json`) : ''}</div>`;
  }
  return '';
}

function idpFacts(view: ConnectionView): string {
  const idp = view.idp as
    | { entityId?: string; certificates?: { notAfter: string }[]; fetchedAt?: string; source?: string }
    | undefined;
  if (view.type !== 'saml' || !idp) return '';
  return `<dl class="facts" id="idp-facts"><dt>IdP entity ID</dt><dd><code>${esc(idp.entityId ?? '')}</code></dd>
<dt>Signing certificates</dt><dd>${idp.certificates?.length ?? 0}${
    idp.certificates?.length
      ? `, the last valid until ${esc(
          idp.certificates
            .map((c) => c.notAfter)
            .sort()
            .at(-1)
            ?.slice(0, 10) ?? '',
        )}`
      : ''
  }</dd>
<dt>Metadata</dt><dd>${idp.source === 'url' ? 'fetched from its URL' : 'pasted'}, read ${esc(when(idp.fetchedAt))}</dd></dl>`;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
const isScalar = (v: unknown): v is string | number | boolean | null =>
  v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** A value of a live test's report, readable: scalars as text, flat records as a table. */
function reportValue(value: Json): string {
  if (isScalar(value)) return value === null ? '—' : esc(String(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return '<span class="muted">none</span>';
    if (value.every(isScalar)) return esc(value.map(String).join(', '));
    const rows = value.filter(
      (v): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v),
    );
    const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    if (rows.length === value.length && rows.every((r) => Object.values(r).every(isScalar))) {
      return `<table class="report"><thead><tr>${columns.map((c) => `<th scope="col">${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
        .map((r) => `<tr>${columns.map((c) => `<td>${reportValue(r[c] ?? null)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;
    }
  } else if (Object.values(value).every((v) => isScalar(v) || (Array.isArray(v) && v.every(isScalar)))) {
    return Object.entries(value)
      .map(([k, v]) => `<span class="muted">${esc(k)}:</span> ${reportValue(v)}`)
      .join(' · ');
  }
  return `<pre>${esc(JSON.stringify(value, null, 2) ?? '')}</pre>`;
}

function testReport(test: NonNullable<Extras['test']>): string {
  const report = (test.report ?? {}) as { [key: string]: Json };
  const rows = Object.entries(report)
    .map(([key, value]) => `<dt>${esc(key)}</dt><dd>${reportValue(value)}</dd>`)
    .join('');
  return `<div class="card" id="test-result" role="status"><h2>Test result</h2>${compatibilityReport(test.compatibility, 'test-compatibility')}
${rows ? `<h3>What the test saw</h3><dl class="facts">${rows}</dl>` : ''}</div>`;
}

async function groupBrowser(ctx: Ctx, view: ConnectionView): Promise<string> {
  if (view.type !== 'ldap' || !ctx.caller.canManage) return '';
  const q = ctx.request.query.q;
  const search = `<form method="get" action="${esc(ctx.path)}#directory-groups" class="inline" role="search">
<div>${input('Search the directory’s groups', 'q', q ?? '', { type: 'search', id: 'group-query', hint: 'A name or part of one; empty lists them all (up to 100).' })}</div>
<button type="submit" id="group-search">Search</button></form>`;
  let results = '';
  if (q !== undefined) {
    try {
      const found = await directoryGroups(
        ctx.rt,
        ctx.caller.principal,
        ctx.tenant.id,
        view.id,
        q.slice(0, 200),
      );
      const [appGroups, xroles] = await Promise.all([
        groupService.listGroups(ctx.rt, ctx.caller.principal, ctx.tenant.id),
        groupService.listXroles(ctx.rt, ctx.caller.principal, ctx.tenant.id),
      ]);
      const imported = new Set(xroles.filter((x) => x.connectionId === view.id).map((x) => x.externalId));
      const groupOptions: [string, string][] = [
        ['', '(no group yet)'],
        ...appGroups.map((g): [string, string] => [g.id, g.name]),
      ];
      const rows = found
        .map((g) => {
          const action = imported.has(g.externalId)
            ? '<span class="badge ok">Imported</span>'
            : `${formStart(ctx, 'import-group', { path: `${ctx.path}` })}${hidden('externalId', g.externalId)}${hidden('groupName', g.name)}
<div class="inline">${select('Map to group', 'groupId', groupOptions, '', { bare: true })}${select('Access level', 'accessLevel', ACCESS_LEVELS, 'member', { bare: true })}
<button type="submit" class="small" data-import="${esc(g.name)}">Import</button></div></form>`;
          return `<tr data-group="${esc(g.name)}"><td data-label="Group">${esc(g.name)}</td><td data-label="DN"><code>${esc(g.dn)}</code></td><td data-label="Import">${action}</td></tr>`;
        })
        .join('');
      results = found.length
        ? `<table class="stack" id="directory-group-results"><thead><tr><th scope="col">Group</th><th scope="col">DN</th><th scope="col">Import as an external role</th></tr></thead><tbody>${rows}</tbody></table>`
        : '<p id="directory-group-results">No groups found.</p>';
    } catch (error) {
      if (!isAppError(error) || error.status >= 500) throw error;
      results = errorBox(error, ctx.request.requestId);
    }
  }
  return `<div class="card" id="directory-groups"><h2>Directory groups</h2>
<p class="hint">Import a group as an external role of this connection, and map it to an application group with an access level.</p>${search}${results}</div>`;
}

async function connectionPage(ctx: Ctx, state: PageState, extras: Extras = {}): Promise<Rendered> {
  const connection = await getConnection(ctx.rt, ctx.caller.principal, ctx.tenant.id, ctx.itemId ?? '');
  const view = viewOf(ctx.rt, connection);
  const xroles = (await groupService.listXroles(ctx.rt, ctx.caller.principal, ctx.tenant.id)).filter(
    (x) => x.connectionId === view.id,
  );
  const values = stickyFor(state.values, 'save');
  const switchForm = (enable: boolean, primary: boolean) =>
    `${formStart(ctx, enable ? 'enable' : 'disable')}${hidden('version', view.version)}<button type="submit" id="${enable ? 'enable' : 'disable'}" class="${primary ? 'primary' : ''}"${disabledFor(ctx)}>${enable ? 'Enable' : 'Disable'}</button></form>`;
  const off = view.enabled
    ? ''
    : `<div class="warnbox" id="disabled-note"><p><strong>Switched off:</strong> nobody signs in through this connection yet. Look at the report below and set up your identity provider with the values to copy; when both sides are right, enable it.</p>
<div class="actions">${switchForm(true, true)}</div></div>`;
  const testForm = `${formStart(ctx, 'test')}<button type="submit" id="test"${disabledFor(ctx)}>Test connection</button></form>`;
  const xroleList = xroles.length
    ? `<ul id="connection-xroles">${xroles.map((x) => `<li>${esc(x.name)} <code>${esc(x.externalId)}</code></li>`).join('')}</ul>`
    : '<p class="muted">None yet.</p>';
  const body = `<p>${typeName(view.type)} · ${statusBadge(view.enabled)} · version ${view.version}</p>
${off}${extras.test ? testReport(extras.test) : ''}
<div class="card" id="report"><h2>Compatibility</h2>${compatibilityReport(view.compatibility)}${idpFacts(view)}
<div class="actions">${testForm}<span class="hint">${view.type === 'saml' ? 'Reads the metadata again (from its URL, if it has one).' : view.type === 'oidc' ? 'Reads the discovery document and probes the token endpoint.' : 'Connects, binds and searches the directory.'}</span></div></div>
${spDetails(ctx, view, ctx.rt.config.BASE_URL)}
${await groupBrowser(ctx, view)}
<div class="card"><h2>External roles from this connection</h2>${xroleList}<p><a href="${ctx.base}/groups">Map them to groups</a></p></div>
<div class="card"><h2>Settings</h2>${formStart(ctx, 'save', { id: 'connection-form' })}${hidden('version', values?.version ?? view.version)}
${managed(ctx, fieldsFor(view.type as ConnectionType)(view, values))}
<button class="primary" type="submit" id="save"${disabledFor(ctx)}>Save</button></form></div>
<div class="card" id="danger"><h2>${view.enabled ? 'Switch off or delete' : 'Switch on or delete'}</h2><div class="actions">${view.enabled ? switchForm(false, false) : switchForm(true, false)}</div>
${formStart(ctx, 'delete', { id: 'delete-form' })}${hidden('version', view.version)}
<label class="check"><input type="checkbox" name="confirm" value="on" required id="delete-confirm"${disabledFor(ctx)}><span>Yes, delete “${esc(view.name)}”: the people who sign in through it can no longer do so. This cannot be undone.</span></label>
<button type="submit" class="danger" id="delete"${disabledFor(ctx)}>Delete connection</button></form></div>`;
  return { title: view.name, body };
}

// ---- posts ---------------------------------------------------------------------------------------

async function post(ctx: Ctx, form: Form): Promise<PostResult> {
  const { rt, caller, tenant } = ctx;
  const action = text(form, 'action');
  if (ctx.itemId === undefined) throw Errors.invalidRequest('Open a connection, or the new connection form.');
  if (ctx.itemId === 'new') {
    if (action !== 'create') throw unknownAction();
    const type = text(form, 'type');
    if (!isType(type)) throw Errors.invalidRequest('Choose the protocol: saml, oidc or ldap.');
    const view = await createConnection(rt, caller.principal, tenant.id, createBody(type, form));
    return { redirect: `${ctx.base}/connections/${view.id}`, done: 'connection-checked' };
  }
  const id = ctx.itemId;
  const here = `${ctx.base}/connections/${id}`;
  switch (action) {
    case 'save': {
      const current = viewOf(rt, await getConnection(rt, caller.principal, tenant.id, id));
      const expected = version(form);
      await patchConnection(
        rt,
        caller.principal,
        tenant.id,
        id,
        { ...patchBody(current, form), version: expected },
        undefined,
      );
      return { redirect: here, done: 'connection-saved' };
    }
    case 'enable':
    case 'disable': {
      const enabled = action === 'enable';
      await patchConnection(
        rt,
        caller.principal,
        tenant.id,
        id,
        { enabled, version: version(form) },
        undefined,
      );
      return { redirect: here, done: enabled ? 'connection-enabled' : 'connection-disabled' };
    }
    case 'delete': {
      if (!checked(form, 'confirm')) {
        throw Errors.invalidRequest('Tick the box to confirm the deletion.', [
          { path: 'confirm', message: 'required' },
        ]);
      }
      await deleteConnection(rt, caller.principal, tenant.id, id, version(form));
      return { redirect: `${ctx.base}/connections`, done: 'connection-deleted' };
    }
    case 'test': {
      const test = await testConnection(rt, caller.principal, tenant.id, id);
      return connectionPage(ctx, {}, { test });
    }
    case 'sp-rotate':
    case 'sp-activate':
    case 'sp-retire': {
      const spAction = action.slice('sp-'.length) as 'rotate' | 'activate' | 'retire';
      const graceDays = spAction === 'rotate' ? integer(form, 'graceDays') : undefined;
      if (graceDays !== undefined && (graceDays < 0 || graceDays > 90)) {
        throw Errors.invalidRequest('The form is invalid: graceDays: from 0 to 90 days', [
          { path: 'graceDays', message: 'from 0 to 90 days' },
        ]);
      }
      await changeSpKeys(
        rt,
        caller.principal,
        tenant.id,
        id,
        spAction,
        graceDays === undefined ? {} : { graceDays },
      );
      return {
        redirect: here,
        done: `sp-keys-${spAction === 'rotate' ? 'rotated' : spAction === 'activate' ? 'activated' : 'retired'}`,
      };
    }
    case 'import-group': {
      // A setup link configures single sign-on; who gets which access is the tenant's owners' call.
      if (caller.principal.kind === 'setup' && optional(form, 'groupId')) {
        throw Errors.forbidden(
          'A setup link imports directory groups but does not map them; ask an owner or admin.',
        );
      }
      const name = optional(form, 'groupName');
      const externalId = optional(form, 'externalId');
      if (!name || !externalId) throw Errors.invalidRequest('Choose a directory group to import.');
      const xrole = await groupService.createXrole(
        rt,
        caller.principal,
        tenant.id,
        validate(groupService.CreateXroleBody, { connectionId: id, externalId, name: name.slice(0, 200) }),
      );
      const groupId = optional(form, 'groupId');
      if (groupId) {
        const mapping = validate(groupService.MappingBody, {
          accessLevel: text(form, 'accessLevel') || 'member',
        });
        await groupService.putMapping(rt, caller.principal, tenant.id, groupId, xrole.id, mapping);
      }
      return { redirect: here, done: 'group-imported' };
    }
    default:
      throw unknownAction();
  }
}

export const connections: SectionHandler = {
  async get(ctx, state) {
    if (ctx.itemId === undefined) return list(ctx);
    if (ctx.itemId === 'new') return newPage(ctx, state);
    return connectionPage(ctx, state);
  },
  post,
};
