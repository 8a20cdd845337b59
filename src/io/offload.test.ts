// The native TSO/USO splitter against the rules a NIC follows (checked with
// the TypeScript codecs, independently of the C++): every segment has valid
// IPv4 and TCP/UDP checksums, its own length and ID, TCP segments their own
// sequence number, FIN/PSH only on the last and CWR only on the first, and
// the payloads add up to the original.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksumAdd, checksumFold } from '../wire/checksum.js';
import { ipv4ChecksumValid } from '../wire/ipv4.js';
import { addon } from './native.js';
import { TsoSplitter, gsoSegmentsPerSend } from './offload.js';

const HEADROOM = 16;
const PREFIX = Buffer.from('0800000000002a00', 'hex'); // a VXLAN header, VNI 42

interface Frame {
  buf: Buffer;
  off: number;
  len: number;
}

/**
 * An Ethernet/IP super-frame with its virtio-net header at the start of the
 * slot, HEADROOM bytes before the frame: `l4` (a TCP or UDP header) and the
 * payload, cut in `size`-byte pieces by gso_type `gso`.
 */
function gsoFrame(l4: Buffer, proto: number, gso: number, csumOffset: number, payload: Buffer, size: number, ipv6: boolean): Frame {
  const l3 = ipv6 ? 40 : 20;
  const hdrs = 14 + l3 + l4.length;
  const buf = Buffer.alloc(HEADROOM + hdrs + payload.length);
  const off = HEADROOM;
  buf[0] = 1; // NEEDS_CSUM
  buf[1] = gso;
  buf.writeUInt16LE(hdrs, 2);
  buf.writeUInt16LE(size, 4);
  buf.writeUInt16LE(14 + l3, 6);
  buf.writeUInt16LE(csumOffset, 8);
  buf.writeUIntBE(0x020000000002, off, 6);
  buf.writeUIntBE(0x020000000001, off + 6, 6);
  buf.writeUInt16BE(ipv6 ? 0x86dd : 0x0800, off + 12);
  const ip = off + 14;
  if (ipv6) {
    buf[ip] = 0x60;
    buf.writeUInt16BE(bigTcpLength(l4.length + payload.length), ip + 4);
    buf[ip + 6] = proto;
    buf[ip + 7] = 64;
    buf.fill(0x20, ip + 8, ip + 24);
    buf.fill(0x21, ip + 24, ip + 40);
  } else {
    buf[ip] = 0x45;
    buf.writeUInt16BE(bigTcpLength(20 + l4.length + payload.length), ip + 2);
    buf.writeUInt16BE(0x1234, ip + 4);
    buf.writeUInt16BE(0x4000, ip + 6);
    buf[ip + 8] = 64;
    buf[ip + 9] = proto;
    buf.writeUInt32BE(0xcb007101, ip + 12);
    buf.writeUInt32BE(0xcb007102, ip + 16);
  }
  l4.copy(buf, ip + l3);
  payload.copy(buf, ip + l3 + l4.length);
  return { buf, off, len: buf.length - off };
}

/** An IP length field: 0 for a frame over 64 KiB, as BIG TCP leaves it. */
function bigTcpLength(len: number): number {
  return len > 0xffff ? 0 : len;
}

/** A TSO super-frame: TCP with 12 bytes of options (timestamps). */
function superFrame(payload: Buffer, mss: number, flags: number, ipv6 = false): Frame {
  const tcp = Buffer.alloc(32);
  tcp.writeUInt16BE(40000, 0);
  tcp.writeUInt16BE(5201, 2);
  tcp.writeUInt32BE(0xfffff000, 4); // wraps during the split
  tcp.writeUInt32BE(77, 8);
  tcp[12] = 8 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(501, 14);
  tcp.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], 20);
  return gsoFrame(tcp, 6, ipv6 ? 4 : 1, 16, payload, mss, ipv6); // GSO_TCPV6 / GSO_TCPV4
}

