import { createHash } from 'node:crypto';
import { errors } from 'oidc-provider';
import type { Application } from '../applications/model.ts';
import { isAppError } from '../errors.ts';
import type { Runtime } from '../runtime.ts';
import {
  consumeArtifact,
  deleteArtifact,
  deleteIssuedBy,
  getArtifact,
  type OAuthArtifact,
  putArtifacts,
} from '../store/oauth.ts';
import { applicationOf } from './applications.ts';
import { currentContext, type GrantLinks } from './context.ts';

/**
 * oidc-provider's storage adapter on the one DynamoDB table (shared/store/oauth.ts). One instance
 * per model name. Everything is read strongly consistent and checked against its own expiry (TTL
 * deletes late). `consume` is conditional, so a code or refresh token has one redeemer even when
 * two requests race past the library's own `consumed` check: the loser revokes the grant (as a
 * replay) and gets `invalid_grant`. Applications (model `Client`) are the operator's `APP#` items.
 */

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Models whose artifacts a grant issues: deleted with the grant. */
const GRANTABLE = new Set([
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

/** Pointer models: `Session` by uid, `DeviceCode` by user code, OP sessions by sign-in session. */
const SESSION_UID = 'SessionUid';
const USER_CODE = 'UserCode';
export const SSO_LINK = 'SsoLink';

/**
 * Artifacts that are bearer credentials (codes, access and refresh tokens): stored under the
 * SHA-256 of their value, never the value itself (as API tokens and password links are), so a copy
 * of the table holds no usable token. Device codes are the exception: the library finds them by
 * user code and needs their value back; they live ten minutes and are spent once confirmed.
 */
const HASHED = new Set([
  'AuthorizationCode',
  'AccessToken',
  'RefreshToken',
  'BackchannelAuthenticationRequest',
]);
const keyId = (model: string, id: string) =>
  HASHED.has(model) ? createHash('sha256').update(id).digest('base64url') : id;

/** The library's ids (nanoid, user codes) are short and URL-safe: anything else is no such artifact. */
const plausibleId = (id: unknown): id is string => typeof id === 'string' && /^[\w-]{1,256}$/.test(id);

type Payload = Record<string, unknown> & {
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: unknown;
};

/** Notes an outage on the request, so the bridge answers 503 rather than the library's 500. */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const context = currentContext();
    if (context && isAppError(error) && error.status === 503) context.outage ??= error;
    throw error;
  }
}

/**
 * The payload as the library stored it. Expiry is the library's to judge (its payloads carry
 * `exp`; it tells an expired device code from an unknown one), so the item's TTL is not checked.
 */
function payloadOf(artifact: OAuthArtifact | undefined, id?: string): Payload | undefined {
  if (!artifact) return undefined;
  const stored = JSON.parse(artifact.payload) as Payload;
  // A hashed artifact's own value (its jti) is not stored: it is the id asked for.
  const payload = HASHED.has(artifact.model) && id !== undefined ? { ...stored, jti: id } : stored;
  return artifact.consumed === undefined ? payload : { ...payload, consumed: artifact.consumed };
}

function remember(grantId: string, links: GrantLinks) {
  currentContext()?.grants.set(grantId, links);
}

