import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Config, mailSettings, readConfig } from './config.ts';
import { type Clock, systemClock } from './ports/clock.ts';
import { EventBridgePublisher, type EventPublisher } from './ports/events.ts';
import { MAIL_TIMEOUT_MS, type Mailer, SesMailer } from './ports/mail.ts';
import { type SecretStore, SecretsManagerStore } from './ports/secrets.ts';
import { traced } from './tracer.ts';

/** The database handle every repository takes: the document client and the table name. */
export interface Db {
  doc: DynamoDBDocumentClient;
  table: string;
}

/** Everything a handler needs from the outside world, built once per container. */
export interface Runtime {
  config: Config;
  db: Db;
  secrets: SecretStore;
  events: EventPublisher;
  /** Outgoing mail (invitations, password resets); only functions whose spec declares `mail` use it. */
  mail: Mailer;
  clock: Clock;
}

let overrides: Partial<Omit<Runtime, 'config' | 'db'>> = {};
let current: Runtime | undefined;

/**
 * Installs local adapters (secrets, events, mail, clock) in place of the AWS ones. The local server and
 * the tests call it before the first request; Lambda never does.
 */
export function configureRuntime(adapters: Partial<Omit<Runtime, 'config' | 'db'>>): void {
  overrides = { ...overrides, ...adapters };
  current = undefined;
}

export function createDocumentClient(config: Pick<Config, 'DYNAMODB_ENDPOINT' | 'AWS_REGION'>) {
  const client = new DynamoDBClient({
    ...(config.DYNAMODB_ENDPOINT
      ? {
          endpoint: config.DYNAMODB_ENDPOINT,
          region: config.AWS_REGION ?? 'local',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
  });
  return DynamoDBDocumentClient.from(traced(client), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/**
 * SES, built on the first message: only functions whose spec declares `mail` have MAIL_FROM (and
 * the grant, and the SES client in their bundle), and the others must still start without them.
 * One that sends without MAIL_FROM fails there, naming the variable.
 */
function sesMailer(config: Config): Mailer {
  let mailer: SesMailer | undefined;
  return {
    async send(message) {
      mailer ??= new SesMailer(
        traced(
          new SESv2Client({
            // A socket that stalls is dropped; SesMailer bounds the whole send, retries included.
            requestHandler: { connectionTimeout: 1000, requestTimeout: MAIL_TIMEOUT_MS },
            maxAttempts: 2,
          }),
        ),
        mailSettings(config),
      );
      return mailer.send(message);
    },
  };
}

export function runtime(): Runtime {
  if (current) return current;
  const config = readConfig();
  current = {
    config,
    db: { doc: createDocumentClient(config), table: config.TABLE_NAME },
    secrets:
      overrides.secrets ??
      new SecretsManagerStore(traced(new SecretsManagerClient({})), config.SECRETS_PREFIX),
    events:
      overrides.events ?? new EventBridgePublisher(traced(new EventBridgeClient({})), config.EVENT_BUS_NAME),
    mail: overrides.mail ?? sesMailer(config),
    clock: overrides.clock ?? systemClock,
  };
  return current;
}
