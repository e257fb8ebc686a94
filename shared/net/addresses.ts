import { BlockList, isIP } from 'node:net';

/**
 * Which addresses count as internal (private, loopback, link-local, metadata, multicast…), for
 * every connection to a host a tenant supplied. No network code here, so the LDAP functions can use
 * it without the HTTP client.
 */
const internal = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  internal.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
] as const) {
  internal.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP address is internal (IPv4-mapped IPv6 addresses are judged by their IPv4). */
export function isInternalAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return internal.check(mapped[1], 'ipv4');
  const family = isIP(address);
  if (family === 0) return true;
  return internal.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Private ranges an operator opened on purpose (a directory reached through the LDAP function's
 * VPC, PRIVATE_DIRECTORY_CIDRS). Loopback, link-local and metadata addresses stay refused.
 */
export function isOpenedPrivate(address: string, cidrs: readonly string[]): boolean {
  if (cidrs.length === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
  const family = isIP(mapped);
  if (family === 0 || /^(127\.|169\.254\.|0\.)/.test(mapped) || mapped === '::1' || /^fe80:/i.test(mapped))
    return false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net = '', bits = ''] = cidr.split('/');
    const netFamily = isIP(net);
    if (netFamily === 0 || !/^\d+$/.test(bits)) continue;
    list.addSubnet(net, Number(bits), netFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return list.check(mapped, family === 4 ? 'ipv4' : 'ipv6');
}
