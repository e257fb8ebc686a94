import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SESv2Client } from '@aws-sdk/client-sesv2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Config, mailSettings, readConfig } from './config.ts';
import { AppError } from './errors.ts';
import { awsClientOptions, callAws, serviceUnavailable } from './ports/aws.ts';
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

/**
 * The DynamoDB document client every repository uses. Its failures are translated here, once, so
 * no repository or service matches AWS error names for them: a table that does not answer in time
 * (AWS_CALL_LIMITS), cannot be reached, throttles or fails (5xx) is a 503 `store_unavailable` with
 * Retry-After; input DynamoDB refuses that we failed to bound (a key over 2 KB, an item over
 * 400 KB) is the caller's, a 400 `invalid_request`. What the table answers about the data (a
 * failed condition, a transaction cancelled by one or by a concurrent one) passes through for the
 * store to interpret; a transaction cancelled only because an item was throttled is an outage.
 */
export function createDocumentClient(config: Pick<Config, 'DYNAMODB_ENDPOINT' | 'AWS_REGION'>) {
  const client = new DynamoDBClient({
    ...awsClientOptions(),
    ...(config.DYNAMODB_ENDPOINT
      ? {
          endpoint: config.DYNAMODB_ENDPOINT,
          region: config.AWS_REGION ?? 'local',
          credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        }
      : {}),
  });
  // The document client shares this stack; `initialize` wraps marshalling, signing and retries.
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await callAws('store_unavailable', STORE_UNAVAILABLE, 'DynamoDB', () => next(args));
      } catch (error) {
        if (isInputRejectedByStore(error)) {
          throw new AppError('invalid_request', 'The request could not be processed.', { cause: error });
        }
        if (isThrottledTransaction(error))
          throw serviceUnavailable('store_unavailable', STORE_UNAVAILABLE, error);
        throw error;
      }
    },
    { step: 'initialize', name: 'storeErrors', priority: 'high' },
  );
  return DynamoDBDocumentClient.from(traced(client), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

const STORE_UNAVAILABLE = 'The service cannot reach its data store right now; try again shortly.';

/** DynamoDB's answer to input it will not store (a ValidationException it sent, not one we made). */
function isInputRejectedByStore(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: unknown } | null;
  return e?.name === 'ValidationException' && e.$metadata !== undefined;
}

/** TransactWriteItems cancelled for throughput alone (no condition failed, no conflict). */
function isThrottledTransaction(error: unknown): boolean {
  const e = error as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name !== 'TransactionCanceledException') return false;
  const codes = (e.CancellationReasons ?? [])
    .map((r) => r.Code)
    .filter((c) => c !== undefined && c !== 'None');
  return (
    codes.length > 0 && codes.every((c) => c === 'ThrottlingError' || c === 'ProvisionedThroughputExceeded')
  );
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
      new SecretsManagerStore(traced(new SecretsManagerClient(awsClientOptions())), config.SECRETS_PREFIX),
    events:
      overrides.events ??
      new EventBridgePublisher(traced(new EventBridgeClient(awsClientOptions())), config.EVENT_BUS_NAME),
    mail: overrides.mail ?? sesMailer(config),
    clock: overrides.clock ?? systemClock,
  };
  return current;
}
