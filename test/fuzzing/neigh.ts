// Fuzz targets for the ARP/ND proxy: the frames a TAP hands it (neighbour
// solicitations with crafted options above all: zero lengths, options past
// the packet, cut-off option headers, many options, bent payload lengths,
// wrong checksums and hop limits; ARP requests; random bytes), and the words
// of `vxtap neigh` as a control request carries them.
import fc from 'fast-check';
import { ndisc } from '../helpers/packets.js';
import { NEIGH_MAX, FAMILY_IPV4, FAMILY_IPV6, NeighTable } from '../../src/switch/neigh.js';
import { Fdb } from '../../src/switch/fdb.js';
import { NeighProxy } from '../../src/switch/proxy.js';
import { parseNeighWords } from '../../src/control/neigh-commands.js';
import { ARP_OP_REPLY, parseArp } from '../../src/wire/arp.js';
import { getIcmpChecksum, setIcmpChecksum } from '../../src/wire/icmp.js';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/wire/ipaddr.js';
import { IPV6_HLEN, ipv6Check } from '../../src/wire/ipv6.js';
import { ICMPV6_NEIGHBOR_ADVERT, icmpv6Checksum, ND_OPT_SOURCE_LLADDR, ndCheck, nsCheck, parseNd } from '../../src/wire/ndisc.js';
import { type Target, userErrorOnly } from './harness.js';

const HOST = Buffer.from('020000000001', 'hex');
const PEER_MAC = 0x02000000000b;
const TARGETS = ['2001:db8::2', '2001:db8::9', 'fe80::2', 'ff02::1', '::1', '::'];
const SOURCES = ['2001:db8::1', '::', 'fe80::1', 'ff02::1'];
const DESTS = ['ff02::1:ff00:2', 'ff02::1:ff00:9', '2001:db8::2', 'ff02::1', '::1'];

/** Option bytes: well-formed ones, and the crafted kinds that have broken ND parsers. */
const option = fc.oneof(
  { weight: 3, arbitrary: fc.constant(Buffer.from([ND_OPT_SOURCE_LLADDR, 1, ...HOST])) },
  { weight: 2, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 3 })).chain(([t, n]) => fc.uint8Array({ minLength: n * 8 - 2, maxLength: n * 8 - 2 }).map((d) => Buffer.from([t, n, ...d]))) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 6, maxLength: 6 })).map(([t, d]) => Buffer.from([t, 0, ...d])) }, // length 0
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 2, max: 255 })).map(([t, n]) => Buffer.from([t, n, 0, 0, 0, 0, 0, 0])) }, // past the packet
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 7 }).map((a) => Buffer.from(a)) }, // cut off
);

/** A solicitation built right, then bent: options, payload length, hop limit, checksum, truncation, padding. */
const solicitation = fc.record({
  src: fc.constantFrom(...SOURCES),
  dst: fc.constantFrom(...DESTS),
  target: fc.constantFrom(...TARGETS),
  options: fc.oneof(fc.array(option, { maxLength: 4 }), fc.array(option, { minLength: 15, maxLength: 40 })),
  hopLimit: fc.oneof({ weight: 5, arbitrary: fc.constant(255) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 254 }) }),
  lengthDelta: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -40, max: 40 }) }),
  goodChecksum: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  cut: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 80 }) }),
  pad: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }) }),
}).map((s) => {
  const ip = ndisc(s.src, s.dst, { target: s.target, hopLimit: s.hopLimit });
  const body = Buffer.concat([ip, ...s.options]);
  const icmpLen = Math.max(0, Math.min(0xffff, body.length - IPV6_HLEN + s.lengthDelta));
  body.writeUInt16BE(icmpLen, 4);
  setIcmpChecksum(body, IPV6_HLEN, 0);
  if (s.goodChecksum && icmpLen <= body.length - IPV6_HLEN) setIcmpChecksum(body, IPV6_HLEN, icmpv6Checksum(body, 0, icmpLen));
  const eth = Buffer.from('3333ff000002020000000001' + '86dd', 'hex');
  const frame = Buffer.concat([eth, body, Buffer.alloc(s.pad)]);
  return frame.subarray(0, Math.max(0, frame.length - s.cut));
});

const arpRequest = fc.tuple(fc.constantFrom('cb007102', 'cb007109', '7f000001', 'e0000005', '00000000'), fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }), fc.integer({ min: 0, max: 50 }))
  .map(([tpa, op, cut]) => {
    const f = Buffer.from(`ffffffffffff020000000001 0806 0001 0800 06 04 ${op.toString(16).padStart(4, '0')} 020000000001 cb007101 000000000000 ${tpa}`.replace(/\s+/g, ''), 'hex');
    return f.subarray(0, Math.max(0, f.length - (cut > 40 ? cut - 40 : 0)));
  });

