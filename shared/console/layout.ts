import { createHash } from 'node:crypto';
import type { AppError } from '../errors.ts';
import { escapeHtml } from '../http/responses.ts';
import type { HttpResult } from '../http/types.ts';
import type { Section } from './auth.ts';

/**
 * The console's page frame: header (tenant, who is signed in and as what), navigation, a flash
 * message after a change (Post/Redirect/Get), an error box with the API's code and message, and
 * the page. Server-rendered; the one script (copy buttons, reading a chosen file into a textarea)
 * is an enhancement, allowed by its hash: without it every value stays visible and selectable.
 */
export { escapeHtml as esc } from '../http/responses.ts';

const STYLE = `*{box-sizing:border-box}[hidden]{display:none!important}body{font-family:system-ui,sans-serif;background:#f5f7fa;color:#1f2933;margin:0;line-height:1.45}
a{color:#1f5bc4}a:hover{color:#163f8a}:focus-visible{outline:3px solid #1f5bc4;outline-offset:2px}
.skip{position:absolute;left:-9999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}
header.top{background:#1f2933;color:#f5f7fa;padding:.8rem 1.2rem}header.top a{color:#f5f7fa}
.bar{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;justify-content:space-between;max-width:64rem;margin:0 auto}
.brand{font-weight:700;font-size:1.1rem}.brand small{font-weight:400;color:#cbd2d9}
.who{font-size:.9rem;display:flex;gap:.6rem;align-items:center;flex-wrap:wrap}
.who form{margin:0}.who button{background:none;border:1px solid #9aa5b1;color:#f5f7fa;border-radius:6px;padding:.25rem .6rem;font:inherit;cursor:pointer}
.badge{display:inline-block;border-radius:999px;padding:.05rem .55rem;font-size:.8rem;font-weight:600;background:#e4e7eb;color:#1f2933}
.badge.ok{background:#e3f9e5;color:#14532d}.badge.off{background:#fde8e8;color:#7f1d1d}.badge.warn{background:#fff3c4;color:#5c4400}
nav.sections{max-width:64rem;margin:.6rem auto 0}nav.sections ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.3rem}
nav.sections a{display:block;padding:.4rem .8rem;border-radius:6px;text-decoration:none;color:#f5f7fa}
nav.sections a[aria-current=page]{background:#f5f7fa;color:#1f2933;font-weight:600}nav.sections a:hover{background:#3e4c59}
main{max-width:64rem;margin:1.5rem auto;padding:0 1rem 3rem}h1{font-size:1.5rem;margin:.2rem 0 1rem}h2{font-size:1.15rem;margin:1.8rem 0 .6rem}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002;padding:1.2rem;margin:1rem 0}
label{display:block;margin-top:.9rem;font-weight:600;font-size:.95rem}.hint{display:block;font-weight:400;color:#52606d;font-size:.85rem;margin-top:.15rem}
input[type=text],input[type=url],input[type=email],input[type=number],input[type=password],input[type=search],select,textarea{width:100%;padding:.55rem;margin-top:.3rem;border:1px solid #7b8794;border-radius:6px;font:inherit;background:#fff;color:#1f2933}
textarea{min-height:8rem;font-family:ui-monospace,monospace;font-size:.85rem}
fieldset{border:1px solid #cbd2d9;border-radius:8px;margin:1rem 0;padding:.6rem 1rem 1rem}legend{font-weight:700;padding:0 .3rem}
fieldset[disabled]{opacity:.85}fieldset.plain{border:0;padding:0;margin:0;min-width:0}
.card>:last-child{margin-bottom:0}.card>:first-child,.card>form>fieldset:first-of-type,.card>form>fieldset.plain:first-of-type>:first-child{margin-top:0}
input:disabled,select:disabled,textarea:disabled{background:#f0f4f8;color:#3e4c59}.sub{margin-left:1.7rem}
.check{display:flex;gap:.5rem;align-items:flex-start;font-weight:400;margin-top:.6rem}.check input{margin-top:.25rem;width:1.1rem;height:1.1rem}
.inline{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-end}.inline label{margin-top:0}.inline>*{flex:1 1 10rem}.inline>button,.inline>.actions{flex:0 0 auto}
button,.button{display:inline-block;padding:.5rem 1rem;border-radius:6px;border:1px solid #3e4c59;background:#fff;color:#1f2933;font:inherit;cursor:pointer;text-decoration:none;margin-top:.8rem}
button.primary,.button.primary{background:#1f5bc4;border-color:#1f5bc4;color:#fff}button.danger{background:#b42318;border-color:#b42318;color:#fff}
button.small{padding:.25rem .6rem;font-size:.85rem;margin-top:0}button:disabled{cursor:not-allowed;opacity:.6}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}.actions form{margin:0}
.flash{background:#e3f9e5;color:#14532d;border-left:4px solid #2f855a;padding:.8rem 1rem;border-radius:6px}
.error{background:#fde8e8;color:#7f1d1d;border-left:4px solid #b42318;padding:.8rem 1rem;border-radius:6px}
.error code{background:#fff}.note{background:#e3f8ff;border-left:4px solid #1f5bc4;padding:.8rem 1rem;border-radius:6px}
.warnbox{background:#fff3c4;color:#5c4400;border-left:4px solid #b7791f;padding:.8rem 1rem;border-radius:6px}
.secret{font-family:ui-monospace,monospace;word-break:break-all;background:#fff3c4;padding:.6rem;border-radius:6px;display:block}
code{background:#f0f4f8;padding:.1rem .3rem;border-radius:3px;word-break:break-all}.muted{color:#52606d}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;box-shadow:0 1px 4px #0002}
th,td{text-align:left;padding:.55rem .7rem;border-bottom:1px solid #e4e7eb;vertical-align:top}th{font-size:.85rem;color:#3e4c59}
td form{margin:0}td select{width:auto;margin:0}
.copy{display:flex;gap:.5rem;align-items:center}.copy input{flex:1;font-family:ui-monospace,monospace;font-size:.85rem}.copy button{margin:0;min-width:5.5rem}
table{margin-top:1rem}td.details{font-size:.85rem;word-break:break-word}td .inline{flex-wrap:nowrap}td .inline>*{flex:0 1 auto}.nowrap{white-space:nowrap;word-break:normal}
table.report{box-shadow:none;border:1px solid #e4e7eb;font-size:.85rem;margin:.3rem 0}table.report th,table.report td{padding:.3rem .5rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dl.facts dt{color:#3e4c59;font-weight:600}dl.facts dd{margin:0;word-break:break-word}
ul.findings{margin:.3rem 0;padding-left:1.2rem}pre{white-space:pre-wrap;word-break:break-all;background:#f0f4f8;padding:.8rem;border-radius:6px;font-size:.8rem}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
@media (max-width:40rem){main{margin-top:1rem}.card{padding:.9rem}
table.stack,table.stack tbody,table.stack tr,table.stack td{display:block;width:100%}table.stack thead{position:absolute;left:-9999px}
table.stack tr{border-bottom:2px solid #cbd2d9;padding:.4rem 0}table.stack td{border:0;padding:.3rem .7rem}
table.stack td:empty{display:none}table.stack td[data-label]::before{content:attr(data-label);display:block;font-size:.8rem;font-weight:600;color:#3e4c59}
dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}}`;

