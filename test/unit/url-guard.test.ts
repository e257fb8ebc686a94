import { describe, expect, it } from 'vitest';
import { isInternalAddress, isOpenedPrivate } from '../../shared/net/url-guard.ts';

describe('the address rules', () => {
  it.each([
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['172.20.0.1', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['100.64.0.1', true],
    ['::1', true],
    ['fd00::1', true],
    ['fe80::1', true],
    ['::ffff:127.0.0.1', true],
    ['::ffff:10.0.0.1', true],
    ['0.0.0.0', true],
    ['8.8.8.8', false],
    ['2606:4700::1111', false],
    ['not-an-ip', true],
  ])('%s internal: %s', (address, internal) => {
    expect(isInternalAddress(address)).toBe(internal);
  });

  it('opens only the private ranges an operator named, never loopback or link-local', () => {
    const cidrs = ['10.20.0.0/16', '127.0.0.0/8', '169.254.0.0/16'];
    expect(isOpenedPrivate('10.20.3.4', cidrs)).toBe(true);
    expect(isOpenedPrivate('::ffff:10.20.3.4', cidrs)).toBe(true);
    expect(isOpenedPrivate('10.21.3.4', cidrs)).toBe(false);
    expect(isOpenedPrivate('127.0.0.1', cidrs)).toBe(false);
    expect(isOpenedPrivate('169.254.169.254', cidrs)).toBe(false);
    expect(isOpenedPrivate('10.20.3.4', [])).toBe(false);
  });
});
