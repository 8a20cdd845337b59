import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, arp, echo, ethernet, ipv4, outer, tcp, udp, vxlan,
} from '../../test/helpers/packets.js';
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac } from '../wire/mac.js';
import { type FilterNode, MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, type Protocol, compileFilter, parseFilter } from './filter.js';
import { LINKTYPE_RAW } from './pcapng.js';

const MAC = ['02:00:00:00:00:01', '02:00:00:00:00:02', '0a:0b:0c:0d:0e:0f'];
const UL = ['198.51.100.1', '198.51.100.2'];
const OV = ['203.0.113.1', '203.0.113.2'];
const underlay = { smac: MAC[2], dmac: MAC[2], src: UL[0], dst: UL[1], sport: 50000 };

/** Sample frames, each with the VNI it is seen on (-1: read from the frame). */
const FRAMES: Record<string, [Buffer, number]> = {
  icmp42: [outer({ ...underlay, dport: 4789 }, vxlan(42, ethernet(MAC[0], MAC[1], ETHERTYPE_IPV4, ipv4(OV[0], OV[1], IPPROTO_ICMP, echo(8, 7, 1))))), -1],
  tcp43: [outer({ ...underlay, dport: 8472 }, vxlan(43, ethernet(MAC[1], MAC[0], ETHERTYPE_IPV4, ipv4(OV[1], OV[0], IPPROTO_TCP, tcp({ sport: 5201, dport: 40000, seq: 1, ack: 2, flags: 0x18, win: 500 }))))), -1],
  arpTap: [ethernet(MAC[0], 'ff:ff:ff:ff:ff:ff', ETHERTYPE_ARP, arp(1, MAC[0], OV[0], '00:00:00:00:00:00', OV[1])), 42],
  udpOverlay: [outer({ ...underlay, sport: 8285, dport: 8285 }, ipv4('198.18.1.1', '198.18.2.1', IPPROTO_UDP, udp(33000, 53, Buffer.alloc(4)))), -1],
  cutVxlan: [outer({ ...underlay, dport: 4789 }, Buffer.alloc(4)), -1],
};

function matching(expr: string): string[] {
  const f = compileFilter(expr);
  return Object.entries(FRAMES).filter(([, [b, vni]]) => f(b, 0, b.length, vni)).map(([name]) => name);
}

