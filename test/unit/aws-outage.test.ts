import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, InternalException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetSecretValueCommand,
  InternalServiceError,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCommand, PutCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../local/dynamodb.ts';
import { isAppError } from '../../shared/errors.ts';
import { AWS_CALL_LIMITS, isOutage, withOutageScope } from '../../shared/ports/aws.ts';
import { EventBridgePublisher } from '../../shared/ports/events.ts';
import { SecretsManagerStore } from '../../shared/ports/secrets.ts';
import { createDocumentClient } from '../../shared/runtime.ts';

/**
 * AWS services that fail or do not answer become the port's 503 with Retry-After, in bounded
 * time; their other answers stay as they are. Secrets Manager and EventBridge through
 * aws-sdk-client-mock; DynamoDB through the real client against a fake endpoint, so the socket
 * timeouts, the retry and the client middleware all run.
 */

const sm = mockClient(SecretsManagerClient);
const eb = mockClient(EventBridgeClient);
beforeEach(() => {
  sm.reset();
  eb.reset();
});
afterEach(() => {
  vi.useRealTimers();
});

const settle = <T>(work: Promise<T>): Promise<unknown> =>
  work.then(
    () => 'resolved',
    (error: unknown) => error,
  );

function expectUnavailable(error: unknown, code: string) {
  if (!isAppError(error)) throw new Error(`expected an AppError, got ${String(error)}`);
  expect(error).toMatchObject({ status: 503, code, expose: true, headers: { 'retry-after': '5' } });
  return error;
}

const networkError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code });
const throttled = () =>
  Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $fault: 'client', $metadata: {} });
const never = () => new Promise<never>(() => {});

describe('isOutage', () => {
  it('is an outage when the service cannot be reached, times out, throttles or fails', () => {
    expect(isOutage(networkError('ECONNREFUSED'))).toBe(true);
    expect(isOutage(networkError('ECONNRESET'))).toBe(true);
    expect(isOutage(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe(true);
    expect(isOutage(throttled())).toBe(true);
    expect(isOutage({ name: 'X', $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isOutage(new InternalServiceError({ message: 'boom', $metadata: { httpStatusCode: 500 } }))).toBe(
      true,
    );
  });

  it('is not one for the service’s answers about the request', () => {
    expect(isOutage(new ConditionalCheckFailedException({ message: 'c', $metadata: {} }))).toBe(false);
    expect(isOutage(new ResourceNotFoundException({ message: 'gone', $metadata: {} }))).toBe(false);
    expect(
      isOutage({ name: 'ValidationException', $fault: 'client', $metadata: { httpStatusCode: 400 } }),
    ).toBe(false);
    expect(isOutage(new Error('a bug'))).toBe(false);
    expect(isOutage(undefined)).toBe(false);
  });
});

describe('SecretsManagerStore when Secrets Manager is out', () => {
  const store = () => new SecretsManagerStore(new SecretsManagerClient({}), 'sso');

  it.each([
    ['a 5xx', () => new InternalServiceError({ message: 'boom', $metadata: { httpStatusCode: 500 } })],
    ['throttling', throttled],
    ['a refused connection', () => networkError('ECONNREFUSED')],
  ])('answers 503 secrets_unavailable on %s, keeping the cause for the log', async (_, error) => {
    const cause = error();
    sm.on(GetSecretValueCommand).rejects(cause);
    const failure = expectUnavailable(await settle(store().get('arn:1')), 'secrets_unavailable');
    expect(failure.cause).toBe(cause);
  });

  it('gives up on a call that does not answer after the deadline', async () => {
    vi.useFakeTimers();
    sm.on(PutSecretValueCommand).callsFake(never);
    const result = settle(store().update('arn:keys', '{}'));
    await vi.advanceTimersByTimeAsync(AWS_CALL_LIMITS.deadlineMs - 1);
    expect(await Promise.race([result, Promise.resolve('pending')])).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    const failure = expectUnavailable(await result, 'secrets_unavailable');
    expect((failure.cause as Error).name).toBe('TimeoutError');
  });

  it('keeps its other answers: a missing secret is not an outage', async () => {
    sm.on(GetSecretValueCommand).rejects(new ResourceNotFoundException({ message: 'gone', $metadata: {} }));
    expect(await settle(store().get('arn:gone'))).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('EventBridgePublisher when EventBridge is out', () => {
  const publisher = () => new EventBridgePublisher(new EventBridgeClient({}), 'bus');
  const event = { type: 'tenant.created', tenantId: 't', detail: {} };

  it('answers 503 events_unavailable when PutEvents fails or is throttled', async () => {
    eb.on(PutEventsCommand).rejects(
      new InternalException({ message: 'boom', $metadata: { httpStatusCode: 500 } }),
    );
    expectUnavailable(await settle(publisher().publish(event)), 'events_unavailable');
    eb.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'ThrottlingException', ErrorMessage: 'slow down' }],
    });
    expectUnavailable(await settle(publisher().publish(event)), 'events_unavailable');
  });

  it('gives up on a PutEvents that does not answer after the deadline', async () => {
    vi.useFakeTimers();
    eb.on(PutEventsCommand).callsFake(never);
    const result = settle(publisher().publish(event));
    await vi.advanceTimersByTimeAsync(AWS_CALL_LIMITS.deadlineMs);
    expectUnavailable(await result, 'events_unavailable');
  });

  it('keeps refusing an entry it will never take as a failure of ours (500)', async () => {
    eb.on(PutEventsCommand).resolves({
      FailedEntryCount: 1,
      Entries: [{ ErrorCode: 'MalformedDetail', ErrorMessage: 'bad' }],
    });
    const error = await settle(publisher().publish(event));
    expect(isAppError(error)).toBe(false);
    expect(String(error)).toMatch(/EventBridge refused 1 event\(s\): MalformedDetail/);
  });
});

/** A fake DynamoDB endpoint: each request goes to `answer`, which may never reply. */
let server: Server;
let endpoint: string;
let requests = 0;
let answer: (req: IncomingMessage, res: ServerResponse) => void = () => {};

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++;
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});
beforeEach(() => {
  requests = 0;
});

const awsError =
  (status: number, type: string, extra: Record<string, unknown> = {}) =>
  (_: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
    res.end(JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type, ...extra }));
  };

