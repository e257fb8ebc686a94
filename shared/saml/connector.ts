import type { Connector, SaveResult } from '../connections/contract.ts';
import { type Compatibility, type Finding, verdict } from '../connections/model.ts';
import { SamlConfig } from '../connections/schema.ts';
import { isAppError } from '../errors.ts';
import type { HttpRequest } from '../http/types.ts';
import { guardedFetch } from '../net/url-guard.ts';
import type { Runtime } from '../runtime.ts';
import {
  claimEntity,
  connectionsUsingEntity,
  indexSamlConnection,
  releaseEntity,
  unindexSamlConnection,
} from '../store/idp-entities.ts';
import { assess, type IdpMetadata, MetadataError, parseIdpMetadata, type SamlDerived } from './metadata.ts';
import { verifyResponse } from './service.ts';
import { changeSpKeySet, spKeysOf, spKeysOnSave } from './sp-keys.ts';

export type { SamlDerived } from './metadata.ts';

const spUrls = (baseUrl: string, id: string) => ({
  entityId: `${baseUrl}/saml/${id}/metadata.xml`,
  acsUrl: `${baseUrl}/saml/${id}/acs`,
  metadataUrl: `${baseUrl}/saml/${id}/metadata.xml`,
  loginUrl: `${baseUrl}/saml/${id}/login`,
});

async function loadMetadata(
  rt: Runtime,
  config: SamlConfig,
): Promise<{ xml: string; source: 'xml' | 'url' }> {
  if (config.idpMetadataXml) return { xml: config.idpMetadataXml, source: 'xml' };
  const url = config.idpMetadataUrl ?? '';
  const res = await guardedFetch(url, {
    allowPrivate: rt.config.ALLOW_PRIVATE_URLS,
    maxBytes: 1024 * 1024,
    timeoutMs: 5000,
  });
  if (res.status !== 200)
    throw new MetadataError('metadata_fetch_failed', `The metadata URL answered ${res.status}.`);
  return { xml: res.text, source: 'url' };
}

/**
 * Reads the IdP metadata (pasted, or fetched through the SSRF guard), keeps the parsed result, and
 * reports compatibility. When a fetch or parse fails and an earlier good copy exists, the good
 * copy stays and the failure is a warning, so a flaky IdP never breaks working logins.
 */
async function refresh(
  rt: Runtime,
  tenantId: string,
  connectionId: string,
  config: SamlConfig,
  previous: SamlDerived | undefined,
): Promise<SaveResult> {
  const fail = (code: string, message: string): SaveResult => {
    const finding: Finding = { code, message };
    if (previous?.idp) {
      const kept = assess(previous.idp, rt.clock.now(), false);
      return {
        compatibility: verdict(kept.problems, [
          ...kept.warnings,
          { code: 'metadata_refresh_failed', message },
        ]),
        derived: previous as unknown as Record<string, unknown>,
      };
    }
    return { compatibility: verdict([finding], []) };
  };
  let meta: IdpMetadata;
  let source: 'xml' | 'url';
  try {
    const loaded = await loadMetadata(rt, config);
    source = loaded.source;
    meta = parseIdpMetadata(loaded.xml);
  } catch (error) {
    if (error instanceof MetadataError) return fail(error.code, error.message);
    if (isAppError(error))
      return fail(
        error.code === 'url_not_allowed' ? 'url_not_allowed' : 'metadata_fetch_failed',
        error.message,
      );
    throw error;
  }
  const others = (await connectionsUsingEntity(rt.db, meta.entityId, tenantId)).filter(
    (id) => id !== connectionId,
  );
  if (previous?.idp && previous.idp.entityId !== meta.entityId)
    await releaseEntity(rt.db, previous.idp.entityId, connectionId);
  await claimEntity(rt.db, meta.entityId, connectionId, tenantId);
  const derived: SamlDerived = { idp: { ...meta, fetchedAt: rt.clock.now().toISOString(), source } };
  return {
    compatibility: assess(meta, rt.clock.now(), others.length > 0) satisfies Compatibility,
    derived: derived as unknown as Record<string, unknown>,
  };
}

export const samlConnector = {
  type: 'saml',
  schema: SamlConfig,
  secretPaths: [['spPrivateKeyPem']],
  // The SP key signs AuthnRequests and decrypts assertions here: it is never sent anywhere.
  secretDestinations: { spPrivateKeyPem: [] },
  requiredSecrets: () => [],
  sp: spUrls,
  onSave: async (rt, input) => {
    const { tenantId, connectionId, config, previous } = input;
    await indexSamlConnection(rt.db, connectionId, tenantId);
    const result = await refresh(
      rt,
      tenantId,
      connectionId,
      config,
      previous?.derived as SamlDerived | undefined,
    );
    // Every SAML connection has an SP key pair: carried over, or made now (sp-keys.ts).
    const sp = await spKeysOnSave(rt, input);
    return { ...result, derived: { ...(result.derived ?? {}), sp } };
  },
  // The posted response (POST /saml/{c}/acs) → a verified identity.
  verify: verifyResponse,
  liveTest: async (rt, connection) => {
    const result = await refresh(
      rt,
      connection.tenantId,
      connection.id,
      connection.config,
      connection.derived as SamlDerived | undefined,
    );
    const idp = (result.derived as SamlDerived | undefined)?.idp;
    // The SP key set is kept as it is: a live test never changes it.
    const sp = connection.derived?.sp;
    return {
      ...result,
      ...(result.derived && sp !== undefined ? { derived: { ...result.derived, sp } } : {}),
      report: idp
        ? {
            entityId: idp.entityId,
            certificates: idp.certificates.length,
            fetchedAt: idp.fetchedAt,
            source: idp.source,
          }
        : {},
    };
  },
  // Rotate, activate, retire the SP keys (sp-keys.ts): the admin route and the console alike.
  spKeys: changeSpKeySet,
  ownedSecrets: (connection) => spKeysOf(connection).map((k) => k.secretRef),
  onDelete: async (rt, connection) => {
    await unindexSamlConnection(rt.db, connection.id);
    // The generated SP keys' secrets go with the connection (uploaded ones are secretRefs, dropped by the CRUD).
    await Promise.allSettled(spKeysOf(connection).map((k) => rt.secrets.delete(k.secretRef)));
    const idp = (connection.derived as SamlDerived | undefined)?.idp;
    if (idp) await releaseEntity(rt.db, idp.entityId, connection.id);
  },
} satisfies Connector<SamlConfig, HttpRequest>;
