import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecretStore } from '#shared/ports/secrets.ts';

/**
 * Secrets Manager and EventBridge for the cold-start processes: a loopback endpoint speaking their
 * JSON protocols (awsJson1.1), backed by the local stack's secret store, so a freshly started
 * bundle runs its real AWS SDK clients end to end (AWS_ENDPOINT_URL_SECRETS_MANAGER and
 * AWS_ENDPOINT_URL_EVENTBRIDGE point here) and reads the same secrets as the in-process stack.
 */
export interface AwsStub {
  url: string;
  close(): Promise<void>;
}

export async function startAwsStub(
  secrets: SecretStore & { set?(ref: string, value: string): Promise<void> },
) {
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify(payload));
    };
    try {
      const id = String(body.SecretId ?? '');
      if (target === 'secretsmanager.GetSecretValue') {
        const value = await secrets.get(id);
        return reply(200, { ARN: id, Name: id, SecretString: value, VersionId: randomUUID() });
      }
      if (target === 'secretsmanager.PutSecretValue') {
        await secrets.update(id, String(body.SecretString ?? ''));
        return reply(200, { ARN: id, Name: id, VersionId: randomUUID() });
      }
      if (target === 'AWSEvents.PutEvents') {
        const entries = Array.isArray(body.Entries) ? body.Entries : [];
        return reply(200, { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) });
      }
      return reply(400, { __type: 'UnknownOperationException', message: target });
    } catch (error) {
      return reply(400, { __type: 'ResourceNotFoundException', message: String(error) });
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  } satisfies AwsStub;
}
