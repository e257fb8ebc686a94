import { isDeepStrictEqual } from 'node:util';
import type { ConnectionView } from '../connections/service.ts';
import { TENANT_ROLES } from '../tenants/model.ts';
import { checked, type Form, integer, lines, optional, orNull, text } from './form.ts';
import { checkbox, input, radio, select, textarea } from './layout.ts';

/**
 * The protocol forms of the console (new and edit) and what they send: the same bodies the admin
 * API takes, validated by the connection service. A secret is write-only: its field is always
 * empty, says whether one is set, and is sent only when something was typed into it.
 */
export type ConnectionType = 'saml' | 'oidc' | 'ldap';
export const CONNECTION_TYPES: readonly ConnectionType[] = ['saml', 'oidc', 'ldap'];
export const TYPE_NAMES: Record<ConnectionType, string> = {
  saml: 'SAML 2.0',
  oidc: 'OpenID Connect',
  ldap: 'LDAP directory',
};

type Config = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const bool = (v: unknown): boolean => v === true;

/** Reads a field: the submitted value after a refused post, else the stored one. */
const reader = (values: Form | undefined) => ({
  v: (name: string, current: string | undefined) => (values ? values[name] : current),
  on: (name: string, current: boolean) => (values ? checked(values, name) : current),
});

const PROVISIONING_MODES: [string, string][] = [
  ['none', 'None: only people already added here sign in'],
  ['jit', 'Just in time: create accounts at first sign-in'],
  ['claims', 'From claims: the identity provider says whom to create'],
  ['self', 'Self: people may join by themselves'],
];

function common(view: ConnectionView | undefined, values: Form | undefined): string {
  const { v } = reader(values);
  const provisioning = view?.provisioning as { mode?: string; defaultRole?: string } | undefined;
  return `${input('Name', 'name', v('name', view?.name), { required: true, id: 'connection-name', hint: 'Shown on the sign-in page, e.g. "Okta".' })}
${select('Provisioning', 'provisioning.mode', PROVISIONING_MODES, v('provisioning.mode', provisioning?.mode ?? 'jit'))}
${select(
  'Role of the accounts it creates',
  'provisioning.defaultRole',
  TENANT_ROLES.filter((r) => r !== 'owner'),
  v('provisioning.defaultRole', provisioning?.defaultRole ?? 'member'),
)}`;
}

const commonBody = (form: Form) => ({
  name: text(form, 'name'),
  provisioning: {
    mode: text(form, 'provisioning.mode') || 'jit',
    defaultRole: text(form, 'provisioning.defaultRole') || 'member',
  },
});

// ---- SAML ----------------------------------------------------------------------------------------

