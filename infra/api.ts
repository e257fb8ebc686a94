import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  DomainName,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Route } from '#shared/routes.ts';
import type { StackConfig } from './context.ts';

/**
 * Stage-wide throttling. Well above what sign-ins need (a login is a handful of requests), low
 * enough that a flood is refused at the edge before it reaches Lambda concurrency and DynamoDB.
 */
export const API_THROTTLE = { rateLimit: 200, burstLimit: 400 } as const;

/** One JSON object per request; the fields are API Gateway's $context variables for HTTP APIs. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    time: '$context.requestTime',
    ip: '$context.identity.sourceIp',
    userAgent: '$context.identity.userAgent',
    method: '$context.httpMethod',
    routeKey: '$context.routeKey',
    path: '$context.path',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationStatus: '$context.integrationStatus',
    integrationError: '$context.integrationErrorMessage',
    error: '$context.error.message',
    domainName: '$context.domainName',
  }),
);

/**
 * The paths a browser may call cross-origin: the OpenID Provider's endpoints for single-page and
 * native applications (discovery, token, userinfo, revocation, introspection, device
 * authorization). The OP answers CORS itself, for each client's own allowed origins
 * (oidc-provider's clientBasedCORS), preflights included, so the HTTP API has no CORS
 * configuration: with one, API Gateway would answer every preflight itself and replace the
 * function's CORS headers with its own, the same for every client.
 */
export const CORS_PREFLIGHT_PATHS = [
  '/.well-known/openid-configuration',
  '/oauth/token',
  '/oauth/userinfo',
  '/oauth/revoke',
  '/oauth/introspect',
  '/oauth/device',
] as const;

/** A route as the API takes it: the route table's methods, plus OPTIONS for the preflights. */
export interface ApiRoute {
  method: keyof typeof HttpMethod;
  path: string;
  function: string;
}

/**
 * An `OPTIONS` route for each path, to the function the route table sends that path to, so that
 * browser preflights reach it (without a route, API Gateway answers them 404). A path the table
 * does not have, or sends to more than one function, is a mistake here and throws; a path whose
 * OPTIONS route the table already carries is left to the table.
 */
export function preflightRoutes(
  routes: readonly Pick<Route, 'method' | 'path' | 'function'>[],
  paths: readonly string[] = CORS_PREFLIGHT_PATHS,
): ApiRoute[] {
  const inTable = (path: string) => routes.some((r) => r.path === path && (r.method as string) === 'OPTIONS');
  return paths
    .filter((path) => !inTable(path))
    .map((path) => {
      const functions = [...new Set(routes.filter((r) => r.path === path).map((r) => r.function))];
      const [fn] = functions;
      if (functions.length !== 1 || !fn) {
        throw new Error(
          `CORS preflight for ${path}: the route table sends it to ${functions.length} functions`,
        );
      }
      return { method: 'OPTIONS', path, function: fn };
    });
}

export interface ApiProps {
  domain?: StackConfig['domain'];
}

/** The HTTP API: its `$default` stage, access logs, optional custom domain, and the routes. */
export class Api extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  /** The public base URL: the custom domain when there is one, else the API endpoint. */
  readonly baseUrl: string;
  /** The custom domain, whose regional name the DNS record must point at. */
  readonly domainName?: DomainName;
  readonly #integrations = new Map<IFunction, HttpLambdaIntegration>();

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    // No CORS configuration: browsers reach the login side through redirects and form posts, and
    // the OpenID Provider answers its own CORS per client (CORS_PREFLIGHT_PATHS); a configuration
    // here would have API Gateway answer preflights and overwrite the function's CORS headers.
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'Serverless SSO',
      createDefaultStage: false,
    });

    if (props.domain) {
      this.domainName = new DomainName(this, 'DomainName', {
        domainName: props.domain.name,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', props.domain.certificateArn),
      });
    }

    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: RetentionDays.THREE_MONTHS });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: API_THROTTLE,
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
      ...(this.domainName ? { domainMapping: { domainName: this.domainName } } : {}),
    });

    this.baseUrl = props.domain ? `https://${props.domain.name}` : this.httpApi.apiEndpoint;
  }

  /** A route per entry; every route of a function shares one integration and one invoke permission. */
  addRoutes(routes: readonly ApiRoute[], functionFor: (name: string) => IFunction): void {
    for (const route of routes) {
      const fn = functionFor(route.function);
      let integration = this.#integrations.get(fn);
      if (!integration) {
        // One permission for the whole API rather than one per route: Lambda's resource policy is
        // capped at 20 KB, which a function with dozens of routes would otherwise approach.
        integration = new HttpLambdaIntegration(`${fn.node.id}Integration`, fn, {
          scopePermissionToRoute: false,
        });
        this.#integrations.set(fn, integration);
      }
      this.httpApi.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }
    // Acknowledged on the API, so it covers every route, present and future.
    Validations.of(this.httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'Authentication is the service itself: the functions check bearer tokens (operator token, session JWT, API token), SAML responses and OIDC codes; login routes must be reachable anonymously.',
    });
  }
}
