import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * X-Ray through Powertools: one tracer per container. The middy chain opens the handler segment;
 * the AWS SDK clients are captured where they are created (runtime.ts). Outside Lambda it is off.
 */
export const tracer = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'sso' });
