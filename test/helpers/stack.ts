import { randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import { createDocumentClient } from '../../shared/runtime.ts';

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  text: string;
  body: T;
}

export interface TestStack extends LocalStack {
  /** Calls the API; JSON bodies are sent as JSON, strings as they are. */
  call<T = Record<string, unknown>>(
    method: string,
    path: string,
    options?: { body?: unknown; token?: string | null; headers?: Record<string, string> },
  ): Promise<ApiResponse<T>>;
  /** Every item in this stack's table (to check what was, or was not, written). */
  items(): Promise<Record<string, unknown>[]>;
}

/**
 * The local stack on the run's DynamoDB Local (or the one `options.dynamodbEndpoint` names), with a
 * table of its own.
 */
export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const dynamodbEndpoint = options.dynamodbEndpoint ?? inject('dynamodbEndpoint');
  const stack = await startLocalStack({
    dynamodbEndpoint,
    tableName: `test-${randomUUID()}`,
    port: 0,
    ...options,
  });
  const doc = createDocumentClient({ DYNAMODB_ENDPOINT: dynamodbEndpoint, AWS_REGION: 'local' });
  return {
    ...stack,
    async call(method, path, { body, token = stack.operatorToken, headers = {} } = {}) {
      const init: RequestInit = { method, headers: { accept: 'application/json', ...headers } };
      const h = init.headers as Record<string, string>;
      if (token !== null) h.authorization = `Bearer ${token}`;
      if (body !== undefined) {
        h['content-type'] ??= 'application/json';
        init.body =
          typeof body === 'string'
            ? body
            : body instanceof Uint8Array
              ? Buffer.from(body)
              : JSON.stringify(body);
      }
      const res = await fetch(stack.url + path, init);
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: the text is the body
      }
      return { status: res.status, headers: res.headers, text, body: parsed as never };
    },
    async items() {
      const out: Record<string, unknown>[] = [];
      let cursor: Record<string, unknown> | undefined;
      do {
        const page = await doc.send(
          new ScanCommand({ TableName: stack.tableName, ExclusiveStartKey: cursor, ConsistentRead: true }),
        );
        out.push(...(page.Items ?? []));
        cursor = page.LastEvaluatedKey;
      } while (cursor);
      return out;
    },
  };
}
