import { inflateRawSync } from 'node:zlib';
import {
  buildResponse,
  type IdpKey,
  idpMetadata,
  makeIdpKey,
  type ResponseOptions,
  signResponse,
} from '../../local/demo/saml-idp.ts';
import type { TestStack } from './stack.ts';

export const IDP_ENTITY = 'https://idp.saml.test/metadata';

export interface SamlFixture {
  stack: TestStack;
  tenantId: string;
  connectionId: string;
  entityId: string;
  acsUrl: string;
  key: IdpKey;
  rotated: IdpKey;
  attacker: IdpKey;
}

/** A tenant with a SAML connection to a test IdP whose metadata lists two signing certificates. */
export async function samlFixture(
  stack: TestStack,
  tenantId: string,
  saml: Record<string, unknown> = {},
  keys?: { key: IdpKey; rotated: IdpKey; attacker: IdpKey },
): Promise<SamlFixture> {
  const { key, rotated, attacker } = keys ?? {
    key: makeIdpKey(),
    rotated: makeIdpKey(),
    attacker: makeIdpKey(),
  };
  const t = await stack.call('POST', '/admin/tenants', {
    body: {
      id: tenantId,
      name: tenantId,
      settings: { appUrl: 'https://app.saml.test/home', allowedRedirectUrls: ['https://app.saml.test/deep'] },
    },
  });
  if (t.status !== 201) throw new Error(t.text);
  const c = await stack.call<{ id: string; sp: { entityId: string; acsUrl: string } }>(
    'POST',
    `/admin/tenants/${tenantId}/connections`,
    {
      body: {
        type: 'saml',
        name: 'Test IdP',
        saml: {
          idpMetadataXml: idpMetadata(
            IDP_ENTITY,
            [key.certDer, rotated.certDer],
            'https://idp.saml.test/sso',
          ),
          groupsAttribute: 'groups',
          ...saml,
        },
        provisioning: { mode: 'jit' },
      },
    },
  );
  if (c.status !== 201) throw new Error(c.text);
  return {
    stack,
    tenantId,
    connectionId: c.body.id,
    entityId: c.body.sp.entityId,
    acsUrl: c.body.sp.acsUrl,
    key,
    rotated,
    attacker,
  };
}

export function response(f: SamlFixture, over: Partial<ResponseOptions> = {}): string {
  return buildResponse({
    issuer: IDP_ENTITY,
    destination: f.acsUrl,
    recipient: f.acsUrl,
    audiences: [f.entityId],
    nameId: 'user@saml.test',
    attributes: { firstName: 'Sam', lastName: 'Lee', groups: ['g-eng'] },
    ...over,
  });
}

export const signed = (
  f: SamlFixture,
  over: Partial<ResponseOptions> = {},
  what: 'assertion' | 'response' | 'both' = 'assertion',
) => signResponse(response(f, over), f.key, what);

export interface AcsResult {
  status: number;
  code?: string;
  email?: string;
  location?: string | null;
  body: Record<string, unknown>;
}

/** Posts a response to the ACS as the IdP's form would; `raw` sends the SAMLResponse field as is. */
export async function postAcs(
  f: SamlFixture,
  xml: string,
  options: { relayState?: string; accept?: string; raw?: boolean } = {},
): Promise<AcsResult> {
  const form = new URLSearchParams({ SAMLResponse: options.raw ? xml : Buffer.from(xml).toString('base64') });
  if (options.relayState) form.set('RelayState', options.relayState);
  const res = await fetch(`${f.stack.url}/saml/${f.connectionId}/acs`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      accept: options.accept ?? 'application/json',
    },
    body: form.toString(),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  const error = body.error as { code?: string } | undefined;
  const session = body.session as { email?: string } | undefined;
  return {
    status: res.status,
    ...(error?.code ? { code: error.code } : {}),
    ...(session?.email ? { email: session.email } : {}),
    location: res.headers.get('location'),
    body,
  };
}

/** The AuthnRequest inside a redirect-binding URL (SAML bindings 3.4.4.1: deflate + base64). */
export function authnRequestXml(location: string): string {
  const request = new URL(location).searchParams.get('SAMLRequest') ?? '';
  return inflateRawSync(Buffer.from(request, 'base64')).toString('utf8');
}

/** The AuthnRequest ID inside a redirect-binding URL. */
export function authnRequestId(location: string): string {
  return /ID="([^"]+)"/.exec(authnRequestXml(location))?.[1] ?? '';
}