const frame = fc.oneof(
  { weight: 6, arbitrary: solicitation },
  { weight: 2, arbitrary: arpRequest },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
);

const OFF = 16;
const SLOT = 2048;

function table(): NeighTable {
  const t = new NeighTable(NEIGH_MAX);
  t.set({ family: FAMILY_IPV4, addr: [parseIpv4Addr('203.0.113.2')], mac: PEER_MAC, dev: 'p' });
  for (const a of ['2001:db8::2', 'fe80::2']) t.set({ family: FAMILY_IPV6, addr: parseIpv6Addr(a), mac: PEER_MAC, dev: 'p' });
  return t;
}

const fail = (what: string): never => {
  throw new Error(what);
};

const proxyTarget: Target = {
  name: 'neigh-proxy',
  what: 'frames from a TAP into the ARP/ND proxy: crafted neighbour solicitations and their options, ARP requests, random bytes',
  cases: 8_000,
  netns: false,
  open: async () => {
    const proxy = new NeighProxy(table(), new Fdb());
    const b = Buffer.alloc(SLOT);
    return {
      property: fc.property(frame, fc.integer({ min: 0, max: 255 }), (f, stale) => {
        b.fill(stale);
        f.copy(b, OFF);
        const before = Buffer.from(b);
        // The checks read only the bytes they are given: more bytes after the frame change nothing.
        if (f.length >= 14) {
          const n = nsCheck(b, OFF + 14, f.length - 14);
          const tail = Buffer.from(b);
          tail.fill(stale ^ 0xff, OFF + f.length);
          if (nsCheck(tail, OFF + 14, f.length - 14) !== n) fail('nsCheck read past the frame');
          const icmpLen = f.length - 14 - IPV6_HLEN;
          if (icmpLen >= 0 && ndCheck(b, OFF + 14 + IPV6_HLEN, icmpLen) !== ndCheck(tail, OFF + 14 + IPV6_HLEN, icmpLen)) fail('ndCheck read past the message');
        }
        const r = proxy.answer(b, OFF, f.length);
        if (r === 0) {
          if (!b.equals(before)) fail('a frame the proxy let pass was changed');
          return;
        }
        if (!b.subarray(0, OFF).equals(before.subarray(0, OFF)) || !b.subarray(OFF + Math.max(r, f.length)).equals(before.subarray(OFF + Math.max(r, f.length)))) {
          fail('the reply wrote outside its frame');
        }
        if (r === 42) {
          const a = parseArp(b, OFF + 14, 28);
          if (a.op !== ARP_OP_REPLY || a.sha !== PEER_MAC || a.tpa !== 0xcb007101) fail(`a wrong ARP reply: ${JSON.stringify(a)}`);
          return;
        }
        if (r !== 86) fail(`a reply of ${r} bytes`);
        const ip = OFF + 14;
        if (ipv6Check(b, ip, 72) !== 0 || getIcmpChecksum(b, ip + IPV6_HLEN) !== icmpv6Checksum(b, ip, 32)) fail('the advertisement\'s IPv6 header or checksum is wrong');
        const nd = parseNd(b, ip + IPV6_HLEN, 32);
        if (nd.type !== ICMPV6_NEIGHBOR_ADVERT || nd.options.length !== 1 || Buffer.from(nd.options[0].data).compare(Buffer.from('02000000000b', 'hex')) !== 0) {
          fail(`a wrong advertisement: ${JSON.stringify(nd)}`);
        }
      }) as unknown as fc.IRawProperty<never, boolean>,
    };
  },
};

const NEIGH_WORDS = ['add', 'del', 'replace', 'change', 'show', 'lladdr', 'dev', 'nud', 'permanent', 'stale', 'proxy', 'router', 'to',
  '203.0.113.2', '2001:db8::2', '::', '::1', 'ff02::1', '127.0.0.1', '224.0.0.1', '255.255.255.255', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3.4',
  '02:00:00:00:00:0b', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', 'vxt0', 'a:b', '', 'x'.repeat(70), '__proto__'];
const wordsTarget: Target = {
  name: 'neigh-words',
  what: 'the words of vxtap neigh as a control request carries them',
  cases: 2_000,
  netns: false,
  open: async () => ({
    property: fc.property(fc.oneof(
      fc.array(fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...NEIGH_WORDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 50 }) }), { maxLength: 12 }),
      fc.jsonValue({ maxDepth: 2 }),
    ), (words) => {
      userErrorOnly(() => parseNeighWords(words));
    }) as unknown as fc.IRawProperty<never, boolean>,
  }),
};

export const NEIGH_TARGETS: Target[] = [proxyTarget, wordsTarget];