export function samlFields(view: ConnectionView | undefined, values: Form | undefined): string {
  const { v, on } = reader(values);
  const config = (view?.saml ?? {}) as Config;
  const currentUrl = str(config.idpMetadataUrl);
  const editing = view !== undefined;
  const source = v('metadataSource', editing ? 'keep' : 'xml');
  return `${common(view, values)}
<fieldset><legend>Identity provider metadata</legend>
${editing ? radio('Keep the current metadata', 'metadataSource', 'keep', source === 'keep', currentUrl ? `Fetched from ${currentUrl}.` : 'As pasted before.') : ''}
${radio('Paste the metadata XML', 'metadataSource', 'xml', source === 'xml')}
<div class="sub">${textarea('Metadata XML', 'idpMetadataXml', values?.idpMetadataXml ?? '', { id: 'idp-metadata-xml', rows: 8, hint: editing ? 'Paste new metadata here to replace it.' : 'Your identity provider shows it as "SAML metadata" or "federation metadata".' })}
<div data-js hidden><label for="idp-metadata-file">Or read it from a file<span class="hint">Needs JavaScript: the file's text goes into the box above.</span></label>
<input type="file" id="idp-metadata-file" data-into="idp-metadata-xml" accept=".xml,application/xml,text/xml,application/samlmetadata+xml"></div>
<noscript><p class="hint">To read a file, turn on JavaScript, or open the file and paste its text.</p></noscript></div>
${radio('Fetch it from a URL', 'metadataSource', 'url', source === 'url', 'The service fetches it now and refreshes it every day.')}
<div class="sub">${input('Metadata URL', 'idpMetadataUrl', v('idpMetadataUrl', currentUrl), { type: 'url', id: 'idp-metadata-url' })}</div>
</fieldset>
<fieldset><legend>Attributes and signatures</legend>
${input('Groups attribute', 'groupsAttribute', v('groupsAttribute', str(config.groupsAttribute)), { hint: 'The attribute carrying the person’s groups, e.g. "groups". Leave empty for none.' })}
${input('Email attribute', 'emailAttribute', v('emailAttribute', str(config.emailAttribute)), { hint: 'Leave empty to use the NameID (an email address).' })}
${checkbox('Require signed assertions', 'wantAssertionsSigned', on('wantAssertionsSigned', bool(config.wantAssertionsSigned)))}
${checkbox('Require a signed response', 'wantResponseSigned', on('wantResponseSigned', bool(config.wantResponseSigned)))}
</fieldset>`;
}

/** The metadata part of a body: pasted XML, a URL, or (editing) nothing to keep what is stored. */
function metadataOf(form: Form): Config {
  const xml = optional(form, 'idpMetadataXml');
  const url = optional(form, 'idpMetadataUrl');
  let source = text(form, 'metadataSource');
  if (source === '') source = xml ? 'xml' : url ? 'url' : 'keep';
  // Pasted metadata is what the person meant, whichever choice was left ticked.
  if (source === 'keep' && xml) source = 'xml';
  if (source === 'xml') return { idpMetadataXml: form.idpMetadataXml ?? '', idpMetadataUrl: null };
  if (source === 'url') return { idpMetadataUrl: url ?? '', idpMetadataXml: null };
  return {};
}

const samlSettings = (form: Form) => ({
  groupsAttribute: orNull(form, 'groupsAttribute'),
  emailAttribute: orNull(form, 'emailAttribute'),
  wantAssertionsSigned: checked(form, 'wantAssertionsSigned'),
  wantResponseSigned: checked(form, 'wantResponseSigned'),
});

// ---- OIDC ----------------------------------------------------------------------------------------

const PROMPTS = ['login', 'consent', 'select_account', 'none'] as const;