/** A USO super-frame: gso_type 5 (GSO_UDP_L4) for IPv4 and IPv6 alike. */
function usoFrame(payload: Buffer, size: number, ipv6: boolean): Frame {
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(40000, 0);
  udp.writeUInt16BE(443, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  return gsoFrame(udp, 17, 5, 6, payload, size, ipv6);
}

/** Splits a super-frame with no prefix on `s`: its segments, as frames, in s.out. */
function segmentsOf({ buf, off, len }: Frame, s = new TsoSplitter(1)): { frame: Buffer; s: TsoSplitter; n: number } {
  s.push(off, len, 0);
  s.split(buf, HEADROOM, true, null);
  return { frame: buf.subarray(off, off + len), s, n: s.counts[0] };
}

/** What CHECKSUM_PARTIAL leaves in the L4 checksum field of an IPv4 frame (IP at 14): the folded pseudo-header sum. */
function partialChecksum(frame: Buffer, proto: number): number {
  const pseudo = Buffer.alloc(12);
  frame.copy(pseudo, 0, 14 + 12, 14 + 20);
  pseudo[9] = proto;
  pseudo.writeUInt16BE(frame.length - 34, 10);
  return ~checksumFold(checksumAdd(pseudo, 0, 12, 0)) & 0xffff;
}

/** Segment k of a split, as a view. */
function segment(s: TsoSplitter, k: number): Buffer {
  return s.out.subarray(s.segOffs[k], s.segOffs[k] + s.segLens[k]);
}

/**
 * Leaves a frame's TCP/UDP checksum as a kernel sender does for the device
 * to finish (CHECKSUM_PARTIAL): the folded pseudo-header sum, uncomplemented.
 */
function leavePartial(frame: Buffer, ip: number): void {
  const ipv6 = frame[ip] >> 4 === 6;
  const proto = ipv6 ? frame[ip + 6] : frame[ip + 9];
  const l4 = ip + (ipv6 ? 40 : (frame[ip] & 0x0f) * 4);
  const sum = pseudoSum(frame, ip, ipv6, proto, frame.length - l4);
  frame.writeUInt16BE(~checksumFold(sum) & 0xffff, l4 + (proto === 6 ? 16 : 6));
}

/** The unfolded TCP/UDP pseudo-header sum of the IPv4 or IPv6 header at frame[ip]. */
function pseudoSum(frame: Buffer, ip: number, ipv6: boolean, proto: number, l4len: number): number {
  const pseudo = Buffer.alloc(ipv6 ? 40 : 12);
  if (ipv6) {
    frame.copy(pseudo, 0, ip + 8, ip + 40);
    pseudo.writeUInt32BE(l4len, 32);
    pseudo[39] = proto;
  } else {
    frame.copy(pseudo, 0, ip + 12, ip + 20);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(l4len, 10);
  }
  return checksumAdd(pseudo, 0, pseudo.length, 0);
}

/** What a device does with NEEDS_CSUM: sums [start, end) with the field as it is and stores the result there. */
function finish(frame: Buffer, start: number, offset: number): void {
  frame.writeUInt16BE(checksumFold(checksumAdd(frame, start, frame.length - start, 0)), start + offset);
}

function vnetHdr(hdrs: Buffer, k: number): { flags: number; gsoType: number; csumStart: number; csumOffset: number } {
  const o = 10 * k;
  return { flags: hdrs[o], gsoType: hdrs[o + 1], csumStart: hdrs.readUInt16LE(o + 6), csumOffset: hdrs.readUInt16LE(o + 8) };
}

function l4ChecksumValid(seg: Buffer, ip: number, ipv6: boolean, proto = 6): boolean {
  const l4 = ip + (ipv6 ? 40 : 20);
  const l4len = seg.length - l4;
  return checksumFold(checksumAdd(seg, l4, l4len, pseudoSum(seg, ip, ipv6, proto, l4len))) === 0;
}

describe('TsoSplitter', () => {
  it('cuts a super-frame into valid segments that add up to it', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 20000 }), fc.integer({ min: 100, max: 1448 }),
      fc.constantFrom(0x10, 0x18, 0x19, 0x98), fc.boolean(),
      (bytes, mss, flags, ipv6) => {
        const payload = Buffer.from(bytes);
        const { buf, off, len } = superFrame(payload, mss, flags, ipv6);
        const s = new TsoSplitter(1);
        s.push(off, len, 7);
        expect(s.split(buf, HEADROOM, true, PREFIX)).toBe(1);
        const count = Math.ceil(payload.length / mss);
        expect(s.counts[0]).toBe(count);
        expect(s.tag[0]).toBe(7);
        const hdrs = 14 + (ipv6 ? 40 : 20) + 32;
        expect(s.strides[0]).toBe(PREFIX.length + hdrs + mss);
        const parts: Buffer[] = [];
        for (let k = 0; k < count; k++) {
          const seg = s.out.subarray(s.segOffs[k], s.segOffs[k] + s.segLens[k]);
          expect(seg.subarray(0, PREFIX.length)).toEqual(PREFIX);
          const frame = seg.subarray(PREFIX.length);
          const ip = 14;
          const tcp = ip + (ipv6 ? 40 : 20);
          const plen = Math.min(mss, payload.length - k * mss);
          expect(frame.length).toBe(hdrs + plen);
          if (ipv6) {
            expect(frame.readUInt16BE(ip + 4)).toBe(32 + plen);
          } else {
            expect(frame.readUInt16BE(ip + 2)).toBe(20 + 32 + plen);
            expect(frame.readUInt16BE(ip + 4)).toBe((0x1234 + k) & 0xffff);
            expect(ipv4ChecksumValid(frame, ip)).toBe(true);
          }
          expect(frame.readUInt32BE(tcp + 4)).toBe((0xfffff000 + k * mss) >>> 0);
          const last = k === count - 1;
          expect(frame[tcp + 13]).toBe(flags & ~(last ? 0 : 0x09) & ~(k === 0 ? 0 : 0x80));
          expect(l4ChecksumValid(Buffer.from(frame), ip, ipv6)).toBe(true);
          expect(frame.subarray(0, 14)).toEqual(buf.subarray(off, off + 14));
          parts.push(frame.subarray(hdrs));
        }
        expect(Buffer.concat(parts)).toEqual(payload);
      },
    ), { numRuns: 200 });
  });

  it('cuts a USO super-frame into UDP datagrams with their own lengths, IDs and checksums', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 20000 }), fc.integer({ min: 64, max: 1472 }), fc.boolean(),
      (bytes, size, ipv6) => {
        const payload = Buffer.from(bytes);
        const { buf, off, len } = usoFrame(payload, size, ipv6);
        const s = new TsoSplitter(1);
        s.push(off, len, 3);
        expect(s.split(buf, HEADROOM, true, PREFIX)).toBe(1);
        const count = Math.ceil(payload.length / size);
        expect(s.counts[0]).toBe(count);
        const hdrs = 14 + (ipv6 ? 40 : 20) + 8;
        expect(s.strides[0]).toBe(PREFIX.length + hdrs + size);
        const parts: Buffer[] = [];
        for (let k = 0; k < count; k++) {
          const frame = Buffer.from(s.out.subarray(s.segOffs[k] + PREFIX.length, s.segOffs[k] + s.segLens[k]));
          const ip = 14;
          const udp = ip + (ipv6 ? 40 : 20);
          const plen = Math.min(size, payload.length - k * size);
          expect(frame.length).toBe(hdrs + plen);
          if (ipv6) {
            expect(frame.readUInt16BE(ip + 4)).toBe(8 + plen);
          } else {
            expect(frame.readUInt16BE(ip + 2)).toBe(20 + 8 + plen);
            expect(frame.readUInt16BE(ip + 4)).toBe((0x1234 + k) & 0xffff);
            expect(ipv4ChecksumValid(frame, ip)).toBe(true);
          }
          expect(frame.readUInt16BE(udp + 4)).toBe(8 + plen);
          expect(frame.subarray(udp, udp + 4)).toEqual(buf.subarray(off + udp, off + udp + 4)); // ports
          expect(frame.readUInt16BE(udp + 6)).not.toBe(0);
          expect(l4ChecksumValid(frame, ip, ipv6, 17)).toBe(true);
          parts.push(frame.subarray(hdrs));
        }
        expect(Buffer.concat(parts)).toEqual(payload);
      },
    ), { numRuns: 200 });
  });

  it('refuses frames it cannot split and reports them with a count of 0', () => {
    const { buf, off, len } = superFrame(Buffer.alloc(3000, 1), 1000, 0x10);
    buf[off + 14 + 9] = 17; // says UDP, not TCP
    const s = new TsoSplitter(2);
    s.push(off, len, 1);
    const good = superFrame(Buffer.alloc(3000, 2), 1000, 0x10);
    // Two slots back to back, each with its header at its start.
    const both = Buffer.concat([buf, good.buf]);
    s.push(buf.length + good.off, good.len, 2);
    expect(s.split(both, HEADROOM, true, null)).toBe(2);
    expect([s.counts[0], s.counts[1]]).toEqual([0, 3]);
  });

  it('keeps UDP GSO sends within 64 segments and 65507 bytes', () => {
    expect(gsoSegmentsPerSend(1472)).toBe(44);
    expect(gsoSegmentsPerSend(600)).toBe(64);
    expect(gsoSegmentsPerSend(70000)).toBe(1);
  });
});

