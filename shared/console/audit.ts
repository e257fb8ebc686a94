import { AuditQuery, listAudit } from '../audit/records.ts';
import { isAppError } from '../errors.ts';
import { validate } from '../http/request.ts';
import { getUser } from '../identity/members.ts';
import type { Ctx, PageState, SectionHandler } from './context.ts';
import { esc, input } from './layout.ts';

/**
 * The audit trail, newest first, a page at a time (the cursor of the audit service). The service
 * filters nothing, so the event type and actor filters apply to the page read: with a filter, a
 * page is read in the largest size (200) and the page says so.
 */
type AuditEntry = { id: string; type: string; time: string; detail: { [key: string]: unknown } };

const actorIdOf = (r: AuditEntry): string | undefined => {
  const d = r.detail ?? {};
  if (d.actor === 'operator') return 'operator';
  const id = d.actorUserId ?? d.userId;
  return typeof id === 'string' ? id : undefined;
};

/** Emails of the actors on the page (at most 25 reads; one that is gone stays an id). */
async function emailsOf(ctx: Ctx, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await Promise.all(
    ids.slice(0, 25).map(async (id) => {
      try {
        out.set(id, (await getUser(ctx.rt, ctx.caller.principal, ctx.tenant.id, id)).email);
      } catch (error) {
        if (!isAppError(error) || error.status !== 404) throw error;
      }
    }),
  );
  return out;
}

/** The detail as `key: value` pairs (the actor has its column). */
const summary = (detail: { [key: string]: unknown }) => {
  const { actor: _a, actorUserId: _u, actorVia: _v, ...rest } = detail ?? {};
  const shown = (v: unknown) =>
    Array.isArray(v) && v.every((x) => typeof x !== 'object')
      ? v.join(', ')
      : typeof v === 'object'
        ? JSON.stringify(v)
        : String(v);
  return Object.entries(rest)
    .map(([k, v]) => `<span class="muted">${esc(k)}:</span> ${esc(shown(v).slice(0, 200))}`)
    .join('<br>');
};

async function get(ctx: Ctx, _state: PageState) {
  const q = ctx.request.query;
  const type = (q.type ?? '').trim().slice(0, 100);
  const actor = (q.actor ?? '').trim().toLowerCase().slice(0, 320);
  const filtered = type !== '' || actor !== '';
  const query = validate(
    AuditQuery,
    { limit: filtered ? 200 : 50, ...(q.cursor ? { cursor: q.cursor } : {}) },
    'query',
  );
  const page = await listAudit(ctx.rt, ctx.caller.principal, ctx.tenant.id, query);
  const items = page.items as AuditEntry[];
  const ids = [
    ...new Set(items.map(actorIdOf).filter((id): id is string => id !== undefined && id !== 'operator')),
  ];
  const emails = await emailsOf(ctx, ids);
  const actorName = (r: AuditEntry) => {
    if (r.detail?.actor === 'setup-link') return `setup link ${String(r.detail.setupLinkId ?? '')}`;
    const id = actorIdOf(r);
    return id === undefined ? '' : id === 'operator' ? 'operator' : (emails.get(id) ?? id);
  };
  const shown = items.filter(
    (r) =>
      (type === '' || r.type === type || r.type.startsWith(`${type}.`)) &&
      (actor === '' || actorName(r).toLowerCase() === actor || actorIdOf(r) === actor),
  );
  const types = [...new Set(items.map((r) => r.type))].sort();
  const rows = shown
    .map(
      (
        r,
      ) => `<tr data-type="${esc(r.type)}"><td data-label="Time"><time datetime="${esc(r.time)}">${esc(r.time.replace('T', ' ').slice(0, 19))}</time></td>
<td data-label="Event"><code class="nowrap">${esc(r.type)}</code></td><td data-label="Actor">${esc(actorName(r))}</td><td data-label="Details" class="details">${summary(r.detail)}</td></tr>`,
    )
    .join('');
  const keep = new URLSearchParams({ ...(type ? { type } : {}), ...(actor ? { actor } : {}) });
  const next = page.cursor
    ? `<p><a id="older" href="${esc(`${ctx.path}?${new URLSearchParams({ ...Object.fromEntries(keep), cursor: page.cursor })}`)}">Older entries</a></p>`
    : '';
  const filters = `<form method="get" action="${esc(ctx.path)}" class="card" role="search"><div class="inline">
<div>${input('Event type', 'type', type, { id: 'audit-type', list: 'audit-types', hint: 'e.g. connection.created, or connection for all of them.' })}<datalist id="audit-types">${types.map((t) => `<option value="${esc(t)}">`).join('')}</datalist></div>
<div>${input('Actor', 'actor', actor, { id: 'audit-actor', hint: 'An email, a user id, or operator.' })}</div>
<div class="actions"><button type="submit">Filter</button>${filtered ? ` <a href="${esc(ctx.path)}">Clear</a>` : ''}</div></div></form>`;
  const note = filtered
    ? `<p class="hint" id="filter-note">Showing ${shown.length} of the ${items.length} most recent entries${q.cursor ? ' of this page' : ''} that match; older ones are on the next pages.</p>`
    : '';
  const table = shown.length
    ? `<table class="stack" id="audit"><thead><tr><th scope="col">Time (UTC)</th><th scope="col">Event</th><th scope="col">Actor</th><th scope="col">Details</th></tr></thead><tbody>${rows}</tbody></table>`
    : '<p id="audit-empty">No entries.</p>';
  return { title: 'Audit', body: `${filters}${note}${table}${next}` };
}

export const audit: SectionHandler = { get };
