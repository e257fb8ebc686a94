/**
 * `npm start`: DynamoDB Local, the table, and every route of the route table on PORT, with the
 * same handlers Lambda runs; with the demo (unless DEMO=0), its identity providers and the demo
 * application. Environment: PORT, BASE_URL, OPERATOR_TOKEN, LOCAL_DATA_DIR, DEMO, DEMO_APP_PORT,
 * ALLOW_PRIVATE_URLS, MAIL_FROM (see README.md).
 */
import { resolve } from 'node:path';
import { LDAP_PASSWORD } from './demo/ldap.ts';
import { startDynamoDbLocal } from './dynamodb.ts';
import { startLocalStack } from './stack.ts';

const port = Number(process.env.PORT || 3000);
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`PORT must be a port number, not "${process.env.PORT}"`);
  process.exit(1);
}
// The demo application's port: PORT + 1 unless DEMO_APP_PORT says otherwise (a busy one falls back).
const appPort = Number(process.env.DEMO_APP_PORT || (port === 0 ? 0 : port + 1));
if (!Number.isInteger(appPort) || appPort < 0 || appPort > 65_535) {
  console.error(`DEMO_APP_PORT must be a port number, not "${process.env.DEMO_APP_PORT}"`);
  process.exit(1);
}
const dataSetting = process.env.LOCAL_DATA_DIR || '.local';
const dataDir = dataSetting === ':memory:' ? undefined : resolve(dataSetting);
process.env.POWERTOOLS_LOG_LEVEL ??= 'INFO';
process.env.POWERTOOLS_SERVICE_NAME ??= 'sso-local';
// EMF metric lines are for CloudWatch; locally they would only drown the logs.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const dynamo = await startDynamoDbLocal(dataDir ? { dataDir: resolve(dataDir, 'dynamodb') } : {});
const generated = !process.env.OPERATOR_TOKEN;
let stack: Awaited<ReturnType<typeof startLocalStack>>;
try {
  stack = await startLocalStack({
    dynamodbEndpoint: dynamo.endpoint,
    port,
    host: process.env.HOST || '127.0.0.1',
    baseUrl: process.env.BASE_URL || `http://localhost:${port}`,
    ...(process.env.OPERATOR_TOKEN ? { operatorToken: process.env.OPERATOR_TOKEN } : {}),
    ...(dataDir ? { dataDir } : {}),
    ...(process.env.MAIL_FROM ? { mailFrom: process.env.MAIL_FROM } : {}),
    allowPrivateUrls: process.env.ALLOW_PRIVATE_URLS !== '0',
    demo: process.env.DEMO !== '0' && { oidc: true, ldap: true, app: { port: appPort } },
  });
} catch (error) {
  await dynamo.stop();
  throw error;
}

console.log(`SSO stack listening on ${stack.url}`);
console.log(`  DynamoDB Local: ${dynamo.endpoint} (${dataDir ? `data in ${dataDir}` : 'in memory'})`);
console.log(
  `  Mail: ${dataDir ? `written to ${resolve(dataDir, 'outbox')}, one log line each` : 'kept in memory'}`,
);
if (generated)
  console.log(`  Operator token (generated; set OPERATOR_TOKEN to choose one): ${stack.operatorToken}`);
if (stack.demo) {
  console.log('  Demo (DEMO=0 turns it off):');
  console.log(`    identity providers: ${stack.url}/demo/idp  (click a SAML or OIDC tile)`);
  if (stack.demo.appUrl)
    console.log(`    demo application:   ${stack.demo.appUrl}  (where every demo login lands)`);
  console.log(`    hosted login page:  ${stack.url}/t/demo/login`);
  console.log(
    `    console:            ${stack.url}/console  (owner ${stack.demo.owner.email}, password ${stack.demo.owner.password})`,
  );
  if (stack.demo.ldapConnectionId) {
    console.log(`    LDAP sign-in:       ada@demo.test or grace@demo.test, password ${LDAP_PASSWORD}`);
  }
}

let stopping = false;
async function stop(signal: string) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  await stack.close();
  await dynamo.stop();
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
