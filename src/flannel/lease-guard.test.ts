import pino from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { udpAttrs, vxlanAttrs, type Lease } from './lease.js';
import { LeaseGuard } from './lease-guard.js';
import type { LeaseEvent } from './subnet-manager.js';
import { parseSubnet } from './subnet.js';
import { parseMac } from '../wire/mac.js';

const OWN_MAC = '02:00:00:00:00:01';
const lease = (cidr: string, ip: string, mac?: string): Lease => ({
  subnet: parseSubnet(cidr), attrs: mac === undefined ? udpAttrs(ip) : vxlanAttrs(ip, { vni: 1, vtepMac: mac }), reservation: false,
});
const added = (l: Lease): LeaseEvent => ({ type: 'added', lease: l });
const removed = (l: Lease): LeaseEvent => ({ type: 'removed', lease: l });
const keys = (evs: LeaseEvent[]): string[] => evs.map((e) => `${e.type} ${e.lease.subnet.addr >>> 8 & 0xff}.${e.lease.subnet.addr & 0xff}/${e.lease.subnet.len}`);

function guard(vtepMac: string | null = OWN_MAC): { g: LeaseGuard; registry: Registry } {
  const registry = new Registry();
  const g = new LeaseGuard({
    network: parseSubnet('198.18.0.0/16'), subnetLen: 24, own: parseSubnet('198.18.1.0/24'), publicIp: '198.51.100.2',
    vtepMac: vtepMac === null ? null : parseMac(vtepMac), log: pino({ level: 'silent' }), registry,
  });
  return { g, registry };
}

describe('lease guard', () => {
  const good = lease('198.18.5.0/24', '198.51.100.3', '02:00:00:00:00:03');

  it('passes a well-formed lease inside the Network, and its removal', () => {
    const { g } = guard();
    expect(g.filter([added(good)])).toEqual([added(good)]);
    expect(g.filter([removed(good)])).toEqual([removed(good)]);
    expect(g.conflicts()).toEqual([]);
  });

  it.each([
    ['outside the Network (the underlay)', lease('198.51.100.0/24', '198.51.100.9', '02:00:00:00:00:09'), 'outside_network'],
    ['a wider prefix holding the Network', lease('198.18.0.0/15', '198.51.100.9', '02:00:00:00:00:09'), 'outside_network'],
    ['overlapping our lease', lease('198.18.1.0/25', '198.51.100.9', '02:00:00:00:00:09'), 'overlap'],
    ['another SubnetLen', lease('198.18.9.0/25', '198.51.100.9', '02:00:00:00:00:09'), 'subnet_len'],
    ['our PublicIP', lease('198.18.9.0/24', '198.51.100.2', '02:00:00:00:00:09'), 'own_public_ip'],
    ['a multicast PublicIP', lease('198.18.9.0/24', '224.0.0.1', '02:00:00:00:00:09'), 'bad_public_ip'],
    ['a PublicIP that is not an address', lease('198.18.9.0/24', 'x', '02:00:00:00:00:09'), 'bad_public_ip'],
    ['a loopback PublicIP', lease('198.18.9.0/24', '127.0.0.1', '02:00:00:00:00:09'), 'bad_public_ip'],
    ['our VtepMAC', lease('198.18.9.0/24', '198.51.100.9', OWN_MAC), 'own_vtep_mac'],
    ['a multicast VtepMAC', lease('198.18.9.0/24', '198.51.100.9', '03:00:00:00:00:09'), 'bad_vtep_mac'],
    ['the zero VtepMAC', lease('198.18.9.0/24', '198.51.100.9', '00:00:00:00:00:00'), 'bad_vtep_mac'],
  ])('refuses a lease %s, once, and its deletion reaches nothing', async (_what, bad, reason) => {
    const { g, registry } = guard();
    expect(g.filter([added(good), added(bad)])).toEqual([added(good)]);
    expect(g.refusals().map((r) => r.reason)).toEqual([reason]);
    expect(g.conflicts()[0]).toMatch(new RegExp(`^lease conflicts: .* \\(${reason}\\)$`));
    const text = await registry.metrics();
    expect(text).toContain(`vxtap_flannel_leases_refused_total{reason="${reason}"} 1`);
    expect(text).toContain('vxtap_flannel_leases_refused 1');
    expect(g.filter([removed(bad)])).toEqual([]);
    expect(g.conflicts()).toEqual([]);
  });

  it('refuses a /30 inside an accepted /24, and another node\'s VtepMAC; the first of two wins, and the second is programmed once the first is gone', () => {
    const { g } = guard();
    const inside = lease('198.18.5.0/30', '198.51.100.9', '02:00:00:00:00:09');
    const copy = lease('198.18.6.0/24', '198.51.100.9', '02:00:00:00:00:03');
    expect(g.filter([added(good), added(inside), added(copy)])).toEqual([added(good)]);
    expect(g.refusals().map((r) => r.reason)).toEqual(['overlap', 'duplicate_vtep_mac']);
    // The good node leaves: its MAC is free again, so the copy is programmed; the /30 is still the wrong length.
    expect(keys(g.filter([removed(good)]))).toEqual(['removed 5.0/24', 'added 6.0/24']);
    expect(g.refusals().map((r) => r.reason)).toEqual(['subnet_len']);
    expect(g.refusals()[0].key).toBe('198.18.5.0-30');
    expect(g.conflicts()[0]).toMatch(/198\.18\.5\.0-30 .*\(subnet_len\)$/);
  });

  it('re-checks a changed lease (removed + added in one batch) against the others, not against itself', () => {
    const { g } = guard();
    g.filter([added(good)]);
    const restarted = lease('198.18.5.0/24', '198.51.100.3', '02:00:00:00:00:33');
    expect(g.filter([removed(good), added(restarted)])).toEqual([removed(good), added(restarted)]);
  });

  it('on a udp node checks no VtepMAC', () => {
    const { g } = guard(null);
    const a = lease('198.18.5.0/24', '198.51.100.3');
    const b = lease('198.18.6.0/24', '198.51.100.4', OWN_MAC);
    expect(g.filter([added(a), added(b)])).toEqual([added(a), added(b)]);
  });
});