/** The client metadata oidc-provider reads for an application. */
export async function clientMetadata(rt: Runtime, app: Application): Promise<Record<string, unknown>> {
  const request = currentContext()?.request;
  // The library holds one authentication method per client; a confidential application may use
  // either secret method, so the one this request uses is the one it is registered with now.
  const viaPost =
    request !== undefined &&
    !/^basic /i.test(request.headers.authorization ?? '') &&
    /(^|&)client_secret=/.test(request.rawBody ?? '');
  const secret = app.secretRef ? await rt.secrets.get(app.secretRef) : undefined;
  return {
    client_id: app.clientId,
    client_name: app.name,
    ...(app.type === 'public'
      ? { token_endpoint_auth_method: 'none' }
      : {
          token_endpoint_auth_method: viaPost ? 'client_secret_post' : 'client_secret_basic',
          ...(secret ? { client_secret: secret } : {}),
        }),
    redirect_uris: app.redirectUris,
    post_logout_redirect_uris: app.postLogoutRedirectUris,
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    // No initiate_login_uri: the library would only validate it (https only, where registration
    // allows http on the loopback); the service starts third-party-initiated logins from the
    // application record itself (identity/respond.ts).
    ...(app.backchannelLogoutUri
      ? { backchannel_logout_uri: app.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
    id_token_signed_response_alg: 'ES256',
    // Redirect URIs were checked at registration (exact, https or loopback); native-app rules of
    // the library (loopback ports) must not loosen the exact match.
    application_type: 'web',
  };
}

/** The adapter class oidc-provider constructs per model, bound to a runtime. */
export function adapterFor(rt: Runtime) {
  return class DynamoAdapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: Payload, expiresIn: number): Promise<void> {
      await guarded(async () => {
        const expiresAt = nowSeconds() + Math.max(1, Math.ceil(expiresIn));
        const context = currentContext();
        let links: Partial<GrantLinks> = {};
        if (this.model === 'Grant') {
          // Linked to the sign-in session it was made for; a later save keeps that link.
          const known = context?.grants.get(id) ?? context?.linkTo ?? (await this.#storedLinks('Grant', id));
          if (known) {
            links = known;
            remember(id, known);
          }
        } else if (this.model === 'Session' && payload.accountId) {
          // Saved on every request that had it: keep the link to the sign-in session it was
          // made on unless this request verified one (device pages, logout pages do not).
          links =
            context?.linkTo ?? context?.renamedSession ?? (await this.#storedLinks('Session', id)) ?? {};
        }
        const { jti: _value, ...withoutValue } = payload;
        const artifact: OAuthArtifact = {
          model: this.model,
          id: keyId(this.model, id),
          payload: JSON.stringify(HASHED.has(this.model) ? withoutValue : payload),
          expiresAt,
          ...(GRANTABLE.has(this.model) && payload.grantId ? { grantId: payload.grantId } : {}),
          ...links,
        };
        // With its pointer (an OP session by uid, a device code by user code), in one request.
        const pointer =
          this.model === 'Session' && payload.uid
            ? { model: SESSION_UID, id: payload.uid }
            : this.model === 'DeviceCode' && payload.userCode
              ? { model: USER_CODE, id: payload.userCode }
              : undefined;
        // An OP session also stays findable from every sign-in session it served (a person may
        // sign in to another tenant in the same browser): one link item per pair.
        const ssoLink =
          this.model === 'Session' && links.ssoSid
            ? { model: SSO_LINK, id: `${links.ssoSid}.${id}`, ssoSid: links.ssoSid, tenantId: links.tenantId }
            : undefined;
        await putArtifacts(rt.db, [
          artifact,
          ...(pointer ? [{ ...pointer, payload: '{}', target: artifact.id, expiresAt }] : []),
          ...(ssoLink ? [{ ...ssoLink, payload: '{}', target: id, expiresAt }] : []),
        ]);
      });
    }

    async #storedLinks(model: string, id: string): Promise<GrantLinks | undefined> {
      const stored = await getArtifact(rt.db, model, id);
      return stored?.tenantId && stored.ssoSid
        ? { tenantId: stored.tenantId, ssoSid: stored.ssoSid }
        : undefined;
    }

    async find(id: string): Promise<Payload | undefined> {
      if (!plausibleId(id)) return undefined;
      return guarded(async () => {
        if (this.model === 'Client') {
          const app = await applicationOf(rt, id);
          return app ? clientMetadata(rt, app) : undefined;
        }
        const artifact = await getArtifact(rt.db, this.model, keyId(this.model, id));
        if (this.model === 'Grant' && artifact?.tenantId && artifact.ssoSid) {
          remember(id, { tenantId: artifact.tenantId, ssoSid: artifact.ssoSid });
        }
        return payloadOf(artifact, id);
      });
    }

    async #byPointer(pointerModel: string, value: string): Promise<Payload | undefined> {
      if (!plausibleId(value)) return undefined;
      return guarded(async () => {
        const pointer = await getArtifact(rt.db, pointerModel, value);
        if (!pointer?.target) return undefined;
        // Pointers lead to unhashed models only (sessions, device codes).
        return payloadOf(await getArtifact(rt.db, this.model, pointer.target));
      });
    }

    findByUid(uid: string) {
      return this.#byPointer(SESSION_UID, uid);
    }

    findByUserCode(userCode: string) {
      return this.#byPointer(USER_CODE, userCode);
    }

    async consume(id: string): Promise<void> {
      await guarded(async () => {
        if (await consumeArtifact(rt.db, this.model, keyId(this.model, id), nowSeconds())) return;
        // Lost a race with another redemption: a replay, treated as the library treats one.
        const artifact = await getArtifact(rt.db, this.model, keyId(this.model, id));
        if (artifact?.grantId) {
          await this.revokeByGrantId(artifact.grantId);
          await deleteArtifact(rt.db, 'Grant', artifact.grantId);
        }
        throw new errors.InvalidGrant(
          `${this.model === 'RefreshToken' ? 'refresh token' : 'grant'} already consumed`,
        );
      });
    }

    async destroy(id: string): Promise<void> {
      if (!plausibleId(id)) return;
      const context = currentContext();
      if (this.model === 'Session' && context && !context.linkTo) {
        // The library renames a session (a new id, the old one destroyed) on some logouts: the new
        // one stands on the same sign-in session.
        const links = await guarded(() => this.#storedLinks('Session', id));
        if (links) context.renamedSession = links;
      }
      await guarded(() => deleteArtifact(rt.db, this.model, keyId(this.model, id)));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      // The library calls this once per grantable model; the first call deletes them all.
      const revoked = currentContext()?.revoked;
      if (revoked?.has(grantId)) return;
      revoked?.add(grantId);
      await guarded(async () => {
        await deleteIssuedBy(rt.db, grantId);
      });
    }
  };
}
