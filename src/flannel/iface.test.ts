import { describe, expect, it } from 'vitest';
import { pickExternal, type IpLink } from './iface.js';

const links: IpLink[] = [
  { ifname: 'lo', mtu: 65536, addr_info: [{ local: '127.0.0.1' }] },
  { ifname: 'eth0', mtu: 1500, addr_info: [{ local: '198.51.100.7' }, { local: '198.51.100.8' }] },
  { ifname: 'ul0', mtu: 9000, addr_info: [{ local: '203.0.113.5' }] },
  { ifname: 'bare', mtu: 1500, addr_info: [] },
];
const viaEth0 = [{ dev: 'eth0' }];
const none = { ifaces: [], ifaceRegex: [], ifaceCanReach: null };

describe('the external interface, as flanneld finds it', () => {
  it('takes the default route\'s interface and its first address when no flag is given', () => {
    expect(pickExternal({ ...none, publicIp: null }, links, viaEth0)).toEqual({ name: 'eth0', addr: '198.51.100.7', mtu: 1500, publicIp: '198.51.100.7' });
  });

  it('takes --iface by name or by address, the first that has an IPv4 address winning', () => {
    expect(pickExternal({ ...none, ifaces: ['ul0'], publicIp: null }, links, viaEth0)).toMatchObject({ name: 'ul0', addr: '203.0.113.5', mtu: 9000 });
    expect(pickExternal({ ...none, ifaces: ['198.51.100.8'], publicIp: null }, links, [])).toMatchObject({ name: 'eth0', addr: '198.51.100.8' });
    expect(pickExternal({ ...none, ifaces: ['nope', 'bare', 'ul0'], publicIp: null }, links, [])).toMatchObject({ name: 'ul0' });
  });

  it('publishes --public-ip, binding the interface\'s own address', () => {
    expect(pickExternal({ ...none, ifaces: ['ul0'], publicIp: '192.0.2.1' }, links, [])).toEqual({ name: 'ul0', addr: '203.0.113.5', mtu: 9000, publicIp: '192.0.2.1' });
    // With no --iface, the interface holding the PublicIP comes before the default route's.
    expect(pickExternal({ ...none, publicIp: '203.0.113.5' }, links, viaEth0)).toMatchObject({ name: 'ul0', addr: '203.0.113.5' });
    expect(pickExternal({ ...none, publicIp: '192.0.2.1' }, links, viaEth0)).toEqual({ name: 'eth0', addr: '198.51.100.7', mtu: 1500, publicIp: '192.0.2.1' });
  });

  it('names the flags to give when nothing fits', () => {
    expect(() => pickExternal({ ...none, ifaces: ['eth9', 'bare'], publicIp: null }, links, viaEth0)).toThrow(/^no interface with an IPv4 address matches --iface eth9, --iface bare \(this host has lo:\[127\.0\.0\.1\], eth0:\[198\.51\.100\.7 198\.51\.100\.8\], ul0:\[203\.0\.113\.5\], bare:\[\]\): give the underlay interface/);
    expect(() => pickExternal({ ...none, publicIp: null }, links, [])).toThrow('cannot find the external interface: there is no IPv4 default route: give --iface (the underlay interface or its address) or --public-ip');
    expect(() => pickExternal({ ...none, publicIp: null }, links, [{ dev: 'bare' }])).toThrow(/the default route's interface bare has no IPv4 address/);
  });

  it('takes --iface-regex after --iface: addresses first, in link order, then names', () => {
    // An address match names the address used, not the interface's first.
    expect(pickExternal({ ...none, ifaceRegex: ['\\.8$'], publicIp: null }, links, viaEth0)).toEqual({ name: 'eth0', addr: '198.51.100.8', mtu: 1500, publicIp: '198.51.100.8' });
    expect(pickExternal({ ...none, ifaceRegex: ['^u'], publicIp: null }, links, viaEth0)).toMatchObject({ name: 'ul0', addr: '203.0.113.5' });
    // Unanchored, as Go's MatchString; a name with no IPv4 address does not count.
    expect(pickExternal({ ...none, ifaceRegex: ['ar', 'l0'], publicIp: null }, links, [])).toMatchObject({ name: 'ul0' });
    expect(pickExternal({ ...none, ifaces: ['ul0'], ifaceRegex: ['^eth'], publicIp: null }, links, [])).toMatchObject({ name: 'ul0' });
    expect(pickExternal({ ...none, ifaces: ['eth9'], ifaceRegex: ['^eth'], publicIp: null }, links, [])).toMatchObject({ name: 'eth0' });
  });

  it('takes --iface-can-reach last: the route\'s interface and source address', () => {
    const reach = [{ dev: 'eth0', prefsrc: '198.51.100.8' }];
    expect(pickExternal({ ...none, ifaceCanReach: '198.51.100.1', publicIp: null }, links, [], reach)).toEqual({ name: 'eth0', addr: '198.51.100.8', mtu: 1500, publicIp: '198.51.100.8' });
    expect(pickExternal({ ...none, ifaceRegex: ['^ul'], ifaceCanReach: '198.51.100.1', publicIp: null }, links, [], reach)).toMatchObject({ name: 'ul0' });
    expect(() => pickExternal({ ...none, ifaceRegex: ['^wl'], ifaceCanReach: '192.0.2.1', publicIp: null }, links, viaEth0, [])).toThrow(/^no interface with an IPv4 address matches --iface-regex \^wl, --iface-can-reach 192\.0\.2\.1 \(this host has /);
  });
});
