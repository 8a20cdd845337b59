import { describe, expect, it } from 'vitest';
import { emitIpv4, parseIpv4 } from '../wire/ipv4.js';
import { parseIcmp } from '../wire/icmp.js';
import { UNREACHABLE_MAX, wantsUnreachable, writeNetUnreachable } from './unreachable.js';

function packet(protocol: number, fragOffsetField = 0): Buffer {
  const b = Buffer.alloc(60, 0x11);
  emitIpv4({ src: 0xc6120101, dst: 0xc6120909, protocol, ttl: 64, tos: 0, id: 7, dontFragment: false, payloadLen: 40 }, b, 0);
  b.writeUInt16BE(fragOffsetField, 6);
  return b;
}

describe('net unreachable', () => {
  it('goes from the TUN address back to the sender and quotes header + 8 bytes', () => {
    const offender = packet(6);
    const out = Buffer.alloc(UNREACHABLE_MAX + 8, 0xa5);
    const n = writeNetUnreachable(out, 4, offender, 0, offender.length, 0xc6120001);
    expect(n).toBe(20 + 8 + 28);
    const ip = parseIpv4(out, 4, n);
    expect(ip).toMatchObject({ src: 0xc6120001, dst: 0xc6120101, protocol: 1, ttl: 8, payloadLen: 36 });
    const icmp = parseIcmp(out, 24, 36);
    expect(icmp).toMatchObject({ type: 3, code: 0, rest: 0 });
    expect(Buffer.from(icmp.payload)).toEqual(offender.subarray(0, 28));
    expect(out[3]).toBe(0xa5);
    expect(out[4 + n]).toBe(0xa5);
  });

  it('quotes no more than the packet holds', () => {
    const short = packet(17).subarray(0, 24);
    const out = Buffer.alloc(UNREACHABLE_MAX);
    expect(writeNetUnreachable(out, 0, short, 0, 24, 1)).toBe(20 + 8 + 24);
  });

  it('is not sent for ICMP or for non-first fragments', () => {
    expect(wantsUnreachable(packet(6), 0)).toBe(true);
    expect(wantsUnreachable(packet(6, 0x2000), 0)).toBe(true); // first fragment (MF set, offset 0)
    expect(wantsUnreachable(packet(1), 0)).toBe(false);
    expect(wantsUnreachable(packet(17, 0x0010), 0)).toBe(false);
  });
});
