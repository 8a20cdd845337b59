import { describe, expect, it } from 'vitest';
import { arp, ethernet, ipv4, ndisc } from '../../test/helpers/packets.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, parseArp } from '../wire/arp.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet } from '../wire/ethernet.js';
import { getIcmpChecksum } from '../wire/icmp.js';
import { parseIpv4Addr, parseIpv6Addr } from '../wire/ipaddr.js';
import { IPV6_HLEN, parseIpv6, setIpv6TrafficClass } from '../wire/ipv6.js';
import { macNumberHi, macNumberLo, parseMac } from '../wire/mac.js';
import {
  ICMPV6_NEIGHBOR_ADVERT, icmpv6Checksum, lladdrOption, NA_FLAG_OVERRIDE, NA_FLAG_SOLICITED, ND_OPT_SOURCE_LLADDR,
  ND_OPT_TARGET_LLADDR, parseNd,
} from '../wire/ndisc.js';
import { Fdb } from './fdb.js';
import { FAMILY_IPV4, FAMILY_IPV6, NeighTable } from './neigh.js';
import { ARP_MISSES, ARP_REPLIES, ND_INVALID, ND_MISSES, ND_REPLIES, NeighProxy } from './proxy.js';

const HOST = '02:00:00:00:00:01';
const PEER = '02:00:00:00:00:0b';
const ETHERTYPE_IPV6 = 0x86dd;
const OFF = 10;
const SLOT = 256;

/** A table with 203.0.113.2 and 2001:db8::2 (and the never-answered 127.0.0.2) at PEER. */
function setup() {
  const table = new NeighTable();
  for (const a of ['203.0.113.2', '127.0.0.2', '224.0.0.5']) table.set({ family: FAMILY_IPV4, addr: [parseIpv4Addr(a)], mac: parseMac(PEER), dev: 'p0' });
  table.set({ family: FAMILY_IPV6, addr: parseIpv6Addr('2001:db8::2'), mac: parseMac(PEER), dev: 'p0' });
  const fdb = new Fdb();
  return { fdb, table, proxy: new NeighProxy(table, fdb) };
}

/** The frame at OFF in a slot of stale bytes, as the receive batch holds it. */
function slot(frame: Buffer, fill = 0xa5): Buffer {
  const b = Buffer.alloc(SLOT, fill);
  frame.copy(b, OFF);
  return b;
}

const counts = (p: NeighProxy) => [...p.counters];
const arpRequest = (tpa: string) => ethernet(HOST, 'ff:ff:ff:ff:ff:ff', ETHERTYPE_ARP, arp(ARP_OP_REQUEST, HOST, '203.0.113.1', '00:00:00:00:00:00', tpa));
const solicit = (o: { src?: string; dst?: string; target?: string; sll?: boolean; hopLimit?: number } = {}) => ethernet(HOST, '33:33:ff:00:00:02', ETHERTYPE_IPV6, ndisc(o.src ?? '2001:db8::1', o.dst ?? 'ff02::1:ff00:2', {
  target: o.target ?? '2001:db8::2', hopLimit: o.hopLimit, options: o.sll === false ? [] : [lladdrOption(ND_OPT_SOURCE_LLADDR, parseMac(HOST))],
}));

