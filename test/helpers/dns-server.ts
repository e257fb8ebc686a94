import { createSocket } from 'node:dgram';
import dns2 from 'dns2';

const { Packet } = dns2;

/**
 * An authoritative-only DNS server on 127.0.0.1 (UDP) for tests: answers TXT queries from a map it
 * owns, NXDOMAIN for anything else. Never forwards: the tests never reach a real resolver.
 */
export interface TestDnsServer {
  /** `ip:port`, as DNS_SERVERS takes it. */
  address: string;
  /** Replaces the TXT records at a name (each record is one string); no records removes the name. */
  setTxt(name: string, ...records: string[]): void;
  /** Names queried so far, lower-cased. */
  queries: string[];
  close(): Promise<void>;
}

export async function startDnsServer(): Promise<TestDnsServer> {
  const zone = new Map<string, string[]>();
  const queries: string[] = [];
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [question] = request.questions;
      const name = (question?.name ?? '').toLowerCase().replace(/\.$/, '');
      queries.push(name);
      const records = zone.get(name);
      if (!records) {
        response.header.rcode = Packet.RCODE.NXDOMAIN;
      } else if (question?.type === Packet.TYPE.TXT) {
        for (const data of records) {
          response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 0, data }));
        }
      }
      // An existing name without TXT records: NOERROR with no answers (NODATA).
      void send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address: '127.0.0.1' } });
  const port = addresses.udp?.port;
  if (!port) throw new Error('the test DNS server did not bind');
  return {
    address: `127.0.0.1:${port}`,
    setTxt(name, ...records) {
      const key = name.toLowerCase();
      if (records.length === 0) zone.delete(key);
      else zone.set(key, records);
    },
    queries,
    close: () => server.close(),
  };
}

/** A UDP port on 127.0.0.1 with nothing listening: queries to it are refused at once. */
export async function closedDnsAddress(): Promise<string> {
  const socket = createSocket('udp4');
  await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
  const { port } = socket.address();
  await new Promise<void>((done) => socket.close(() => done()));
  return `127.0.0.1:${port}`;
}

/** A DNS "server" that reads queries and never answers, like an unreachable resolver. */
export async function silentDnsServer(): Promise<{ address: string; close(): Promise<void> }> {
  const socket = createSocket('udp4');
  socket.on('message', () => undefined);
  await new Promise<void>((done) => socket.bind(0, '127.0.0.1', done));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    close: () => new Promise<void>((done) => socket.close(() => done())),
  };
}