/** The one script: shows what needs it, copies a value, reads a chosen file into its textarea. */
const SCRIPT = `document.querySelectorAll('[data-js]').forEach(function(e){e.hidden=false;});
document.addEventListener('click',function(ev){var b=ev.target.closest&&ev.target.closest('button[data-copy]');if(!b)return;
var f=document.getElementById(b.getAttribute('data-copy'));if(!f)return;var s=document.getElementById('copy-status');
var done=function(){if(s)s.textContent='Copied '+b.getAttribute('data-what')+'.';b.textContent='Copied';setTimeout(function(){b.textContent='Copy';},1500);};
if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(f.value).then(done,function(){f.select();});}else{f.select();try{document.execCommand('copy');done();}catch(e){}}});
document.querySelectorAll('input[type=file][data-into]').forEach(function(i){i.addEventListener('change',function(){
var t=document.getElementById(i.getAttribute('data-into'));var file=i.files&&i.files[0];if(!t||!file)return;file.text().then(function(x){t.value=x;});});});`;

const SCRIPT_HASH = `sha256-${createHash('sha256').update(SCRIPT, 'utf8').digest('base64')}`;

/** The console's CSP: the house one, with its one script by hash and forms to this origin only. */
export const CONSOLE_CSP = `default-src 'none'; script-src '${SCRIPT_HASH}'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

const NAV: Record<Section, string> = {
  settings: 'Settings',
  connections: 'Connections',
  domains: 'Domains',
  users: 'Users',
  groups: 'Groups',
  tokens: 'API tokens',
  audit: 'Audit',
};

export interface Frame {
  tenant: { id: string; name: string };
  caller:
    | { kind: 'session'; email: string; role: string; canManage: boolean; sections: readonly Section[] }
    | { kind: 'setup'; canManage: boolean; sections: readonly Section[] };
  section: Section | undefined;
  title: string;
  body: string;
  flash?: string | undefined;
  error?: AppError | undefined;
  /** Where a stale form's error box sends the person to reload. */
  reloadUrl?: string | undefined;
  traceId: string;
}

/** The error box: the same code and message the API answers, and what to do about a stale form. */
export function errorBox(error: AppError, traceId: string, reloadUrl?: string): string {
  const message = error.expose ? error.message : 'Something went wrong on our side.';
  const stale =
    error.code === 'version_conflict'
      ? `<p><strong>Someone changed this since you opened the page; nothing was saved.</strong> ${
          reloadUrl ? `<a href="${escapeHtml(reloadUrl)}" id="reload">Reload the page</a>` : 'Reload the page'
        } to see the current values, then make your change again.</p>`
      : '';
  const details = Array.isArray(error.details)
    ? `<ul class="findings">${(error.details as { path?: unknown; message?: unknown }[])
        .slice(0, 10)
        .map(
          (d) =>
            `<li><code>${escapeHtml(String(d.path ?? ''))}</code>: ${escapeHtml(String(d.message ?? ''))}</li>`,
        )
        .join('')}</ul>`
    : '';
  return `<div class="error" role="alert" id="error"><p>${escapeHtml(message)}</p>${details}${stale}
