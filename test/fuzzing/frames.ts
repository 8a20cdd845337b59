// Arbitraries for the bytes that come off the wire: Ethernet frames, IPv4
// packets and VXLAN datagrams, mostly well-formed enough to pass the first
// checks and reach the deeper ones, with any field (and the length) bent.
// Fully random bytes are mixed in by the targets.
import fc from 'fast-check';
import { ipv4HeaderChecksum } from '../../src/wire/ipv4.js';

const MACS = [
  'ffffffffffff', '01005e000001', '333300000001', '000000000000',
  '020000000001', '020000000002', '020000000003', '020000000004',
].map((h) => Buffer.from(h, 'hex'));

export const mac = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...MACS) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 6, maxLength: 6 }).map((a) => Buffer.from(a)) },
);

const ETHERTYPES = [0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x88b5];
export const ethertype = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ETHERTYPES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

/** IPv4 addresses the fuzzed packets carry: a few of the overlay's and the odd random one. */
const ADDRESSES = [0xcb007101, 0xcb007102, 0xc6120201, 0xc6120901, 0xc6330001, 0x7f000001];
export const ipv4Addr = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...ADDRESSES) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) },
);

const PORTS = [4789, 8472, 8285, 53, 5201, 49152];
const port = fc.oneof(fc.constantFrom(...PORTS), fc.integer({ min: 0, max: 0xffff }));

/** A TCP or UDP header (or junk) and a payload. */
const l4 = fc.tuple(
  fc.constantFrom(6, 17, 1, 0, 47),
  port, port,
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 1500 }) }),
).map(([proto, sport, dport, rest, payload]) => {
  const b = Buffer.alloc((proto === 6 ? 20 : 8) + payload);
  b.writeUInt16BE(sport, 0);
  b.writeUInt16BE(dport, 2);
  Buffer.from(rest).copy(b, 4, 0, Math.min(rest.length, b.length - 4));
  if (proto === 6) b[12] = 0x50; // data offset 5
  else b.writeUInt16BE(b.length, 4);
  return { proto, bytes: b };
});

/** An IPv4 packet: version/IHL, length, TTL, checksum and fragment fields each sometimes wrong. */
export const ipv4Packet = fc.record({
  verIhl: fc.oneof({ weight: 6, arbitrary: fc.constant(0x45) }, { weight: 1, arbitrary: fc.constantFrom(0x46, 0x4f, 0x44, 0x40, 0x65, 0x05) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  lengthDelta: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -40, max: 40 }) }),
  ttl: fc.oneof(fc.constantFrom(64, 1, 0, 2, 255), fc.integer({ min: 0, max: 255 })),
  frag: fc.constantFrom(0x4000, 0, 0x2000, 0x0001, 0x3fff),
  id: fc.integer({ min: 0, max: 0xffff }),
  src: ipv4Addr,
  dst: ipv4Addr,
  goodChecksum: fc.boolean(),
  l4,
}).map((p) => {
  const ihl = Math.max(p.verIhl & 0xf, 5) * 4;
  const b = Buffer.alloc(ihl + p.l4.bytes.length);
  b[0] = p.verIhl;
  b.writeUInt16BE(Math.max(0, Math.min(0xffff, b.length + p.lengthDelta)), 2);
  b.writeUInt16BE(p.id, 4);
  b.writeUInt16BE(p.frag, 6);
  b[8] = p.ttl;
  b[9] = p.l4.proto;
  b.writeUInt32BE(p.src >>> 0, 12);
  b.writeUInt32BE(p.dst >>> 0, 16);
  if (p.goodChecksum && (p.verIhl & 0xf) >= 5) b.writeUInt16BE(ipv4HeaderChecksum(b, 0), 10);
  p.l4.bytes.copy(b, ihl);
  return b;
});

const payload = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));

/** An Ethernet frame: MACs from a small pool (so learning and lookups meet), an ethertype, a body. */
export const ethernetFrame = fc.tuple(mac, mac, ethertype, fc.option(fc.integer({ min: 0, max: 0xffff })), fc.oneof(ipv4Packet, payload))
  .map(([dst, src, type, vlanTci, body]) => {
    const tag = vlanTci === null ? Buffer.alloc(0) : Buffer.from([(vlanTci >> 8) & 0xff, vlanTci & 0xff, 0x08, 0x00]);
    const t = Buffer.alloc(2);
    t.writeUInt16BE(vlanTci === null ? type : 0x8100, 0);
    return Buffer.concat([dst, src, t, tag, body]);
  });

/** The 8-byte VXLAN header, its flags, reserved bits and VNI from `vnis` or anywhere. */
export function vxlanHeader(vnis: number[]): fc.Arbitrary<Buffer> {
  return fc.tuple(
    fc.oneof({ weight: 6, arbitrary: fc.constant(0x08) }, { weight: 1, arbitrary: fc.constantFrom(0x00, 0x0c, 0x88, 0x09) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffff }) }),
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...vnis) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffff }) }),
    fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
  ).map(([flags, reserved, vni, last]) => {
    const h = Buffer.alloc(8);
    h[0] = flags;
    h.writeUIntBE(reserved, 1, 3);
    h.writeUIntBE(vni, 4, 3);
    h[7] = last;
    return h;
  });
}

/** Cuts a buffer short now and then: a truncated datagram is as likely on the wire as a whole one. */
export function maybeTruncated(a: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(a, fc.option(fc.nat(), { freq: 6 })).map(([b, cut]) => (cut === null ? b : b.subarray(0, cut % (b.length + 1))));
}

/** The largest IPv4 UDP payload: 65535 - 20 - 8. */
export const MAX_UDP_PAYLOAD = 65507;

export const randomBytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/** A VXLAN datagram's payload: header and inner frame, or junk, sometimes cut short, sometimes jumbo. */
export function vxlanDatagram(vnis: number[]): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { weight: 8, arbitrary: maybeTruncated(fc.tuple(vxlanHeader(vnis), ethernetFrame).map(([h, f]) => Buffer.concat([h, f]))) },
    { weight: 1, arbitrary: randomBytes(64) },
    { weight: 1, arbitrary: fc.tuple(vxlanHeader(vnis), ethernetFrame, fc.integer({ min: 1500, max: MAX_UDP_PAYLOAD })).map(([h, f, n]) => Buffer.concat([h, f, Buffer.alloc(n)]).subarray(0, MAX_UDP_PAYLOAD)) },
  );
}

/** A whole outer frame as a capture sees it: Ethernet, IPv4, UDP to a VXLAN or overlay port, and what it carries. */
export const capturedFrame = fc.oneof(
  ethernetFrame,
  randomBytes(120),
  fc.tuple(mac, mac, ipv4Addr, ipv4Addr, fc.constantFrom(4789, 8472, 8285, 5201), fc.oneof(vxlanDatagram([42]), ipv4Packet)).map(([d, s, src, dst, p, inner]) => {
    const ip = Buffer.alloc(28);
    ip[0] = 0x45;
    ip.writeUInt16BE(Math.min(0xffff, 28 + inner.length), 2);
    ip[8] = 64;
    ip[9] = 17;
    ip.writeUInt32BE(src >>> 0, 12);
    ip.writeUInt32BE(dst >>> 0, 16);
    ip.writeUInt16BE(49152, 20);
    ip.writeUInt16BE(p, 22);
    ip.writeUInt16BE(Math.min(0xffff, 8 + inner.length), 24);
    return Buffer.concat([d, s, Buffer.from([0x08, 0x00]), ip, inner]);
  }),
);