describe('NeighProxy', () => {
  it('answers an ARP request from the table over the request, as the kernel builds the reply', () => {
    const { proxy } = setup();
    const b = slot(arpRequest('203.0.113.2'));
    expect(proxy.answer(b, OFF, ETH_HLEN + 28)).toBe(42);
    expect(parseEthernet(b, OFF, 42)).toEqual({ dst: parseMac(HOST), src: parseMac(PEER), ethertype: ETHERTYPE_ARP });
    expect(parseArp(b, OFF + ETH_HLEN, 28)).toEqual({
      op: ARP_OP_REPLY, sha: parseMac(PEER), spa: parseIpv4Addr('203.0.113.2'), tha: parseMac(HOST), tpa: parseIpv4Addr('203.0.113.1'),
    });
    expect([...b.subarray(0, OFF), ...b.subarray(OFF + 42)].every((x) => x === 0xa5)).toBe(true);
    expect(counts(proxy)).toEqual([1, 0, 0, 0, 0]);
  });

  it('counts a miss and leaves the request as it was: not in the table, loopback, multicast, or behind a local port', () => {
    const { proxy, fdb } = setup();
    for (const tpa of ['203.0.113.9', '127.0.0.2', '224.0.0.5']) {
      const frame = arpRequest(tpa);
      const b = slot(frame);
      expect(proxy.answer(b, OFF, frame.length), tpa).toBe(0);
      expect(b.subarray(OFF, OFF + frame.length).equals(frame)).toBe(true);
    }
    const mac = parseMac(PEER);
    fdb.addStatic(macNumberHi(mac), macNumberLo(mac), 1, 0); // the host with that MAC is on local port 1
    expect(proxy.answer(slot(arpRequest('203.0.113.2')), OFF, 42)).toBe(0);
    expect(proxy.counters[ARP_MISSES]).toBe(4);
    expect(proxy.counters[ARP_REPLIES]).toBe(0);
  });

  it('lets other frames pass uncounted: ARP replies, other ARP, IPv4, a short frame', () => {
    const { proxy } = setup();
    const reply = ethernet(HOST, PEER, ETHERTYPE_ARP, arp(ARP_OP_REPLY, HOST, '203.0.113.1', PEER, '203.0.113.2'));
    const ieee802 = arpRequest('203.0.113.2');
    ieee802[ETH_HLEN + 1] = 6;
    const ip = ethernet(HOST, PEER, ETHERTYPE_IPV4, ipv4('203.0.113.1', '203.0.113.2', 17, Buffer.alloc(8)));
    for (const f of [reply, ieee802, ip, arpRequest('203.0.113.2').subarray(0, 41)]) expect(proxy.answer(slot(f), OFF, f.length)).toBe(0);
    expect(counts(proxy)).toEqual([0, 0, 0, 0, 0]);
  });

  it('answers a neighbour solicitation with a complete advertisement: S and O, the target option, the checksum', () => {
    const { proxy } = setup();
    const frame = solicit();
    // The same reply whatever the slot held after the request: every byte of it is written.
    const [a, z] = [slot(frame, 0xa5), slot(frame, 0x5a)];
    setIpv6TrafficClass(a, OFF + ETH_HLEN, 0xb8);
    setIpv6TrafficClass(z, OFF + ETH_HLEN, 0xb8);
    const n = frame.length - ETH_HLEN - IPV6_HLEN;
    a.writeUInt16BE(icmpv6Checksum(a, OFF + ETH_HLEN, n), OFF + ETH_HLEN + IPV6_HLEN + 2);
    z.writeUInt16BE(icmpv6Checksum(z, OFF + ETH_HLEN, n), OFF + ETH_HLEN + IPV6_HLEN + 2);
    expect(proxy.answer(a, OFF, frame.length)).toBe(86);
    expect(proxy.answer(z, OFF, frame.length)).toBe(86);
    expect(a.subarray(OFF, OFF + 86).equals(z.subarray(OFF, OFF + 86))).toBe(true);

    const ip = OFF + ETH_HLEN;
    expect(parseEthernet(a, OFF, 86)).toEqual({ dst: parseMac(HOST), src: parseMac(PEER), ethertype: ETHERTYPE_IPV6 });
    expect(parseIpv6(a, ip, 72)).toEqual({
      trafficClass: 0xb0, flowLabel: 0, payloadLen: 32, nextHeader: 58, hopLimit: 255,
      src: parseIpv6Addr('2001:db8::2'), dst: parseIpv6Addr('2001:db8::1'),
    });
    expect(parseNd(a, ip + IPV6_HLEN, 32)).toEqual({
      type: ICMPV6_NEIGHBOR_ADVERT, flags: NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE, target: parseIpv6Addr('2001:db8::2'),
      options: [lladdrOption(ND_OPT_TARGET_LLADDR, parseMac(PEER))],
    });
    expect(getIcmpChecksum(a, ip + IPV6_HLEN)).toBe(icmpv6Checksum(a, ip, 32));
    expect(proxy.counters[ND_REPLIES]).toBe(2);
  });

  it('sends the advertisement to the frame\'s source without a source link-layer address option', () => {
    const { proxy } = setup();
    const frame = solicit({ sll: false });
    frame.write('020000000077', 6, 'hex');
    const b = slot(frame);
    expect(proxy.answer(b, OFF, frame.length)).toBe(86);
    expect(parseEthernet(b, OFF, 86).dst).toBe(0x020000000077);
  });

  it('answers duplicate address detection to all-nodes without S, as RFC 4861 section 7.2.4 says', () => {
    const { proxy } = setup();
    const frame = solicit({ src: '::', sll: false });
    const b = slot(frame);
    expect(proxy.answer(b, OFF, frame.length)).toBe(86);
    expect(parseEthernet(b, OFF, 86).dst).toBe(parseMac('33:33:00:00:00:01'));
    expect(parseIpv6(b, OFF + ETH_HLEN, 72).dst).toEqual(parseIpv6Addr('ff02::1'));
    expect(parseNd(b, OFF + ETH_HLEN + IPV6_HLEN, 32).flags).toBe(NA_FLAG_OVERRIDE);
    expect(getIcmpChecksum(b, OFF + ETH_HLEN + IPV6_HLEN)).toBe(icmpv6Checksum(b, OFF + ETH_HLEN, 32));
  });

  it('counts a malformed solicitation as invalid and a target not in the table as a miss, leaving both as they were', () => {
    const { proxy } = setup();
    for (const [frame, counter] of [
      [solicit({ hopLimit: 64 }), ND_INVALID],
      [solicit({ src: '::' }), ND_INVALID], // DAD with a source link-layer address option
      [solicit({ target: '2001:db8::9' }), ND_MISSES],
      [solicit({ dst: '::1' }), ND_MISSES],
    ] as Array<[Buffer, number]>) {
      const before = proxy.counters[counter];
      const b = slot(frame);
      expect(proxy.answer(b, OFF, frame.length)).toBe(0);
      expect(b.subarray(OFF, OFF + frame.length).equals(frame)).toBe(true);
      expect(proxy.counters[counter]).toBe(before + 1);
    }
    expect(proxy.counters[ND_REPLIES]).toBe(0);
  });
});