// The GRO of device writes (what writeFrames does in Coalesce mode, gathered
// into one buffer instead of written): segments of one flow merge back into
// the super-frame they were cut from, and a segment with a bad checksum is
// never merged.
describe('groCoalesce', () => {
  it('merges the segments of a super-frame back into it, with a partial TCP checksum', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40000 }), fc.integer({ min: 700, max: 1448 }), fc.constantFrom(0x10, 0x18),
      (bytes, mss, flags) => {
        const payload = Buffer.from(bytes);
        const { frame, s, n } = segmentsOf(superFrame(payload, mss, flags));
        const out = Buffer.alloc(65535 + 14);
        expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out)).toBe(1);
        const merged = out.subarray(0, frame.length);
        if (n === 1) {
          // A lone segment is written as it is, with its full checksum.
          expect(merged).toEqual(s.out.subarray(s.segOffs[0], s.segOffs[0] + s.segLens[0]));
          return;
        }
        const [ip, tcp] = [14, 34];
        // Everything but the checksums is the original's.
        for (const [from, to] of [[0, ip + 10], [ip + 12, tcp + 16], [tcp + 18, frame.length]]) {
          expect(merged.subarray(from, to)).toEqual(frame.subarray(from, to));
        }
        expect(ipv4ChecksumValid(merged, ip)).toBe(true);
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum, not its complement.
        expect(merged.readUInt16BE(tcp + 16)).toBe(partialChecksum(frame, 6));
      },
    ), { numRuns: 100 });
  });

  it('leaves a segment with a bad checksum out of every run', () => {
    const { s, n } = segmentsOf(superFrame(Buffer.alloc(10 * 1000, 7), 1000, 0x10));
    s.out[s.segOffs[4] + 60] ^= 0xff; // payload of segment 4
    const out = Buffer.alloc(65535 + 14);
    // Segments 0-3, segment 4 alone (written as it is, for the kernel to drop), 5-9.
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out)).toBe(3);
  });

  it('merges the datagrams of a USO super-frame back into it, only when asked to (devices with USO)', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 2, maxLength: 40000 }), fc.integer({ min: 700, max: 1472 }),
      (bytes, size) => {
        const { frame, s, n } = segmentsOf(usoFrame(Buffer.from(bytes), size, false));
        const out = Buffer.alloc(65535 + 14);
        expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out, false)).toBe(n);
        expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out, true)).toBe(1);
        if (n === 1) return;
        const [ip, udp] = [14, 34];
        for (const [from, to] of [[0, ip + 10], [ip + 12, udp + 6], [udp + 8, frame.length]]) {
          expect(out.subarray(from, to)).toEqual(frame.subarray(from, to));
        }
        expect(ipv4ChecksumValid(out, ip)).toBe(true);
        expect(out.readUInt16BE(udp + 6)).toBe(partialChecksum(frame, 17));
      },
    ), { numRuns: 100 });
  });

  it('merges UDP datagrams without DF only when their IPv4 IDs follow each other', () => {
    const f = usoFrame(Buffer.alloc(5000, 3), 1000, false);
    f.buf.writeUInt16BE(0, f.off + 14 + 6); // DF clear
    const { s } = segmentsOf(f);
    const out = Buffer.alloc(65535 + 14);
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, 5, 14, out, true)).toBe(1); // IDs 0x1234..0x1238
    const ip3 = s.segOffs[3] + 14;
    s.out.writeUInt16BE(0x4321, ip3 + 4); // datagram 3 out of sequence (its IP checksum fixed below)
    s.out.writeUInt16BE(0, ip3 + 10);
    s.out.writeUInt16BE(~checksumFold(checksumAdd(s.out, ip3, 20, 0)) & 0xffff, ip3 + 10);
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, 5, 14, out, true)).toBe(3); // 0-2, 3, 4
  });

  it('merges segments whose checksums a kernel sender left partial, and asks the device to finish the run', () => {
    fc.assert(fc.property(
      fc.uint8Array({ minLength: 1, maxLength: 40000 }), fc.integer({ min: 700, max: 1448 }), fc.integer(),
      (bytes, mss, which) => {
        const { frame, s, n } = segmentsOf(superFrame(Buffer.from(bytes), mss, 0x10));
        // Some segments partial (as a veth hands them over), the rest complete.
        for (let k = 0; k < n; k++) if (((which >>> (k % 31)) & 1) !== 0 || n === 1) leavePartial(segment(s, k), 14);
        const out = Buffer.alloc(65535 + 14);
        const hdrs = Buffer.alloc(10);
        expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out, false, hdrs)).toBe(1);
        const h = vnetHdr(hdrs, 0);
        expect(h).toMatchObject({ flags: 1, csumStart: 34, csumOffset: 16, gsoType: n > 1 ? 1 : 0 });
        // Finished as the device finishes it, the run is the original super-frame.
        const merged = Buffer.from(out.subarray(0, frame.length));
        finish(merged, h.csumStart, h.csumOffset);
        expect(l4ChecksumValid(merged, 14, false)).toBe(true);
        expect(merged.subarray(34 + 18)).toEqual(frame.subarray(34 + 18));
      },
    ), { numRuns: 100 });
  });

  it('hands a lone partial TCP or UDP packet, over IPv4 or IPv6, to the device with NEEDS_CSUM', () => {
    const cases = [
      { f: superFrame(Buffer.alloc(3000, 5), 1000, 0x10, true), ipv6: true, proto: 6, off: 16 },
      { f: usoFrame(Buffer.alloc(3000, 6), 1000, true), ipv6: true, proto: 17, off: 6 },
      { f: usoFrame(Buffer.alloc(3000, 7), 1000, false), ipv6: false, proto: 17, off: 6 },
    ];
    for (const c of cases) {
      const { s, n } = segmentsOf(c.f);
      for (let k = 0; k < n; k++) leavePartial(segment(s, k), 14);
      const hdrs = Buffer.alloc(10 * n);
      // UDP is not merged (udpToo false), IPv6 never: each segment is its own output.
      expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, Buffer.alloc(65535 + 14), false, hdrs)).toBe(n);
      const start = 14 + (c.ipv6 ? 40 : 20);
      for (let k = 0; k < n; k++) {
        expect(vnetHdr(hdrs, k)).toEqual({ flags: 1, gsoType: 0, csumStart: start, csumOffset: c.off });
        const seg = Buffer.from(segment(s, k));
        finish(seg, start, c.off);
        expect(l4ChecksumValid(seg, 14, c.ipv6, c.proto)).toBe(true);
      }
    }
  });

  it('leaves complete and corrupt checksums as they are: no NEEDS_CSUM, nothing rewritten', () => {
    const { s, n } = segmentsOf(superFrame(Buffer.alloc(3000, 5), 1000, 0x10, true));
    const before = Buffer.from(s.out);
    s.out[s.segOffs[1] + 100] ^= 0xff; // segment 1 corrupt (for the kernel to drop)
    const hdrs = Buffer.alloc(10 * n, 0xa5);
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, Buffer.alloc(65535 + 14), false, hdrs)).toBe(n);
    expect(hdrs).toEqual(Buffer.alloc(10 * n));
    before[s.segOffs[1] + 100] ^= 0xff;
    expect(s.out).toEqual(before);
  });

  it('merges at most 64 segments into one run', () => {
    const { s, n } = segmentsOf(superFrame(Buffer.alloc(100 * 200, 1), 200, 0x10));
    expect(n).toBe(100);
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, Buffer.alloc(65535 + 14))).toBe(2);
  });
});

