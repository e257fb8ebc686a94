import { Logger } from '@aws-lambda-powertools/logger';

/**
 * The one logger, created at module scope so it is shared across invocations of a container.
 * Log level and service name come from POWERTOOLS_LOG_LEVEL and POWERTOOLS_SERVICE_NAME.
 * Never pass secrets, passwords, tokens or raw SAML to it.
 */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso' });
