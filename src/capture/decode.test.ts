import { describe, expect, it } from 'vitest';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, arp, echo, ethernet, icmp, ipv4, outer, tcp, udp, vxlan,
} from '../../test/helpers/packets.js';
import { decodeCapture, formatTime, summarize } from './decode.js';
import {
  LINKTYPE_ETHERNET, LINKTYPE_RAW, commentOption, epbLength, interfaceDescription, readCapture, sectionHeader, writeEpb,
} from './pcapng.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';
const underlay = { smac: '0a:00:00:00:00:01', dmac: '0a:00:00:00:00:02', src: '198.51.100.1', dst: '198.51.100.2', sport: 50000 };
const OUTER = 'IP 198.51.100.1.50000 > 198.51.100.2.4789';

const ping = ethernet(A, B, ETHERTYPE_IPV4, ipv4('203.0.113.1', '203.0.113.2', IPPROTO_ICMP, echo(8, 7, 1)));
const vxPing = outer({ ...underlay, dport: 4789 }, vxlan(42, ping));
const INNER = `${A} > ${B}, IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id 7, seq 1, length 64`;

const line = (b: Buffer, linktype = LINKTYPE_ETHERNET) => summarize(b, b.length, linktype);

describe('decode: one tcpdump-like line per packet', () => {
  it.each([
    ['VXLAN on 4789, outer -> inner', vxPing, `${OUTER}: VXLAN vni 42: ${INNER}`],
    ['VXLAN on 8472 with inner TCP',
      outer({ ...underlay, dport: 8472 }, vxlan(43, ethernet(B, A, ETHERTYPE_IPV4, ipv4('203.0.113.2', '203.0.113.1', IPPROTO_TCP,
        tcp({ sport: 5201, dport: 40000, seq: 4294967290, ack: 2, flags: 0x18, win: 502, payload: Buffer.alloc(100) }))))),
      `IP 198.51.100.1.50000 > 198.51.100.2.8472: VXLAN vni 43: ${B} > ${A}, IP 203.0.113.2.5201 > 203.0.113.1.40000: Flags [P.], seq 4294967290:94, ack 2, win 502, length 100`],
    ['a SYN without ACK', ipv4('203.0.113.1', '203.0.113.2', IPPROTO_TCP, tcp({ sport: 1, dport: 2, seq: 5, ack: 9, flags: 0x02, win: 64240 })),
      'IP 203.0.113.1.1 > 203.0.113.2.2: Flags [S], seq 5, win 64240, length 0', LINKTYPE_RAW],
    ['VXLAN with the I flag clear', outer({ ...underlay, dport: 4789 }, vxlan(42, ping, 0x00)), `${OUTER}: VXLAN flags 0x00 vni 42: ${INNER}`],
    ['ARP on a TAP', ethernet(A, 'ff:ff:ff:ff:ff:ff', ETHERTYPE_ARP, arp(1, A, '203.0.113.1', '00:00:00:00:00:00', '203.0.113.2')),
      'ARP, Request who-has 203.0.113.2 tell 203.0.113.1, length 28'],
    ['an ARP reply inside VXLAN', outer({ ...underlay, dport: 4789 }, vxlan(42, ethernet(B, A, ETHERTYPE_ARP, arp(2, B, '203.0.113.2', A, '203.0.113.1')))),
      `${OUTER}: VXLAN vni 42: ${B} > ${A}, ARP, Reply 203.0.113.2 is-at ${B}, length 28`],
    ['the udp overlay on 8285', outer({ ...underlay, sport: 8285, dport: 8285 }, ipv4('198.18.1.1', '198.18.2.1', IPPROTO_UDP, udp(33000, 53, Buffer.alloc(4)))),
      'IP 198.51.100.1.8285 > 198.51.100.2.8285: UDP-overlay: IP 198.18.1.1.33000 > 198.18.2.1.53: UDP, length 4'],
    ['plain UDP', outer({ ...underlay, dport: 9 }, Buffer.alloc(3)), 'IP 198.51.100.1.50000 > 198.51.100.2.9: UDP, length 3'],
    ['raw IP (a TUN)', ipv4('203.0.113.1', '203.0.113.2', IPPROTO_ICMP, echo(0, 1, 2)), 'IP 203.0.113.1 > 203.0.113.2: ICMP echo reply, id 1, seq 2, length 64', LINKTYPE_RAW],
    ['an ICMP error', ipv4('198.18.1.1', '198.18.1.1', IPPROTO_ICMP, icmp(3, 0, 0, Buffer.alloc(28))), 'IP 198.18.1.1 > 198.18.1.1: ICMP unreachable, code 0, length 36', LINKTYPE_RAW],
    ['another IP protocol', ipv4('203.0.113.1', '203.0.113.2', 47, Buffer.alloc(12)), 'IP 203.0.113.1 > 203.0.113.2: ip-proto-47, length 12', LINKTYPE_RAW],
    ['an unknown EtherType', ethernet(A, B, 0x88b5, Buffer.alloc(46)), `${A} > ${B}, ethertype 0x88b5, length 46`],
  ])('%s', (_what, b, expected, linktype = LINKTYPE_ETHERNET) => {
    expect(line(b, linktype)).toBe(expected);
  });

  it('ends the line with [|proto] where a header is cut off', () => {
    const cut = (n: number) => line(vxPing.subarray(0, n));
    // Offsets in vxPing: outer Ethernet 0, IPv4 14, UDP 34, VXLAN 42, inner Ethernet 50, IPv4 64, ICMP 84.
    expect([0, 13].map(cut)).toEqual(['[|ether]', '[|ether]']);
    expect([14, 33].map(cut)).toEqual(['[|ip]', '[|ip]']);
    expect([34, 41].map(cut)).toEqual(Array(2).fill('IP 198.51.100.1 > 198.51.100.2: [|udp]'));
    expect([42, 49].map(cut)).toEqual(Array(2).fill(`${OUTER}: [|vxlan]`));
    expect([50, 63].map(cut)).toEqual(Array(2).fill(`${OUTER}: VXLAN vni 42: [|ether]`));
    expect([64, 83].map(cut)).toEqual(Array(2).fill(`${OUTER}: VXLAN vni 42: ${A} > ${B}, [|ip]`));
    expect([84, 91].map(cut)).toEqual(Array(2).fill(`${OUTER}: VXLAN vni 42: ${A} > ${B}, IP 203.0.113.1 > 203.0.113.2: [|icmp]`));
    // Cut inside the ICMP data: the lengths still come from the headers.
    expect(summarize(vxPing.subarray(0, 100), vxPing.length, LINKTYPE_ETHERNET)).toBe(line(vxPing));
  });

  it('prints local time to the microsecond, or to the nanosecond', () => {
    const d = new Date(1_700_000_000_000);
    const hms = [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
    expect(formatTime(1_700_000_000, 5_000, false)).toBe(`${hms}.000005`);
    expect(formatTime(1_700_000_000, 5_007, true)).toBe(`${hms}.000005007`);
  });

  it('names the capture point when a file has several, and shows the comment', () => {
    const opts = commentOption('unknown_vni');
    const epb = Buffer.alloc(epbLength(vxPing.length, opts.length));
    writeEpb(epb, 0, 1, 0, 0, vxPing, 0, vxPing.length, vxPing.length, opts);
    const file = Buffer.concat([
      sectionHeader('t'),
      interfaceDescription({ linktype: LINKTYPE_ETHERNET, snaplen: 65535, name: 'wire-rx', nano: false }),
      interfaceDescription({ linktype: LINKTYPE_ETHERNET, snaplen: 65535, name: 'drop', nano: true }),
      epb,
    ]);
    expect(decodeCapture(readCapture(file))).toEqual([
      `${formatTime(0, 0, true)} drop ${OUTER}: VXLAN vni 42: ${INNER} [comment: unknown_vni]`,
    ]);
  });
});
