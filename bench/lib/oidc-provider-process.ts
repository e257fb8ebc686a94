/**
 * A real oidc-provider (test/helpers/oidc-provider.ts) in a process of its own, driven over IPC by
 * bench/oidc.ts. Out of the benchmark's process, the provider's own CPU (token endpoint, signing)
 * neither steals the measured event loop nor counts in its CPU time, as with a real IdP.
 */
import {
  type Account,
  makeTestTls,
  startOidcProvider,
  type TestClient,
} from '../../test/helpers/oidc-provider.ts';

export type ParentMessage = { register: TestClient[] };
export type ChildMessage = { ready: { issuer: string; caPem: string } } | { registered: number };

const accounts: Record<string, Account> = JSON.parse(process.env.BENCH_OIDC_ACCOUNTS ?? '{}');
const tls = makeTestTls();
const op = await startOidcProvider({ tls, accounts, conformIdTokenClaims: false });

const send = (message: ChildMessage) => process.send?.(message);
process.on('message', (message: ParentMessage) => {
  for (const client of message.register) op.register(client);
  send({ registered: message.register.length });
});
process.on('disconnect', () => {
  void op.close().finally(() => process.exit(0));
});
send({ ready: { issuer: op.issuer, caPem: tls.caPem } });