describe('the DynamoDB client when the table does not answer', () => {
  const get = (at = endpoint) =>
    createDocumentClient({ DYNAMODB_ENDPOINT: at, AWS_REGION: 'local' }).send(
      new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }),
    );

  it('gives up on a table that accepts and never answers: two attempts, then 503 store_unavailable', async () => {
    answer = () => {};
    const started = performance.now();
    expectUnavailable(await settle(get()), 'store_unavailable');
    const ms = performance.now() - started;
    expect(requests).toBe(AWS_CALL_LIMITS.maxAttempts);
    expect(ms).toBeGreaterThan(AWS_CALL_LIMITS.maxAttempts * AWS_CALL_LIMITS.requestTimeoutMs - 100);
    expect(ms).toBeLessThan(AWS_CALL_LIMITS.deadlineMs + 200);
  }, 15_000);

  it('answers 503 at once when nothing listens', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const started = performance.now();
    expectUnavailable(await settle(get(closed)), 'store_unavailable');
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it.each([
    ['a 500', 500, 'InternalServerError'],
    ['throttling', 400, 'ProvisionedThroughputExceededException'],
  ])('answers 503 on %s after one retry', async (_, status, type) => {
    answer = awsError(status, type);
    expectUnavailable(await settle(get()), 'store_unavailable');
    expect(requests).toBe(2);
  });

  it('leaves the table’s answers to the store: a failed condition stays ConditionalCheckFailedException', async () => {
    answer = awsError(400, 'ConditionalCheckFailedException');
    const doc = createDocumentClient({ DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'local' });
    const error = await settle(
      doc.send(
        new PutCommand({
          TableName: 't',
          Item: { pk: 'a' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      ),
    );
    expect(error).toBeInstanceOf(ConditionalCheckFailedException);
    expect(requests).toBe(1);
  });

  it('tells a transaction cancelled for throughput (503) from one cancelled by a condition (the store’s)', async () => {
    const doc = createDocumentClient({ DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'local' });
    const write = () =>
      settle(
        doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Put: { TableName: 't', Item: { pk: 'a' } } },
              { Put: { TableName: 't', Item: { pk: 'b' } } },
            ],
          }),
        ),
      );
    const cancelled = (...codes: string[]) =>
      awsError(400, 'TransactionCanceledException', { CancellationReasons: codes.map((Code) => ({ Code })) });
    answer = cancelled('None', 'ThrottlingError');
    expectUnavailable(await write(), 'store_unavailable');
    answer = cancelled('ConditionalCheckFailed', 'None');
    expect(await write()).toBeInstanceOf(TransactionCanceledException);
  });

  it('turns input DynamoDB refuses into the caller’s 400 invalid_request', async () => {
    answer = awsError(400, 'ValidationException');
    const error = await settle(get());
    expect(error).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('within one request, does not wait a second time for a table that already timed out', async () => {
    answer = () => {};
    const doc = createDocumentClient({ DYNAMODB_ENDPOINT: endpoint, AWS_REGION: 'local' });
    const read = () => doc.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }));
    await withOutageScope(async () => {
      expectUnavailable(await settle(read()), 'store_unavailable');
      const seen = requests;
      const started = performance.now();
      expectUnavailable(await settle(read()), 'store_unavailable');
      expect(performance.now() - started).toBeLessThan(50);
      expect(requests).toBe(seen);
    });
    // Another request tries again.
    answer = awsError(400, 'ConditionalCheckFailedException');
    await withOutageScope(async () => {
      expect(await settle(read())).toBeInstanceOf(ConditionalCheckFailedException);
    });
  }, 15_000);
});