export function oidcFields(view: ConnectionView | undefined, values: Form | undefined): string {
  const { v, on } = reader(values);
  const config = (view?.oidc ?? {}) as Config;
  const secretSet = view?.secretsSet.includes('clientSecret') ?? false;
  const prompt = Array.isArray(config.prompt) ? (config.prompt as string[]) : view ? [] : ['consent'];
  const scopes = Array.isArray(config.scopes) ? (config.scopes as string[]).join(' ') : '';
  return `${common(view, values)}
<fieldset><legend>Identity provider</legend>
${input('Issuer', 'issuer', v('issuer', str(config.issuer)), { type: 'url', required: true, hint: 'The service reads its discovery document (/.well-known/openid-configuration) unless you give the endpoints below.' })}
<details${str(config.authorizationEndpoint) ? ' open' : ''}><summary>Explicit endpoints (no discovery)</summary>
${input('Authorization endpoint', 'authorizationEndpoint', v('authorizationEndpoint', str(config.authorizationEndpoint)), { type: 'url' })}
${input('Token endpoint', 'tokenEndpoint', v('tokenEndpoint', str(config.tokenEndpoint)), { type: 'url' })}
${input('JWKS URI', 'jwksUri', v('jwksUri', str(config.jwksUri)), { type: 'url' })}
${input('UserInfo endpoint', 'userinfoEndpoint', v('userinfoEndpoint', str(config.userinfoEndpoint)), { type: 'url', hint: 'Optional.' })}
</details>
${textarea('CA certificate (PEM)', 'caPem', v('caPem', str(config.caPem)), { rows: 4, hint: 'Only for an identity provider whose TLS certificate a private CA signed.' })}
</fieldset>
<fieldset><legend>Client</legend>
${input('Client id', 'clientId', v('clientId', str(config.clientId)), { required: true })}
${input(secretSet ? 'Client secret: set (type a new one to replace it)' : 'Client secret', 'clientSecret', '', { type: 'password', id: 'client-secret', hint: secretSet ? 'The stored secret is never shown. Leave empty to keep it.' : 'Write-only: it is stored and never shown again.' })}
${select(
  'Client authentication',
  'tokenEndpointAuthMethod',
  [
    ['client_secret_basic', 'client_secret_basic (HTTP Basic)'],
    ['client_secret_post', 'client_secret_post (in the form)'],
    ['private_key_jwt', 'private_key_jwt (a key the service makes)'],
  ],
  v('tokenEndpointAuthMethod', str(config.tokenEndpointAuthMethod) ?? 'client_secret_basic'),
)}
${input('Scopes', 'scopes', v('scopes', scopes), { hint: 'Besides openid, email and profile; separated by spaces, e.g. "groups".' })}
${input('Groups claim', 'groupsClaim', v('groupsClaim', str(config.groupsClaim)), { hint: 'Leave empty for none.' })}
</fieldset>
<fieldset><legend>Sign-in request</legend><p class="hint">prompt: what the identity provider asks for at each sign-in.</p>
${PROMPTS.map((p) => checkbox(p, `prompt.${p}`, on(`prompt.${p}`, prompt.includes(p)))).join('')}
${select('display', 'display', [['', '(not sent)'], 'page', 'popup', 'touch', 'wap'], v('display', str(config.display) ?? ''))}
${input('max_age (seconds)', 'maxAge', v('maxAge', config.maxAge === undefined ? undefined : String(config.maxAge)), { type: 'number', min: 0, hint: 'Sign in again when the last sign-in at the provider is older. Leave empty to not send it.' })}
</fieldset>`;
}

function oidcSettings(form: Form) {
  return {
    issuer: text(form, 'issuer'),
    authorizationEndpoint: orNull(form, 'authorizationEndpoint'),
    tokenEndpoint: orNull(form, 'tokenEndpoint'),
    jwksUri: orNull(form, 'jwksUri'),
    userinfoEndpoint: orNull(form, 'userinfoEndpoint'),
    caPem: orNull(form, 'caPem'),
    clientId: text(form, 'clientId'),
    tokenEndpointAuthMethod: text(form, 'tokenEndpointAuthMethod') || 'client_secret_basic',
    scopes: text(form, 'scopes').split(/\s+/).filter(Boolean),
    groupsClaim: orNull(form, 'groupsClaim'),
    prompt: PROMPTS.filter((p) => checked(form, `prompt.${p}`)),
    display: orNull(form, 'display'),
    maxAge: integer(form, 'maxAge') ?? null,
  };
}

// ---- LDAP ----------------------------------------------------------------------------------------

