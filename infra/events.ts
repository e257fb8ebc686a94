import { Duration, Validations } from 'aws-cdk-lib';
import { type Archive, EventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EVENT_SOURCE } from '#shared/ports/events.ts';

/**
 * The detail-type of the event published when sessions end (logout, an administrator's revocation,
 * a password change, an identity gone from its directory): EventBridgePublisher puts a domain
 * event's `type` as the entry's DetailType, unchanged.
 */
export const SESSION_REVOKED = 'session.revoked';

/**
 * Delivery of the events nothing may drop (an audit record, a revocation at the applications):
 * EventBridge retries for a day before dead-lettering.
 */
const DURABLE_DELIVERY = { retryAttempts: 8, maxEventAge: Duration.hours(24) };

/** How often SAML metadata (and the certificates in it) is fetched again. */
export const METADATA_REFRESH_RATE = Duration.hours(6);

/**
 * The event bus the functions publish domain events to, the rules that consume them, and the
 * dead-letter queue that keeps whatever could not be delivered or processed.
 */
export class Events extends Construct {
  readonly bus: EventBus;
  /** Thirty days of events, to replay after a consumer outage or to back-fill a new consumer. */
  readonly archive: Archive;
  /** Every event the service publishes (source `sso`), for the audit consumer. */
  readonly auditRule: Rule;
  /** Ended sessions (`session.revoked`), for the back-channel logout and refresh-token revocation. */
  readonly sessionRevokedRule: Rule;
  /** Every six hours, for the SAML metadata refresh. */
  readonly metadataRefreshRule: Rule;
  /** Events a target could not take, and invocations that failed after their retries. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.bus = new EventBus(this, 'Bus', { description: 'SSO domain events (logins, administration)' });
    this.archive = this.bus.archive('Archive', {
      description: 'SSO domain events, for replay into the audit consumer',
      eventPattern: { source: [EVENT_SOURCE] },
      retention: Duration.days(30),
    });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the event targets; nothing consumes it automatically.',
    });

    this.auditRule = new Rule(this, 'AuditRule', {
      eventBus: this.bus,
      description: 'Every SSO domain event, to the audit consumer',
      eventPattern: { source: [EVENT_SOURCE] },
    });
    this.sessionRevokedRule = new Rule(this, 'SessionRevokedRule', {
      eventBus: this.bus,
      description: 'Ended sessions, to the back-channel logout and refresh-token revocation of applications',
      eventPattern: { source: [EVENT_SOURCE], detailType: [SESSION_REVOKED] },
    });
    this.metadataRefreshRule = new Rule(this, 'MetadataRefreshRule', {
      description: 'Refreshes SAML IdP metadata and reports certificate expiry',
      schedule: Schedule.rate(METADATA_REFRESH_RATE),
    });
  }

  /** Delivers every domain event to the audit consumer; an audit record must not be lost quietly. */
  deliverAuditTo(fn: IFunction): void {
    this.target(this.auditRule, fn, DURABLE_DELIVERY);
  }

  /**
   * Delivers ended sessions to the back-channel logout, as durably as audit events: a revocation
   * that never reaches the applications leaves their sessions and refresh tokens alive.
   */
  deliverSessionRevocationsTo(fn: IFunction): void {
    this.target(this.sessionRevokedRule, fn, DURABLE_DELIVERY);
  }

  /** Runs the metadata refresh on the schedule; a missed run is retried a little, then waits for the next. */
  scheduleMetadataRefresh(fn: IFunction): void {
    this.target(this.metadataRefreshRule, fn, { retryAttempts: 2, maxEventAge: Duration.hours(1) });
  }

  private target(rule: Rule, fn: IFunction, retry: { retryAttempts: number; maxEventAge: Duration }): void {
    // The target's DLQ catches events EventBridge could not hand to Lambda...
    rule.addTarget(new LambdaFunction(fn, { deadLetterQueue: this.deadLetterQueue, ...retry }));
    // ...but Lambda invokes asynchronously: an event the function took and then failed on is
    // retried by Lambda and, without a failure destination, dropped. Send those to the same queue.
    fn.configureAsyncInvoke({
      retryAttempts: 2,
      // Lambda keeps an asynchronous event for six hours at most.
      maxEventAge: Duration.seconds(Math.min(retry.maxEventAge.toSeconds(), Duration.hours(6).toSeconds())),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
  }
}
