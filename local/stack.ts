import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { recordAuditEvent } from '#shared/audit/records.ts';
import { endApplicationSessions, endedSessions } from '#shared/oauth/logout.ts';
import type { Clock } from '#shared/ports/clock.ts';
import { LocalEventBus } from '#shared/ports/events.ts';
import { LocalMailer } from '#shared/ports/mail.ts';
import { LocalSecretStore } from '#shared/ports/secrets.ts';
import { FUNCTIONS, type FunctionName, ROUTES } from '#shared/routes.ts';
import { configureRuntime, runtime } from '#shared/runtime.ts';
import { createDemo, type Demo, type DemoOptions } from './demo/index.ts';
import { ensureTable } from './dynamodb.ts';
import { createLocalServer, type LambdaHandler } from './server.ts';

export const OPERATOR_TOKEN_REF = 'operator-token';
export const SESSION_KEYS_REF = 'session-keys';
export const OAUTH_KEYS_REF = 'oauth-keys';

export interface LocalStackOptions {
  dynamodbEndpoint: string;
  tableName?: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Defaults to http://localhost:{port}. */
  baseUrl?: string;
  /** Generated when absent. */
  operatorToken?: string;
  /** Where the local secrets file and the mail outbox (`outbox/`) live; memory only when absent. */
  dataDir?: string;
  /** Sender shown on local mail; `sso@localhost` by default. */
  mailFrom?: string;
  clock?: Clock;
  allowPrivateUrls?: boolean;
  /**
   * Seeds the demo tenant and serves the demo identity providers under /demo/: `true` is the SAML
   * IdP alone; DemoOptions adds the OIDC IdP, the LDAP directory and the demo application.
   */
  demo?: boolean | DemoOptions;
}

export interface LocalStack {
  url: string;
  operatorToken: string;
  tableName: string;
  events: LocalEventBus;
  secrets: LocalSecretStore;
  /** The outbox: every message the handlers sent, newest last (`mail.lastTo(email)`). */
  mail: LocalMailer;
  /** The demo's connections (SAML always) and application URL, when the demo was seeded. */
  demo?: Pick<Demo, 'connectionId' | 'oidcConnectionId' | 'ldapConnectionId' | 'appUrl' | 'owner'>;
  close(): Promise<void>;
}

async function loadHandlers(): Promise<Record<string, LambdaHandler>> {
  const handlers: Record<string, LambdaHandler> = {};
  for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
    const module = (await import(`../functions/${name}.ts`)) as { handler: LambdaHandler };
    handlers[name] = module.handler;
  }
  return handlers;
}

/**
 * The whole stack in this process: the table on a running DynamoDB Local, local secrets, event and
 * mail adapters in place of AWS's, and every route of the route table served by its Lambda handler.
 * `npm start` and the tests both start it through here.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const tableName = options.tableName ?? 'sso';
  await ensureTable(options.dynamodbEndpoint, tableName);

  const secrets = new LocalSecretStore(options.dataDir ? join(options.dataDir, 'secrets.json') : undefined);
  const operatorToken = options.operatorToken ?? randomBytes(32).toString('base64url');
  await secrets.set(OPERATOR_TOKEN_REF, operatorToken);
  // Like the deployed stack: the signing-key secret exists from the start; the code fills it.
  for (const ref of [SESSION_KEYS_REF, OAUTH_KEYS_REF]) {
    await secrets.get(ref).catch(() => secrets.set(ref, JSON.stringify({ keys: [] })));
  }
  const events = new LocalEventBus();
  // In place of SES: each message as a file under {dataDir}/outbox plus one log line saying where.
  const mail = new LocalMailer({
    ...(options.dataDir ? { dir: join(options.dataDir, 'outbox') } : {}),
    ...(options.mailFrom ? { from: options.mailFrom } : {}),
  });
  // What EventBridge and the audit consumer do in AWS: every event becomes an audit record.
  events.subscribe((event) =>
    recordAuditEvent(runtime(), event).then(
      () => undefined,
      (error) => console.error('audit record failed', error),
    ),
  );
  // What EventBridge and the oauth-logout function do in AWS: a session end logs applications
  // out. Not awaited, as in AWS the publishing request does not wait for the consumer.
  events.subscribe((event) => {
    if (event.type !== 'session.revoked') return;
    const sessions = endedSessions(event.detail);
    if (sessions.length === 0) return;
    void endApplicationSessions(runtime(), sessions).catch((error) =>
      console.error('application logout failed', error),
    );
  });

  const handlers = await loadHandlers();
  let demo: Demo | undefined;
  const server = createLocalServer({
    routes: ROUTES,
    handlers,
    extra: async (req, res, url) => (demo ? demo.handle(req, res, url) : false),
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => done());
  });
  const { port } = server.address() as AddressInfo;
  const url = (options.baseUrl ?? `http://localhost:${port}`).replace(/\/+$/, '');

  Object.assign(process.env, {
    TABLE_NAME: tableName,
    BASE_URL: url,
    DYNAMODB_ENDPOINT: options.dynamodbEndpoint,
    OPERATOR_TOKEN_SECRET_ID: OPERATOR_TOKEN_REF,
    SESSION_KEYS_SECRET_ID: SESSION_KEYS_REF,
    OAUTH_KEYS_SECRET_ID: OAUTH_KEYS_REF,
    ALLOW_PRIVATE_URLS: options.allowPrivateUrls === false ? '0' : '1',
  });
  configureRuntime({ secrets, events, mail, ...(options.clock ? { clock: options.clock } : {}) });

  if (options.demo) {
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(url + path, {
        method,
        headers: {
          authorization: `Bearer ${operatorToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
    };
    demo = await createDemo(url, options.dataDir, options.demo === true ? {} : options.demo);
    try {
      await demo.seed({ call: api });
    } catch (error) {
      await demo.close();
      server.closeAllConnections();
      server.close();
      throw error;
    }
  }

  return {
    url,
    operatorToken,
    tableName,
    events,
    secrets,
    mail,
    ...(demo
      ? {
          demo: {
            connectionId: demo.connectionId,
            owner: demo.owner,
            ...(demo.oidcConnectionId ? { oidcConnectionId: demo.oidcConnectionId } : {}),
            ...(demo.ldapConnectionId ? { ldapConnectionId: demo.ldapConnectionId } : {}),
            ...(demo.appUrl ? { appUrl: demo.appUrl } : {}),
          },
        }
      : {}),
    close: async () => {
      await demo?.close();
      await new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      });
    },
  };
}