describe('capture filter', () => {
  it.each([
    ['', ['icmp42', 'tcp43', 'arpTap', 'udpOverlay', 'cutVxlan']],
    ['vni 42', ['icmp42', 'arpTap']], // from the VXLAN header, or the TAP port's network
    ['vni 43', ['tcp43']],
    [`mac ${MAC[1]}`, ['icmp42', 'tcp43']], // inner source or destination
    [`mac ${MAC[2].toUpperCase()}`, ['icmp42', 'tcp43', 'udpOverlay', 'cutVxlan']], // the outer MACs
    [`host ${OV[1]}`, ['icmp42', 'tcp43', 'arpTap']], // inner IPv4, or ARP's target
    [`host ${UL[0]}`, ['icmp42', 'tcp43', 'udpOverlay', 'cutVxlan']],
    ['host 198.18.2.1', ['udpOverlay']],
    ['proto icmp', ['icmp42']],
    ['tcp', ['tcp43']],
    ['proto arp', ['arpTap']],
    ['proto udp', ['icmp42', 'tcp43', 'udpOverlay', 'cutVxlan']], // every outer header is UDP
    ['port 5201', ['tcp43']],
    ['port 53', ['udpOverlay']],
    ['port 4789', ['icmp42', 'cutVxlan']],
    ['not proto udp', ['arpTap']],
    ['vni 42 or vni 43 and tcp', ['tcp43']], // pcap-filter: equal precedence, left to right
    ['vni 42 or (vni 43 and tcp)', ['icmp42', 'tcp43', 'arpTap']],
    ['! vni 42 && (port 53 || icmp)', ['udpOverlay']],
    ['not not arp', ['arpTap']],
  ])('%j matches %j', (expr, names) => {
    expect(matching(expr)).toEqual(names);
  });

  it('reads raw IP frames when told the link type', () => {
    const packet = ipv4(OV[0], OV[1], IPPROTO_ICMP, echo(0, 1, 1));
    expect(compileFilter(`host ${OV[1]} and icmp`, { linktype: LINKTYPE_RAW })(packet, 0, packet.length, -1)).toBe(true);
  });

  it('reads the instance\'s own VXLAN port as VXLAN, and adds a --vni restriction', () => {
    const b = outer({ ...underlay, dport: 4790 }, vxlan(7, ethernet(MAC[0], MAC[1], ETHERTYPE_IPV4, ipv4(OV[0], OV[1], IPPROTO_ICMP, echo(8, 1, 1)))));
    expect(compileFilter('icmp')(b, 0, b.length, -1)).toBe(false);
    expect(compileFilter('icmp', { vxlanPort: 4790 })(b, 0, b.length, -1)).toBe(true);
    expect(compileFilter('icmp', { vxlanPort: 4790, vni: 8 })(b, 0, b.length, -1)).toBe(false);
    expect(compileFilter('', { vxlanPort: 4790, vni: 7 })(b, 0, b.length, -1)).toBe(true);
  });

  it('reads the instance\'s own udp overlay port as the udp overlay, besides 8285', () => {
    const b = outer({ ...underlay, sport: 9000, dport: 9000 }, ipv4(OV[0], OV[1], IPPROTO_ICMP, echo(8, 1, 1)));
    expect(compileFilter(`host ${OV[1]}`)(b, 0, b.length, -1)).toBe(false);
    expect(compileFilter(`host ${OV[1]}`, { overlayPort: 9000 })(b, 0, b.length, -1)).toBe(true);
    expect(compileFilter('icmp', { overlayPort: 9000 })(b, 0, b.length, -1)).toBe(true);
    // Raw IP too: a dropped datagram is its outer IPv4/UDP and the payload.
    const raw = b.subarray(14);
    expect(compileFilter(`icmp and host ${OV[1]}`, { overlayPort: 9000, linktype: LINKTYPE_RAW })(raw, 0, raw.length, -1)).toBe(true);
  });

  it('reads nothing past the captured length: for every prefix, the bytes after it do not matter', () => {
    const f = compileFilter(`host ${OV[1]} or port 53 or port 5201 or mac ${MAC[1]} or arp or vni 42`);
    for (const [b, vni] of Object.values(FRAMES)) {
      for (let n = 0; n <= b.length; n++) {
        const after = (fill: number) => Buffer.concat([b.subarray(0, n), Buffer.alloc(b.length, fill)]);
        expect(f(after(0x00), 0, n, vni)).toBe(f(after(0xff), 0, n, vni));
        expect(f(after(0x00), 0, n, vni)).toBe(f(after(0x2a), 0, n, vni));
      }
    }
  });

  it.each([
    ['vni', "filter: expected a VNI (0-16777215) after 'vni', got the end of the filter"],
    ['vni 16777216', "filter: expected a VNI (0-16777215) after 'vni', got '16777216' at column 5"],
    ['port x', "filter: expected a port (0-65535) after 'port', got 'x' at column 6"],
    ['host 203.0.113', "filter: expected an IPv4 address after 'host', got '203.0.113' at column 6"],
    ['mac 02:00', "filter: expected a MAC address such as 02:00:00:00:00:01 after 'mac', got '02:00' at column 5"],
    ['proto sctp', "filter: expected 'tcp', 'udp', 'icmp' or 'arp' after 'proto', got 'sctp' at column 7"],
    ['vni 1 vni 2', "filter: expected 'and', 'or' or the end of the filter, got 'vni' at column 7"],
    ['(vni 1', "filter: expected 'and', 'or' or ')', got the end of the filter"],
    ['vni 1 and', "filter: expected 'vni', 'mac', 'host', 'port', 'proto', 'tcp', 'udp', 'icmp', 'arp', 'not' or '(', got the end of the filter"],
    ['toString', "filter: expected 'vni', 'mac', 'host', 'port', 'proto', 'tcp', 'udp', 'icmp', 'arp', 'not' or '(', got 'toString' at column 1"],
    ['tcp & udp', "got '&' at column 5"],
  ])('rejects %j naming the token and what was expected', (expr, message) => {
    expect(() => parseFilter(expr)).toThrow(message);
  });
});

