import type { DomainView } from '../domains/model.ts';
import { addDomain, listDomains, removeDomain, verifyDomain } from '../domains/service.ts';
import { Errors, isAppError } from '../errors.ts';
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
import { checked, type Form, stickyFor, text } from './form.ts';
import { copyField, errorBox, esc, hidden, input } from './layout.ts';

/**
 * Email domains: the tenant proves it controls a domain with a DNS TXT record, and a connection's
 * `verifiedDomains` then counts for owners and admins signing in through it. Adding, verifying
 * (DNS only: the operator's own method is not offered) and removing go through the same services
 * as `…/admin/tenants/{t}/domains`, with the signed-in person's principal.
 */
const day = (iso: string | undefined) => (iso ? esc(iso.slice(0, 10)) : '—');

function domainCard(ctx: Ctx, d: DomainView, index: number): string {
  const status =
    d.status === 'verified'
      ? `<span class="badge ok" data-status="verified">Verified</span> <span class="muted">on ${day(d.verifiedAt)}${d.verifiedBy === 'operator' ? ' by the operator' : d.verifiedBy === 'dns' ? ' by DNS' : ''}</span>`
      : '<span class="badge warn" data-status="pending">Pending</span>';
  const record =
    d.status === 'pending'
      ? `<p>Create this TXT record in the DNS of <strong>${esc(d.domain)}</strong>, then verify:</p>
${copyField('TXT record name', `txt-name-${index}`, d.verification.name)}
${copyField('TXT record value', `txt-value-${index}`, d.verification.value)}
${formStart(ctx, 'verify', { id: `verify-${index}` })}${hidden('domain', d.domain)}<button type="submit" class="primary" data-verify="${esc(d.domain)}"${disabledFor(ctx)}>Verify now</button></form>`
      : '';
  const remove = `${formStart(ctx, 'remove', { id: `remove-${index}` })}${hidden('domain', d.domain)}
<label class="check"><input type="checkbox" name="confirm" value="on" required${disabledFor(ctx)}><span>Yes, remove “${esc(d.domain)}”${d.status === 'verified' ? ': connections no longer count it for owners and admins signing in' : ''}.</span></label>
<button type="submit" class="small danger" data-remove="${esc(d.domain)}"${disabledFor(ctx)}>Remove</button></form>`;
  return `<div class="card" data-domain="${esc(d.domain)}"><h3>${esc(d.domain)}</h3><p>${status} · added ${day(d.createdAt)}</p>${record}${remove}</div>`;
}

async function get(ctx: Ctx, state: PageState) {
  const items = await listDomains(ctx.rt, ctx.caller.principal, ctx.tenant.id);
  const values = stickyFor(state.values, 'add');
  const list = items.length
    ? `<div id="domains">${items.map((d, i) => domainCard(ctx, d, i)).join('\n')}</div>`
    : '<p id="no-domains">No domains yet.</p>';
  const form = `<div class="card"><h2>Add a domain</h2>${formStart(ctx, 'add', { id: 'domain-form' })}
${managed(
  ctx,
  `${input('Domain', 'domain', values?.domain, { required: true, id: 'domain-name', hint: 'An email domain of your organization, e.g. example.com.' })}
<button class="primary" type="submit" id="add-domain">Add domain</button>`,
)}</form></div>`;
  return {
    title: 'Domains',
    body: `<p>Owners and admins sign in through a single sign-on connection only with an email domain listed in its verified domains and verified here for this organization.</p>${form}<h2>Your domains</h2>${list}`,
  };
}

async function post(ctx: Ctx, form: Form): Promise<PostResult> {
  const { rt, caller, tenant } = ctx;
  const action = text(form, 'action');
  if (action === 'add') {
    await addDomain(rt, caller.principal, tenant.id, { domain: text(form, 'domain') });
    return { redirect: ctx.path, done: 'domain-added' };
  }
  if (action === 'verify') {
    try {
      await verifyDomain(rt, caller.principal, tenant.id, text(form, 'domain'), { method: 'dns' });
    } catch (error) {
      // A resolver that cannot answer (503): the page says so, as it does any other refusal.
      if (!isAppError(error) || error.code !== 'dns_unavailable') throw error;
      const page = await get(ctx, {});
      return { ...page, body: `${errorBox(error, ctx.request.requestId)}${page.body}`, status: error.status };
    }
    return { redirect: ctx.path, done: 'domain-verified' };
  }
  if (action === 'remove') {
    if (!checked(form, 'confirm')) {
      throw Errors.invalidRequest('Tick the box to confirm the removal.', [
        { path: 'confirm', message: 'required' },
      ]);
    }
    await removeDomain(rt, caller.principal, tenant.id, text(form, 'domain'));
    return { redirect: ctx.path, done: 'domain-removed' };
  }
  throw unknownAction();
}

export const domains: SectionHandler = { get, post };
