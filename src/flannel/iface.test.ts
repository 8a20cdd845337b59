import { describe, expect, it } from 'vitest';
import { pickExternal, type IpLink } from './iface.js';

const links: IpLink[] = [
  { ifname: 'lo', mtu: 65536, addr_info: [{ local: '127.0.0.1' }] },
  { ifname: 'eth0', mtu: 1500, addr_info: [{ local: '198.51.100.7' }, { local: '198.51.100.8' }] },
  { ifname: 'ul0', mtu: 9000, addr_info: [{ local: '203.0.113.5' }] },
  { ifname: 'bare', mtu: 1500, addr_info: [] },
];
const viaEth0 = [{ dev: 'eth0' }];

describe('the external interface, as flanneld finds it', () => {
  it('takes the default route\'s interface and its first address when no flag is given', () => {
    expect(pickExternal({ ifaces: [], publicIp: null }, links, viaEth0)).toEqual({ name: 'eth0', addr: '198.51.100.7', mtu: 1500, publicIp: '198.51.100.7' });
  });

  it('takes --iface by name or by address, the first that has an IPv4 address winning', () => {
    expect(pickExternal({ ifaces: ['ul0'], publicIp: null }, links, viaEth0)).toMatchObject({ name: 'ul0', addr: '203.0.113.5', mtu: 9000 });
    expect(pickExternal({ ifaces: ['198.51.100.8'], publicIp: null }, links, [])).toMatchObject({ name: 'eth0', addr: '198.51.100.8' });
    expect(pickExternal({ ifaces: ['nope', 'bare', 'ul0'], publicIp: null }, links, [])).toMatchObject({ name: 'ul0' });
  });

  it('publishes --public-ip, binding the interface\'s own address', () => {
    expect(pickExternal({ ifaces: ['ul0'], publicIp: '192.0.2.1' }, links, [])).toEqual({ name: 'ul0', addr: '203.0.113.5', mtu: 9000, publicIp: '192.0.2.1' });
    // With no --iface, the interface holding the PublicIP comes before the default route's.
    expect(pickExternal({ ifaces: [], publicIp: '203.0.113.5' }, links, viaEth0)).toMatchObject({ name: 'ul0', addr: '203.0.113.5' });
    expect(pickExternal({ ifaces: [], publicIp: '192.0.2.1' }, links, viaEth0)).toEqual({ name: 'eth0', addr: '198.51.100.7', mtu: 1500, publicIp: '192.0.2.1' });
  });

  it('names the flags to give when nothing fits', () => {
    expect(() => pickExternal({ ifaces: ['eth9', 'bare'], publicIp: null }, links, viaEth0)).toThrow(/^--iface: none of eth9, bare is an interface with an IPv4 address/);
    expect(() => pickExternal({ ifaces: [], publicIp: null }, links, [])).toThrow('cannot find the external interface: there is no IPv4 default route: give --iface (the underlay interface or its address) or --public-ip');
    expect(() => pickExternal({ ifaces: [], publicIp: null }, links, [{ dev: 'bare' }])).toThrow(/the default route's interface bare has no IPv4 address/);
  });
});