describe('capture filter limits', () => {
  const [icmp, vni] = FRAMES.icmp42;

  it('refuses a filter of 9,000 terms in one line naming --filter and the limit, instead of overflowing the stack on a frame', () => {
    const text = Array(9000).fill('tcp').join(' or ');
    expect(() => compileFilter(text)).toThrow(`--filter: ${text.length} characters, more than the limit of ${MAX_FILTER_LENGTH}: shorten it`);
  });

  it("refuses 10,000 nested '(' in one line naming --filter and the limit, instead of overflowing the parser's stack", () => {
    const text = '('.repeat(10_000) + 'tcp' + ')'.repeat(10_000);
    expect(() => compileFilter(text)).toThrow(`--filter: ${text.length} characters`);
    // Within the length limit, the nesting limit speaks.
    for (const open of ['(', 'not ', '! ']) {
      const nested = open.repeat(MAX_FILTER_DEPTH + 1) + 'icmp' + (open === '(' ? ')'.repeat(MAX_FILTER_DEPTH + 1) : '');
      expect(() => compileFilter(nested)).toThrow(`--filter: nested more than ${MAX_FILTER_DEPTH} levels deep`);
    }
  });

  it('accepts nesting up to the limit and evaluates it', () => {
    const parens = '('.repeat(MAX_FILTER_DEPTH) + 'icmp' + ')'.repeat(MAX_FILTER_DEPTH);
    expect(compileFilter(parens)(icmp, 0, icmp.length, vni)).toBe(true);
    // An even number of 'not's around a primitive of height 1: MAX_FILTER_DEPTH levels in all.
    const nots = 'not '.repeat(MAX_FILTER_DEPTH - 2) + 'icmp';
    expect(compileFilter(nots)(icmp, 0, icmp.length, vni)).toBe(true);
    expect(compileFilter('not ' + nots)(icmp, 0, icmp.length, vni)).toBe(false);
  });

  it('evaluates a run of one operator as long as the length limit allows, as one level', () => {
    /** `term op term op ... last`, as many terms as fit the length limit. */
    const run = (term: string, op: string, last: string): string => {
      const n = Math.floor((MAX_FILTER_LENGTH - last.length) / (term.length + op.length + 2));
      return [...Array<string>(n).fill(term), last].join(` ${op} `);
    };
    for (const [text, matches] of [
      [run('tcp', 'or', 'icmp'), true],
      [run('tcp', 'or', 'arp'), false],
      [run('icmp', 'and', 'tcp'), false],
      [run('icmp', 'and', 'icmp'), true],
    ] as const) {
      expect(text.length).toBeGreaterThan(MAX_FILTER_LENGTH - 16);
      expect(compileFilter(text)(icmp, 0, icmp.length, vni)).toBe(matches);
    }
  });

  it("counts each switch between 'and' and 'or' as a level", () => {
    const alternating = (n: number) => ['icmp', ...Array.from({ length: n }, (_, k) => (k % 2 ? 'or icmp' : 'and icmp'))].join(' ');
    expect(compileFilter(alternating(MAX_FILTER_DEPTH - 1))(icmp, 0, icmp.length, vni)).toBe(true);
    expect(() => compileFilter(alternating(MAX_FILTER_DEPTH))).toThrow(`--filter: nested more than ${MAX_FILTER_DEPTH} levels deep`);
  });
});

// ---- the compiled filter against a reference model ---------------------------

/** A frame described by its parts; the model reads its facts from here, not from bytes. */
interface Desc {
  encap: 'none' | 'vxlan' | 'udp';
  vni: number;
  outer: { smac: string; dmac: string; src: string; dst: string; sport: number };
  inner: { smac: string; dmac: string; kind: Protocol; src: string; dst: string; sport: number; dport: number };
}

const VNIS = [1, 42, 43];
// No port that would read as an encapsulation where it is not one.
const PORTS = [53, 5201, 40000];
const IPS = [...UL, ...OV];

const descArb: fc.Arbitrary<Desc> = fc.record({
  encap: fc.constantFrom('none', 'vxlan', 'udp'),
  vni: fc.constantFrom(...VNIS),
  outer: fc.record({ smac: fc.constantFrom(...MAC), dmac: fc.constantFrom(...MAC), src: fc.constantFrom(...UL), dst: fc.constantFrom(...UL), sport: fc.constantFrom(...PORTS) }),
  inner: fc.record({
    smac: fc.constantFrom(...MAC), dmac: fc.constantFrom(...MAC), kind: fc.constantFrom<Protocol>('tcp', 'udp', 'icmp', 'arp'),
    src: fc.constantFrom(...IPS), dst: fc.constantFrom(...IPS), sport: fc.constantFrom(...PORTS), dport: fc.constantFrom(...PORTS),
  }),
});

