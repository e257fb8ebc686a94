import { listConnections } from '../connections/service.ts';
import { validate } from '../http/request.ts';
import * as groupService from '../identity/groups.ts';
import { ACCESS_LEVELS } from '../identity/model.ts';
import { listMappings } from '../store/access.ts';
import {
  type Ctx,
  disabledFor,
  formStart,
  managed,
  type PageState,
  type PostResult,
  type SectionHandler,
  unknownAction,
} from './context.ts';
import { type Form, optional, stickyFor, text } from './form.ts';
import { esc, hidden, input, select } from './layout.ts';

/**
 * Groups: the tenant's application groups, the external roles its identity providers report
 * (directory groups, claim values), and the mappings between them with an access level. Changes go
 * through the admin API's group services; the admin API lists no mappings, so the page reads them
 * from the store once the group service has authorized the read.
 */
async function get(ctx: Ctx, state: PageState) {
  const { rt, caller, tenant } = ctx;
  const [groups, xroles, connections] = await Promise.all([
    groupService.listGroups(rt, caller.principal, tenant.id),
    groupService.listXroles(rt, caller.principal, tenant.id),
    listConnections(rt, caller.principal, tenant.id),
  ]);
  const mappings = await listMappings(rt.db, tenant.id, true);
  const connectionName = new Map(connections.map((c) => [c.id, c.name]));
  const xroleLabel = (x: { name: string; connectionId: string }) =>
    `${x.name} (${connectionName.get(x.connectionId) ?? 'deleted connection'})`;
  const xroleOptions = xroles.map((x): [string, string] => [x.id, xroleLabel(x)]);

  const groupRows = groups
    .map((g) => {
      const mine = mappings.filter((m) => m.groupId === g.id);
      const mapped = mine.length
        ? `<ul class="findings">${mine
            .map(
              (m) =>
                `<li data-mapping="${esc(m.xroleName)}">${esc(m.xroleName)} → <span class="badge">${esc(m.accessLevel)}</span> ${formStart(ctx, 'unmap')}${hidden('groupId', g.id)}${hidden('xroleId', m.xroleId)}<button type="submit" class="small" aria-label="Remove the mapping of ${esc(m.xroleName)}"${disabledFor(ctx)}>Remove</button></form></li>`,
            )
            .join('')}</ul>`
        : '<span class="muted">No external role maps to it.</span>';
      const map =
        ctx.caller.canManage && xroles.length
          ? `${formStart(ctx, 'map')}${hidden('groupId', g.id)}<div class="inline">${select(`External role to map to ${g.name}`, 'xroleId', xroleOptions, undefined, { bare: true })}${select('Access level', 'accessLevel', ACCESS_LEVELS, 'member', { bare: true })}<button type="submit" class="small">Map</button></div></form>`
          : '';
      return `<tr data-group="${esc(g.name)}"><td data-label="Group"><strong>${esc(g.name)}</strong>${g.description ? `<br><span class="muted">${esc(g.description)}</span>` : ''}</td>
<td data-label="Mapped from">${mapped}${map}</td></tr>`;
    })
    .join('');
  const groupTable = groups.length
    ? `<table class="stack" id="groups"><thead><tr><th scope="col">Group</th><th scope="col">Mapped from (external role → access level)</th></tr></thead><tbody>${groupRows}</tbody></table>`
    : '<p>No groups yet.</p>';

  const xroleRows = xroles
    .map(
      (
        x,
      ) => `<tr data-xrole="${esc(x.name)}"><td data-label="Name">${esc(x.name)}</td><td data-label="Connection">${esc(connectionName.get(x.connectionId) ?? 'deleted connection')}</td>
<td data-label="External id"><code>${esc(x.externalId)}</code></td>
<td data-label="Delete">${formStart(ctx, 'delete-xrole')}${hidden('xroleId', x.id)}<button type="submit" class="small danger"${disabledFor(ctx)}>Delete</button></form></td></tr>`,
    )
    .join('');
  const xroleTable = xroles.length
    ? `<table class="stack" id="xroles"><thead><tr><th scope="col">Name</th><th scope="col">Connection</th><th scope="col">External id</th><th scope="col">Delete</th></tr></thead><tbody>${xroleRows}</tbody></table>`
    : '<p>No external roles yet. Import an LDAP directory’s groups from its connection page, or add a claim value below.</p>';

  const groupValues = stickyFor(state.values, 'create-group');
  const xroleValues = stickyFor(state.values, 'create-xrole');
  const createGroup = `<div class="card"><h2>New group</h2>${formStart(ctx, 'create-group', { id: 'group-form' })}
${managed(
  ctx,
  `<div class="inline"><div>${input('Name', 'name', groupValues?.name, { required: true, id: 'group-name' })}</div>
<div>${input('Description', 'description', groupValues?.description, { hint: 'Optional.' })}</div></div>
<button class="primary" type="submit" id="create-group">Create group</button>`,
)}</form></div>`;
  const createXrole = connections.length
    ? `<div class="card"><h2>New external role</h2><p class="hint">A group or claim value a connection reports, e.g. the SAML attribute value "engineering".</p>${formStart(ctx, 'create-xrole', { id: 'xrole-form' })}
${managed(
  ctx,
  `<div class="inline"><div>${select(
    'Connection',
    'connectionId',
    connections.map((c): [string, string] => [c.id, c.name]),
    xroleValues?.connectionId,
  )}</div>
<div>${input('Value the connection sends', 'externalId', xroleValues?.externalId, { required: true })}</div>
<div>${input('Name', 'name', xroleValues?.name, { required: true })}</div></div>
<button type="submit">Add external role</button>`,
)}</form></div>`
    : '';
  return {
    title: 'Groups',
    body: `<p>Application groups reach your applications in the ID token’s <code>groups</code>; an external role grants its group with an access level at each sign-in.</p>
${groupTable}${createGroup}<h2>External roles</h2>${xroleTable}${createXrole}`,
  };
}

async function post(ctx: Ctx, form: Form): Promise<PostResult> {
  const { rt, caller, tenant } = ctx;
  const p = caller.principal;
  const here = ctx.path;
  switch (text(form, 'action')) {
    case 'create-group': {
      const body = validate(groupService.CreateGroupBody, {
        name: text(form, 'name'),
        ...(optional(form, 'description') ? { description: text(form, 'description') } : {}),
      });
      await groupService.createGroup(rt, p, tenant.id, body);
      return { redirect: here, done: 'group-created' };
    }
    case 'map': {
      const body = validate(groupService.MappingBody, { accessLevel: text(form, 'accessLevel') || 'member' });
      await groupService.putMapping(rt, p, tenant.id, text(form, 'groupId'), text(form, 'xroleId'), body);
      return { redirect: here, done: 'mapping-saved' };
    }
    case 'unmap':
      await groupService.deleteMapping(rt, p, tenant.id, text(form, 'groupId'), text(form, 'xroleId'));
      return { redirect: here, done: 'mapping-removed' };
    case 'create-xrole': {
      const body = validate(groupService.CreateXroleBody, {
        connectionId: text(form, 'connectionId'),
        externalId: text(form, 'externalId'),
        name: text(form, 'name'),
      });
      await groupService.createXrole(rt, p, tenant.id, body);
      return { redirect: here, done: 'xrole-created' };
    }
    case 'delete-xrole':
      await groupService.deleteXrole(rt, p, tenant.id, text(form, 'xroleId'));
      return { redirect: here, done: 'xrole-deleted' };
    default:
      throw unknownAction();
  }
}

export const groups: SectionHandler = { get, post };
