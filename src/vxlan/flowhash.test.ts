import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { flowHash, sourcePort } from './flowhash.js';

function tcpFrame(src: number, dst: number, sport: number, dport: number, vlan = false): Buffer {
  const tag = vlan ? 4 : 0;
  const b = Buffer.alloc(14 + tag + 20 + 20);
  b.writeUIntBE(0x020000000001, 0, 6);
  b.writeUIntBE(0x020000000002, 6, 6);
  if (vlan) b.writeUInt32BE(0x81000064, 12);
  b.writeUInt16BE(0x0800, 12 + tag);
  const ip = 14 + tag;
  b[ip] = 0x45;
  b[ip + 9] = 6;
  b.writeUInt32BE(src, ip + 12);
  b.writeUInt32BE(dst, ip + 16);
  b.writeUInt16BE(sport, ip + 20);
  b.writeUInt16BE(dport, ip + 22);
  return b;
}

describe('sourcePort', () => {
  it('stays inside [min, max] for every hash', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65535 }), (h, a, span) => {
      const min = Math.min(a, 65535);
      const max = Math.min(min + span, 65535);
      const p = sourcePort(h, min, max);
      expect(p).toBeGreaterThanOrEqual(min);
      expect(p).toBeLessThanOrEqual(max);
    }));
    expect(sourcePort(0, 49152, 65535)).toBe(49152);
    expect(sourcePort(0xffffffff, 49152, 65535)).toBe(65535);
  });
});

describe('flowHash', () => {
  it('is the same for every packet of a flow and differs across flows', () => {
    const a = flowHash(tcpFrame(0xcb007101, 0xcb007102, 40000, 5201), 0, 74);
    expect(flowHash(tcpFrame(0xcb007101, 0xcb007102, 40000, 5201), 0, 74)).toBe(a);
    expect(flowHash(tcpFrame(0xcb007101, 0xcb007102, 40001, 5201), 0, 74)).not.toBe(a);
    expect(flowHash(tcpFrame(0xcb007101, 0xcb007103, 40000, 5201), 0, 74)).not.toBe(a);
  });

  it('looks through one VLAN tag and ignores bytes past len', () => {
    const tagged = tcpFrame(1, 2, 3, 4, true);
    const h = flowHash(tagged, 0, tagged.length);
    const noisy = Buffer.concat([tagged, Buffer.from([1, 2, 3])]);
    expect(flowHash(noisy, 0, tagged.length)).toBe(h);
    expect(flowHash(tcpFrame(1, 2, 3, 5, true), 0, tagged.length)).not.toBe(h);
  });

  it('spreads many flows over the port range', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(sourcePort(flowHash(tcpFrame(1, 2, 30000 + i, 80), 0, 74), 49152, 65535));
    expect(seen.size).toBeGreaterThan(950);
  });
});