function build(d: Desc): Buffer {
  const i = d.inner;
  const l4 = i.kind === 'tcp' ? tcp({ sport: i.sport, dport: i.dport, seq: 1, ack: 1, flags: 0x10, win: 1 })
    : i.kind === 'udp' ? udp(i.sport, i.dport, Buffer.alloc(3)) : echo(8, 1, 1);
  const proto = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP, arp: 0 }[i.kind];
  const ip = i.kind === 'arp' ? arp(1, i.smac, i.src, '00:00:00:00:00:00', i.dst) : ipv4(i.src, i.dst, proto, l4);
  const frame = ethernet(i.smac, i.dmac, i.kind === 'arp' ? ETHERTYPE_ARP : ETHERTYPE_IPV4, ip);
  if (d.encap === 'none') return frame;
  // The udp overlay carries IP only: ARP becomes a plain UDP datagram there.
  const payload = d.encap === 'vxlan' ? vxlan(d.vni, frame) : i.kind === 'arp' ? Buffer.alloc(8) : ip;
  return outer({ ...d.outer, dport: d.encap === 'vxlan' ? 4789 : 8285 }, payload);
}

/** Facts per layer, from the description; a primitive matches if any layer has the fact. */
function facts(d: Desc) {
  const i = d.inner;
  const innerReal = !(d.encap === 'udp' && i.kind === 'arp');
  const macs = [...(d.encap !== 'udp' ? [i.smac, i.dmac] : []), ...(d.encap !== 'none' ? [d.outer.smac, d.outer.dmac] : [])].map(parseMac);
  const hosts = [...(innerReal ? [i.src, i.dst] : []), ...(d.encap !== 'none' ? [d.outer.src, d.outer.dst] : [])].map(parseIpv4Addr);
  const protos: Protocol[] = [...(innerReal ? [i.kind] : []), ...(d.encap !== 'none' ? ['udp' as const] : [])];
  const ports = [
    ...(innerReal && (i.kind === 'tcp' || i.kind === 'udp') ? [i.sport, i.dport] : []),
    ...(d.encap !== 'none' ? [d.outer.sport, d.encap === 'vxlan' ? 4789 : 8285] : []),
  ];
  return { vni: d.vni, macs, hosts, protos, ports };
}

function evaluate(n: FilterNode, f: ReturnType<typeof facts>): boolean {
  switch (n.op) {
    case 'and': return evaluate(n.a, f) && evaluate(n.b, f);
    case 'or': return evaluate(n.a, f) || evaluate(n.b, f);
    case 'not': return !evaluate(n.a, f);
    case 'vni': return f.vni === n.value;
    case 'mac': return f.macs.includes(n.value);
    case 'host': return f.hosts.includes(n.value);
    case 'port': return f.ports.includes(n.value);
    case 'proto': return f.protos.includes(n.value);
  }
}

/** Filter text for a tree, parenthesised so that it parses back to the same tree. */
function format(n: FilterNode): string {
  switch (n.op) {
    case 'and':
    case 'or': return `(${format(n.a)} ${n.op} ${format(n.b)})`;
    case 'not': return `not ${format(n.a)}`;
    case 'host': return `host ${formatIpv4Addr(n.value)}`;
    case 'mac': return `mac ${formatMac(n.value)}`;
    default: return `${n.op} ${n.value}`;
  }
}

const nodeArb = fc.letrec<{ node: FilterNode }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...VNIS).map((value): FilterNode => ({ op: 'vni', value })),
    fc.constantFrom(...MAC).map((m): FilterNode => ({ op: 'mac', value: parseMac(m) })),
    fc.constantFrom(...IPS).map((ip): FilterNode => ({ op: 'host', value: parseIpv4Addr(ip) })),
    fc.constantFrom(...PORTS, 4789, 8285).map((value): FilterNode => ({ op: 'port', value })),
    fc.constantFrom<Protocol>('tcp', 'udp', 'icmp', 'arp').map((value): FilterNode => ({ op: 'proto', value })),
    tie('node').map((a): FilterNode => ({ op: 'not', a })),
    fc.tuple(fc.constantFrom('and' as const, 'or' as const), tie('node'), tie('node')).map(([op, a, b]): FilterNode => ({ op, a, b })),
  ),
})).node;

describe('capture filter against a model', () => {
  it('agrees with the model on random filters and frames', () => {
    fc.assert(fc.property(nodeArb, fc.array(descArb, { minLength: 1, maxLength: 8 }), (node, descs) => {
      const text = format(node);
      expect(parseFilter(text)).toEqual(node);
      const f = compileFilter(text);
      for (const d of descs) {
        const b = build(d);
        // A TAP frame is seen on its port's VNI; an encapsulated one carries its own (the udp overlay none).
        const seenOn = d.encap === 'none' ? d.vni : -1;
        const model = facts(d.encap === 'udp' ? { ...d, vni: -1 } : d);
        expect(f(b, 0, b.length, seenOn)).toBe(evaluate(node, model));
      }
    }), { numRuns: 500 });
  });
});
