import { describe, expect, it } from 'vitest';
import { VxtapError } from '../core/errors.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { fitsConfig, parseNetworkConfig } from './config.js';
import { formatSubnet, parseSubnet } from './subnet.js';

const KEY = '/coreos.com/network/config';
const parse = (o: unknown) => parseNetworkConfig(JSON.stringify(o), KEY);
const addr = parseIpv4Addr;

function errorOf(o: unknown, text = JSON.stringify(o)): string {
  try {
    parseNetworkConfig(text, KEY);
  } catch (e) {
    expect(e).toBeInstanceOf(VxtapError);
    expect((e as VxtapError).code).toBe('E_CONFIG');
    return (e as Error).message;
  }
  throw new Error('expected an error');
}

describe('flannel network config', () => {
  it('applies flannel\'s defaults: a /24 per host, the first subnet skipped, udp with no Backend', () => {
    const c = parse({ Network: '10.5.0.0/16' });
    expect(c).toEqual({
      network: { addr: addr('10.5.0.0'), len: 16 },
      subnetLen: 24,
      subnetMin: addr('10.5.1.0'),
      subnetMax: addr('10.5.255.0'),
      backend: { type: 'udp', port: 8285 },
    });
  });

  it('gives networks too small for four /24s a quarter each, down to a /28', () => {
    expect(parse({ Network: '10.5.0.0/22' }).subnetLen).toBe(24);
    expect(parse({ Network: '10.5.0.0/23' }).subnetLen).toBe(25);
    const c = parse({ Network: '203.0.113.0/28' });
    expect(c.subnetLen).toBe(30);
    expect([c.subnetMin, c.subnetMax]).toEqual([addr('203.0.113.4'), addr('203.0.113.12')]);
    expect(errorOf({ Network: '203.0.113.0/29' })).toBe(`${KEY}: Network: /29 is too small: the smallest useful network is a /28 (four /30 subnets)`);
  });

  it('fills in vxlan\'s VNI 1 and the kernel\'s port 8472; udp\'s port 8285', () => {
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan' } }).backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, mtu: null, directRouting: false });
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', Port: 0 } }).backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, mtu: null, directRouting: false });
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', VNI: 42, Port: 4789 } }).backend).toEqual({ type: 'vxlan', vni: 42, port: 4789, mtu: null, directRouting: false });
    // MTU (newer flannel's option) is the underlay's; 0 means the interface's.
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', MTU: 1400 } }).backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, mtu: 1400, directRouting: false });
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', MTU: 0 } }).backend).toMatchObject({ mtu: null, directRouting: false });
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'udp' } }).backend).toEqual({ type: 'udp', port: 8285 });
  });

  it('takes explicit SubnetLen, SubnetMin and SubnetMax, and ignores fields it does not use', () => {
    const c = parse({ Network: '10.5.0.0/16', SubnetLen: 26, SubnetMin: '10.5.10.0', SubnetMax: '10.5.20.192', EnableNFTables: true });
    expect([c.subnetLen, c.subnetMin, c.subnetMax]).toEqual([26, addr('10.5.10.0'), addr('10.5.20.192')]);
  });

  it('matches keys case-insensitively and clears host bits, as Go\'s decoder and flannel do', () => {
    const c = parse({ network: '10.5.7.9/16', backend: { type: 'vxlan', vni: 3 } });
    expect(formatSubnet(c.network)).toBe('10.5.0.0/16');
    expect(c.backend).toEqual({ type: 'vxlan', vni: 3, port: 8472, mtu: null, directRouting: false });
  });

  it('names the field and the fix for each mistake', () => {
    expect(errorOf(null, '{"Network": "10.5.0.0/16",')).toMatch(/^\/coreos\.com\/network\/config: not valid JSON \(.+\): store a JSON object such as \{"Network":"10\.5\.0\.0\/16","Backend":\{"Type":"vxlan"\}\}$/);
    expect(errorOf([1])).toBe(`${KEY}: expected a JSON object such as {"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}`);
    expect(errorOf({})).toMatch(/^\/coreos\.com\/network\/config: Network: missing/);
    expect(errorOf({ Network: '10.5.0.0' })).toBe(`${KEY}: Network: expected an IPv4 range such as "10.5.0.0/16", got "10.5.0.0"`);
    expect(errorOf({ Network: '0.0.0.0/0' })).toMatch(/Network: expected an IPv4 range/);
    expect(errorOf({ Network: '10.5.0.0/16', SubnetLen: 31 })).toBe(`${KEY}: SubnetLen: 31 is too long: flannel needs at most 30`);
    expect(errorOf({ Network: '10.5.0.0/16', SubnetLen: 17 })).toBe(`${KEY}: SubnetLen: must be at least 18 so that Network 10.5.0.0/16 holds four subnets`);
    expect(errorOf({ Network: '10.5.0.0/16', SubnetLen: '24' })).toBe(`${KEY}: SubnetLen: expected a prefix length 0-32, got "24"`);
    expect(errorOf({ Network: '10.5.0.0/16', SubnetMin: '10.6.0.0' })).toBe(`${KEY}: SubnetMin: 10.6.0.0 is not inside Network 10.5.0.0/16`);
    expect(errorOf({ Network: '10.5.0.0/16', SubnetMax: '10.5.3.128' })).toBe(`${KEY}: SubnetMax: 10.5.3.128 is not on a /24 (SubnetLen) boundary`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'host-gw' } })).toBe(`${KEY}: Backend.Type: vxtap runs the "vxlan" and "udp" backends, got "host-gw"`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', VNI: 70000 } })).toMatch(/Backend\.VNI: expected 0-65535/);
    expect(parse({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', DirectRouting: true } }).backend).toEqual({ type: 'vxlan', vni: 1, port: 8472, mtu: null, directRouting: true });
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', DirectRouting: 'yes' } })).toBe(`${KEY}: Backend.DirectRouting: expected true or false, got "yes"`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', GBP: true } })).toBe(`${KEY}: Backend.GBP: not supported by vxtap: remove it or set it to false`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', Learning: true } })).toBe(`${KEY}: Backend.Learning: not supported by vxtap: remove it or set it to false`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', MTU: 100 } })).toBe(`${KEY}: Backend.MTU: expected the underlay MTU, 118-65050 (flannel.<VNI> gets 50 less; 0 or none: the interface's), got 100`);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'vxlan', MTU: '1400' } })).toMatch(/Backend\.MTU: expected the underlay MTU, .*got "1400"$/);
    expect(errorOf({ Network: '10.5.0.0/16', Backend: { Type: 'udp', Port: 0 } })).toMatch(/Backend\.Port: expected a UDP port 1-65535/);
    expect(errorOf({ Network: '10.5.0.0/16', EnableIPv6: true, IPv6Network: 'fd00::/56' })).toBe(`${KEY}: EnableIPv6: vxtap supports IPv4 only: remove EnableIPv6 or set it to false`);
  });

  it('says which subnets may be leases under a config', () => {
    const c = parse({ Network: '10.5.0.0/16' });
    expect(fitsConfig(c, parseSubnet('10.5.52.0/24'))).toBe(true);
    expect(fitsConfig(c, parseSubnet('10.5.0.0/24'))).toBe(false); // the skipped first subnet
    expect(fitsConfig(c, parseSubnet('10.5.52.0/25'))).toBe(false);
    expect(fitsConfig(c, parseSubnet('10.6.52.0/24'))).toBe(false);
  });
});