export function ldapFields(view: ConnectionView | undefined, values: Form | undefined): string {
  const { v, on } = reader(values);
  const config = (view?.ldap ?? {}) as Config;
  const dn = (config.dnResolution ?? {}) as Config;
  const account = (dn.serviceAccount ?? {}) as Config;
  const groupSearch = config.groupSearch as Config | undefined;
  const method = v('dnMethod', str(dn.method) ?? 'search');
  const groupMode = v(
    'groupMode',
    groupSearch === undefined ? 'none' : groupSearch.memberOf === true ? 'memberOf' : 'search',
  );
  const passwordSet = view?.secretsSet.includes('dnResolution.serviceAccount.password') ?? false;
  const formats = Object.entries((dn.formats ?? {}) as Record<string, string>)
    .map(([domain, pattern]) => `${domain} = ${pattern}`)
    .join('\n');
  return `${common(view, values)}
<fieldset><legend>Directory</legend>
${input('URL', 'url', v('url', str(config.url)), { required: true, id: 'ldap-url', placeholder: 'ldaps://ldap.example.com', hint: 'ldaps://, or ldap:// which the service upgrades with StartTLS.' })}
${textarea('CA certificate (PEM)', 'caPem', v('caPem', str(config.caPem)), { rows: 4, id: 'ldap-ca', hint: 'The CA that signed the directory’s TLS certificate, when it is a private one.' })}
${checkbox('Plain LDAP without TLS', 'insecure', on('insecure', bool(config.insecure)), 'For a local test directory only; refused on a deployment.')}
</fieldset>
<fieldset><legend>Finding a person’s entry from their email</legend>
${radio('Search for it', 'dnMethod', 'search', method === 'search', 'With a service account (or anonymously) under a base DN.')}
<div class="sub">${input('Base DN', 'search.baseDn', v('search.baseDn', str(dn.baseDn)), { id: 'ldap-base-dn', placeholder: 'ou=people,dc=example,dc=com' })}
${input('User object class', 'search.userObjectClass', v('search.userObjectClass', str(dn.userObjectClass) ?? 'inetOrgPerson'))}
${input('Mail attribute', 'search.mailAttribute', v('search.mailAttribute', str(dn.mailAttribute) ?? 'mail'))}
${input('Service account DN', 'search.serviceAccountDn', v('search.serviceAccountDn', str(account.dn)), { id: 'ldap-service-dn', hint: 'Leave empty to search anonymously.' })}
${input(passwordSet ? 'Service account password: set (type a new one to replace it)' : 'Service account password', 'search.serviceAccountPassword', '', { type: 'password', id: 'service-account-password', hint: passwordSet ? 'The stored password is never shown. Leave empty to keep it.' : 'Write-only: it is stored and never shown again.' })}
</div>
${radio('Build it from the email', 'dnMethod', 'format', method === 'format')}
<div class="sub">${textarea('Formats', 'formats', v('formats', formats), { rows: 3, hint: 'One domain a line: "example.com = uid={},ou=people,dc=example,dc=com" ({} is the part before @).' })}</div>
${radio('Bind with the email itself (Active Directory UPN)', 'dnMethod', 'upn', method === 'upn')}
</fieldset>
<fieldset><legend>Groups</legend>
${radio('No group search', 'groupMode', 'none', groupMode === 'none')}
${radio('Read memberOf on the person’s entry', 'groupMode', 'memberOf', groupMode === 'memberOf')}
${radio('Search groups under a base DN', 'groupMode', 'search', groupMode === 'search')}
<div class="sub">${input('Group base DN', 'groups.baseDn', v('groups.baseDn', str(groupSearch?.baseDn)), { id: 'ldap-group-base-dn', placeholder: 'ou=groups,dc=example,dc=com' })}
${input('Group object class', 'groups.objectClass', v('groups.objectClass', str(groupSearch?.objectClass) ?? 'groupOfNames'))}
${input('Member attribute', 'groups.memberAttribute', v('groups.memberAttribute', str(groupSearch?.memberAttribute) ?? 'member'))}</div>
${checkbox('Nested groups', 'groups.nested', on('groups.nested', bool(groupSearch?.nested)), 'Also the groups of the groups a person is in (either way above).')}
</fieldset>`;
}