<p class="muted">Error code: <code id="error-code">${escapeHtml(error.code)}</code> · Trace ID: <code>${escapeHtml(traceId)}</code></p></div>`;
}

export function frame(f: Frame): string {
  const base = `/console/${encodeURIComponent(f.tenant.id)}`;
  const nav = f.caller.sections
    .map(
      (s) =>
        `<li><a href="${base}/${s}"${s === f.section ? ' aria-current="page"' : ''}>${escapeHtml(NAV[s])}</a></li>`,
    )
    .join('');
  const readOnly = f.caller.canManage
    ? ''
    : '<p class="note" id="read-only">You have read-only access (auditor): you can look at everything here, but not change it.</p>';
  const who =
    f.caller.kind === 'setup'
      ? '<div class="who" id="who">Opened with a <strong id="who-email">Setup link</strong> <span class="badge" id="who-role">single sign-on setup</span></div>'
      : `<div class="who" id="who">Signed in as <strong id="who-email">${escapeHtml(f.caller.email)}</strong> <span class="badge" id="who-role">${escapeHtml(f.caller.role)}</span>
<form method="post" action="/logout"><button type="submit">Sign out</button></form></div>`;
  const setupNote =
    f.caller.kind === 'setup'
      ? '<p class="note" id="setup-note">This page was opened with a setup link: it shows this organization’s single sign-on connections only, and closes when the link expires or is revoked.</p>'
      : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(f.title)} · ${escapeHtml(f.tenant.name)} console</title><style>${STYLE}</style></head>
<body><a class="skip" href="#main">Skip to content</a>
<header class="top"><div class="bar"><div class="brand">${escapeHtml(f.tenant.name)} <small>console</small></div>
${who}</div>
<nav class="sections" aria-label="Console sections"><ul>${nav}</ul></nav></header>
<main id="main"><h1>${escapeHtml(f.title)}</h1>
${f.flash ? `<p class="flash" role="status" id="flash">${escapeHtml(f.flash)}</p>` : ''}
${f.error ? errorBox(f.error, f.traceId, f.reloadUrl) : ''}
${readOnly}${setupNote}${f.body}
<p class="sr" role="status" aria-live="polite" id="copy-status"></p></main>
<script>${SCRIPT}</script></body></html>`;
}

/** A time as people read it: `2026-12-06 06:52 UTC`. */
export const when = (iso: string | undefined): string =>
  iso && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(iso)
    ? `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`
    : (iso ?? '');

/** A page outside a tenant's frame (sign-in hints, not found): same look, no navigation. */
export function bare(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · console</title><style>${STYLE}</style></head>
<body><header class="top"><div class="bar"><div class="brand">Console</div></div></header>
<main id="main"><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

/**
 * An HTML answer with the console's CSP (and the CSRF cookie, when the page has forms). Its
 * referrer policy is `same-origin`, not the house `no-referrer`: under no-referrer a browser sends
 * `Origin: null` with a form post, and the console checks that its posts come from its own origin.
 * Nothing is sent to other sites either way.
 */
export function page(statusCode: number, body: string, cookies: string[] = []): HttpResult {
  return {
    statusCode,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': CONSOLE_CSP,
      'referrer-policy': 'same-origin',
    },
    body,
    ...(cookies.length ? { cookies } : {}),
  };
}

