import { describe, expect, it } from 'vitest';
import { VxtapError } from '../core/errors.js';
import { parseNetworkOptions } from './options.js';

const line = (generic: unknown, mtu = 1500) => {
  try {
    parseNetworkOptions(generic, mtu);
  } catch (e) {
    expect(e).toBeInstanceOf(VxtapError);
    return (e as VxtapError).message;
  }
  throw new Error('accepted');
};

describe('docker network create -o options', () => {
  it('takes vni alone, with the defaults: no remote, port 4789, bridge mode, the underlay MTU less 50', () => {
    expect(parseNetworkOptions({ vni: '42' }, 1500)).toEqual({ vni: 42, remotes: [], port: 4789, mode: 'bridge' });
  });

  it('takes every option, and lists each remote once', () => {
    expect(parseNetworkOptions({
      vni: '16777215', remote: '198.51.100.2,198.51.100.3,198.51.100.2', port: '8472', mode: 'private', 'com.docker.network.driver.mtu': '1400',
    }, 1500)).toEqual({ vni: 16777215, remotes: ['198.51.100.2', '198.51.100.3'], port: 8472, mode: 'private', mtu: 1400 });
  });

  it('names the option and the fix in one line for each mistake', () => {
    expect(line({})).toBe('-o vni is required: give -o vni=N (0-16777215), the same on every host of the network');
    expect(line(undefined)).toBe('-o vni is required: give -o vni=N (0-16777215), the same on every host of the network');
    expect(line({ vni: '16777216' })).toBe('-o vni="16777216": not a VXLAN network identifier: give -o vni=N with N in 0-16777215');
    expect(line({ vni: '4x' })).toContain('-o vni="4x": not a VXLAN network identifier');
    expect(line({ vni: '-1' })).toContain('-o vni="-1"');
    expect(line({ vni: '1', remote: '198.51.100.2,' })).toBe('-o remote: "" is not an IPv4 address: give -o remote=IP[,IP...], the other hosts\' underlay addresses');
    expect(line({ vni: '1', port: '0' })).toBe('-o port="0": not a UDP port: give -o port=N with N in 1-65535');
    expect(line({ vni: '1', mode: 'vepa' })).toContain('-o mode="vepa": give -o mode=bridge');
    expect(line({ vni: '1', 'com.docker.network.driver.mtu': '1451' })).toContain('give -o com.docker.network.driver.mtu=N with N in 68-1450');
    expect(parseNetworkOptions({ vni: '1', 'com.docker.network.driver.mtu': '8950' }, 9000).mtu, 'a jumbo underlay').toBe(8950);
    expect(line({ vni: '1', vlan: '3' })).toBe('-o "vlan": not an option of vxtap: give vni, remote, port, mode or com.docker.network.driver.mtu');
    expect(line({ vni: 42 })).toBe('-o vni: expected a string value');
    expect(line([])).toBe('com.docker.network.generic: expected a map of option strings');
  });

  it('bounds what one request may hold', () => {
    expect(line({ vni: '1', remote: Array(257).fill('198.51.100.2').join(',') })).toBe('-o remote: 257 addresses, more than the 256 a network takes');
    expect(line({ vni: '1', remote: 'x'.repeat(5000) })).toBe('-o remote: the value is over 4096 characters');
    expect(line(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, '1'])))).toBe('17 options, more than the 16 a vxtap network takes');
    expect(line({ vni: '1', ['x'.repeat(100)]: '1' })).toBe(`-o "${'x'.repeat(64)}...": not an option of vxtap: give vni, remote, port, mode or com.docker.network.driver.mtu`);
  });
});