describe('issue 16.4: super-frames the splitter cannot take are told apart', () => {
  it('refuses a gso_size whose segments would overflow the 16-bit IPv4 length, instead of truncating it', () => {
    // 20 + 32 + 65500 bytes per segment: more than an IPv4 total length holds.
    const s = new TsoSplitter(2);
    expect(segmentsOf(superFrame(Buffer.alloc(65600, 3), 65500, 0x10), s).n).toBe(0);
    expect(s.noRoom(0)).toBe(false); // a bad frame (bad_gso), not a lack of room
    // The largest gso_size that fits is still split, with exact lengths.
    expect(segmentsOf(superFrame(Buffer.alloc(65600, 3), 65535 - 52, 0x10), s).n).toBe(2);
    expect(segment(s, 0).readUInt16BE(14 + 2)).toBe(65535);
  });

  it('reports a frame whose segments do not fit the split buffer as out of room (tso_no_room), not as a bad frame', () => {
    // 65000 bytes at an MSS of 100: 650 segments of 166 bytes, more than one frame's 72 KiB share.
    const s = new TsoSplitter(1);
    expect(segmentsOf(superFrame(Buffer.alloc(65000, 4), 100, 0x10), s).n).toBe(0);
    expect(s.noRoom(0)).toBe(true);
    const bad = superFrame(Buffer.alloc(3000, 1), 1000, 0x10);
    bad.buf[bad.off + 14 + 9] = 17; // says UDP under a TCP gso_type
    expect(segmentsOf(bad, s).n).toBe(0);
    expect(s.noRoom(0)).toBe(false);
  });
});

describe('issue 16.10: GRO compares the TCP window', () => {
  it('does not merge a segment whose window differs, as the kernel flushes on it', () => {
    const { s, n } = segmentsOf(superFrame(Buffer.alloc(10 * 1000, 7), 1000, 0x10));
    const out = Buffer.alloc(65535 + 14);
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out)).toBe(1);
    const seg = segment(s, 3);
    seg.writeUInt16BE(502, 14 + 20 + 14); // a window update on segment 3
    leavePartial(seg, 14); // its checksum redone as a kernel sender leaves it
    // 0-2, then 3 alone (4-9 have the old window again), then 4-9.
    expect(addon.groCoalesce(s.out, s.segOffs, s.segLens, n, 14, out)).toBe(3);
  });
});