export const seeOther = (location: string, cookies: string[] = []): HttpResult => ({
  statusCode: 303,
  headers: { location },
  body: '',
  ...(cookies.length ? { cookies } : {}),
});

// ---- form pieces -------------------------------------------------------------------------------

const attr = (name: string, value: string | number | undefined) =>
  value === undefined ? '' : ` ${name}="${escapeHtml(String(value))}"`;

let ids = 0;
const nextId = (name: string) => `f-${name.replace(/[^A-Za-z0-9_-]/g, '-')}-${++ids % 100000}`;

export interface FieldOptions {
  hint?: string;
  type?: 'text' | 'url' | 'email' | 'number' | 'password' | 'search';
  required?: boolean;
  placeholder?: string;
  min?: number;
  max?: number;
  autocomplete?: string;
  id?: string;
  /** A datalist of suggestions. */
  list?: string;
}

export function input(label: string, name: string, value: string | undefined, o: FieldOptions = {}): string {
  const id = o.id ?? nextId(name);
  return `<label for="${id}">${escapeHtml(label)}${o.hint ? `<span class="hint" id="${id}-hint">${escapeHtml(o.hint)}</span>` : ''}</label>
<input id="${id}" name="${escapeHtml(name)}" type="${o.type ?? 'text'}"${attr('value', value)}${o.required ? ' required' : ''}${attr('placeholder', o.placeholder)}${attr('min', o.min)}${attr('max', o.max)}${attr('list', o.list)}${attr('autocomplete', o.autocomplete ?? (o.type === 'password' ? 'new-password' : 'off'))}${o.hint ? ` aria-describedby="${id}-hint"` : ''}>`;
}

export function textarea(
  label: string,
  name: string,
  value: string | undefined,
  o: { hint?: string; id?: string; rows?: number; required?: boolean } = {},
): string {
  const id = o.id ?? nextId(name);
  return `<label for="${id}">${escapeHtml(label)}${o.hint ? `<span class="hint" id="${id}-hint">${escapeHtml(o.hint)}</span>` : ''}</label>
<textarea id="${id}" name="${escapeHtml(name)}"${attr('rows', o.rows)}${o.required ? ' required' : ''} spellcheck="false"${o.hint ? ` aria-describedby="${id}-hint"` : ''}>${escapeHtml(value ?? '')}</textarea>`;
}

export function checkbox(label: string, name: string, checked: boolean, hint?: string): string {
  const id = nextId(name);
  return `<label class="check" for="${id}"><input type="checkbox" id="${id}" name="${escapeHtml(name)}" value="on"${checked ? ' checked' : ''}><span>${escapeHtml(label)}${hint ? `<span class="hint">${escapeHtml(hint)}</span>` : ''}</span></label>`;
}

export function radio(label: string, name: string, value: string, checked: boolean, hint?: string): string {
  const id = nextId(`${name}-${value}`);
  return `<label class="check" for="${id}"><input type="radio" id="${id}" name="${escapeHtml(name)}" value="${escapeHtml(value)}"${checked ? ' checked' : ''}><span>${escapeHtml(label)}${hint ? `<span class="hint">${escapeHtml(hint)}</span>` : ''}</span></label>`;
}

export function select(
  label: string,
  name: string,
  options: readonly (string | [value: string, text: string])[],
  selected: string | undefined,
  o: { hint?: string; id?: string; bare?: boolean } = {},
): string {
  const id = o.id ?? nextId(name);
  const opts = options
    .map((option) => {
      const [value, text] = typeof option === 'string' ? [option, option] : option;
      return `<option value="${escapeHtml(value)}"${value === selected ? ' selected' : ''}>${escapeHtml(text)}</option>`;
    })
    .join('');
  const control = `<select id="${id}" name="${escapeHtml(name)}"${o.bare ? ` aria-label="${escapeHtml(label)}"` : ''}>${opts}</select>`;
  if (o.bare) return control;
  return `<label for="${id}">${escapeHtml(label)}${o.hint ? `<span class="hint">${escapeHtml(o.hint)}</span>` : ''}</label>${control}`;
}

export const hidden = (name: string, value: string | number) =>
  `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(String(value))}">`;

/** A value to copy: readable and selectable as it is, with a Copy button once the script runs. */
export function copyField(label: string, id: string, value: string): string {
  return `<label for="${id}">${escapeHtml(label)}</label><div class="copy"><input type="text" id="${id}" value="${escapeHtml(value)}" readonly>
<button type="button" class="small" data-copy="${id}" data-what="${escapeHtml(label)}" data-js hidden aria-label="Copy ${escapeHtml(label)}">Copy</button></div>`;
}
