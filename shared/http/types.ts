import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2;
export type LambdaContext = Context;

/** What an operation sees of a request: decoded, lower-cased, parsed, and nothing more. */
export interface HttpRequest {
  routeKey: string;
  method: string;
  path: string;
  params: Readonly<Record<string, string>>;
  query: Readonly<Record<string, string>>;
  /** The query string as sent (no `?`), for protocols that must see repeated parameters. */
  rawQuery?: string;
  /** Header names lower-cased. */
  headers: Readonly<Record<string, string>>;
  cookies: Readonly<Record<string, string>>;
  /** Parsed JSON or form body; undefined when there is none. */
  body: unknown;
  /** The raw (decoded) body text, for protocols that need it. */
  rawBody: string | undefined;
  sourceIp: string;
  requestId: string;
}

export type Operation = (request: HttpRequest) => Promise<HttpResult>;