function dnResolutionOf(form: Form): Config {
  const method = text(form, 'dnMethod') || 'search';
  if (method === 'upn') return { method: 'upn' };
  if (method === 'format') {
    const formats: Record<string, string> = {};
    for (const line of lines(form, 'formats')) {
      const eq = line.indexOf('=');
      if (eq > 0) formats[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
      else formats[line] = '';
    }
    return { method: 'format', formats };
  }
  const accountDn = optional(form, 'search.serviceAccountDn');
  const password = form['search.serviceAccountPassword'] ?? '';
  const userObjectClass = optional(form, 'search.userObjectClass');
  const mailAttribute = optional(form, 'search.mailAttribute');
  return {
    method: 'search',
    baseDn: text(form, 'search.baseDn'),
    ...(userObjectClass ? { userObjectClass } : {}),
    ...(mailAttribute ? { mailAttribute } : {}),
    ...(accountDn ? { serviceAccount: { dn: accountDn, ...(password ? { password } : {}) } } : {}),
  };
}

function groupSearchOf(form: Form): Config | null {
  const mode = text(form, 'groupMode') || 'none';
  const nested = checked(form, 'groups.nested');
  if (mode === 'memberOf') return { memberOf: true, nested };
  if (mode !== 'search') return null;
  const objectClass = optional(form, 'groups.objectClass');
  const memberAttribute = optional(form, 'groups.memberAttribute');
  return {
    baseDn: text(form, 'groups.baseDn'),
    ...(objectClass ? { objectClass } : {}),
    ...(memberAttribute ? { memberAttribute } : {}),
    nested,
  };
}

const ldapSettings = (form: Form) => ({
  url: text(form, 'url'),
  caPem: orNull(form, 'caPem'),
  insecure: checked(form, 'insecure'),
  dnResolution: dnResolutionOf(form),
  groupSearch: groupSearchOf(form),
});

// ---- bodies ------------------------------------------------------------------------------------

/** Nulls (with which a change removes a setting) left out of a new connection's settings. */
const withoutNulls = (config: Config): Config =>
  Object.fromEntries(Object.entries(config).filter(([, value]) => value !== null));

const oidcSecret = (form: Form) => (form.clientSecret ? { clientSecret: form.clientSecret } : {});

/** POST …/connections: a new connection, saved switched off until its report has been looked at. */
export function createBody(type: ConnectionType, form: Form): Record<string, unknown> {
  const base = { type, ...commonBody(form), enabled: false };
  if (type === 'saml') return { ...base, saml: withoutNulls({ ...metadataOf(form), ...samlSettings(form) }) };
  if (type === 'oidc') return { ...base, oidc: withoutNulls({ ...oidcSettings(form), ...oidcSecret(form) }) };
  return { ...base, ldap: withoutNulls(ldapSettings(form)) };
}

const same = (a: unknown, b: unknown): boolean =>
  typeof a === 'string' && typeof b === 'string'
    ? a.replace(/\r\n?/g, '\n').trim() === b.replace(/\r\n?/g, '\n').trim()
    : isDeepStrictEqual(a, b) || (a === undefined && b === null);

/**
 * Only the settings the form changed: an unchanged CA or URL is not sent again (a textarea comes
 * back with other line breaks), so a stored secret bound to it is never discarded by a save.
 */
const changedOnly = (current: Config, next: Config): Config =>
  Object.fromEntries(Object.entries(next).filter(([key, value]) => !same(current[key], value)));

/** PATCH …/connections/{c}: the form's changes merged over the stored settings, secrets only when typed. */
export function patchBody(view: ConnectionView, form: Form): Record<string, unknown> {
  const base = commonBody(form);
  const current = (view[view.type] ?? {}) as Config;
  if (view.type === 'saml')
    return { ...base, saml: changedOnly(current, { ...metadataOf(form), ...samlSettings(form) }) };
  if (view.type === 'oidc')
    return { ...base, oidc: { ...changedOnly(current, oidcSettings(form)), ...oidcSecret(form) } };
  return { ...base, ldap: changedOnly(current, ldapSettings(form)) };
}

export const fieldsFor = (type: ConnectionType) =>
  type === 'saml' ? samlFields : type === 'oidc' ? oidcFields : ldapFields;
