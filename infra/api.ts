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
    // No CORS: browsers reach the service through redirects and form posts, not cross-origin fetch.
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
  addRoutes(
    routes: readonly { method: keyof typeof HttpMethod; path: string; function: string }[],
    functionFor: (name: string) => IFunction,
  ): void {
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
