import { describe, it, expect } from 'vitest';
import {
  UDP_ERR_LENGTH, UDP_ERR_TRUNCATED, UDP_HLEN, emitUdp, getUdpChecksum, getUdpDstPort, getUdpLength,
  getUdpSrcPort, parseUdp, udpCheck,
} from './udp.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// A VXLAN datagram's header: 51086 -> 4789, 58 bytes, no checksum.
const HDR = hex('c78e 12b5 003a 0000');
const REPR = { srcPort: 51086, dstPort: 4789, payloadLen: 50, checksum: 0 };
/** HDR at offset 2 of a buffer holding the whole 58-byte datagram. */
function datagram(): Uint8Array {
  const b = new Uint8Array(2 + 58);
  b.set(HDR, 2);
  return b;
}

describe('udp', () => {
  it('deconstructs a real header at an offset', () => {
    const b = datagram();
    expect(getUdpSrcPort(b, 2)).toBe(51086);
    expect(getUdpDstPort(b, 2)).toBe(4789);
    expect(getUdpLength(b, 2)).toBe(58);
    expect(getUdpChecksum(b, 2)).toBe(0);
    expect(udpCheck(b, 2, 58)).toBe(0);
    expect(parseUdp(b, 2, 58)).toEqual(REPR);
  });

  it('emits exactly the expected bytes, checksum as given or zero', () => {
    const b = new Uint8Array(UDP_HLEN + 2).fill(0xa5);
    expect(emitUdp({ ...REPR, checksum: 0xbeef }, b, 1)).toBe(UDP_HLEN);
    expect(b).toEqual(hex('a5 c78e 12b5 003a beef a5'));
    expect(emitUdp({ srcPort: 51086, dstPort: 4789, payloadLen: 50 }, b, 1)).toBe(UDP_HLEN);
    expect(b).toEqual(hex('a5 c78e 12b5 003a 0000 a5'));
  });

  it('refuses truncated input', () => {
    for (const len of [0, 1, UDP_HLEN - 1]) expect(udpCheck(datagram(), 2, len)).toBe(UDP_ERR_TRUNCATED);
  });

  it('refuses a length field below 8 or beyond the bytes available', () => {
    const b = datagram();
    expect(udpCheck(b, 2, UDP_HLEN)).toBe(UDP_ERR_LENGTH); // says 58, has 8
    expect(udpCheck(b, 2, 57)).toBe(UDP_ERR_LENGTH);
    expect(udpCheck(b, 2, 59)).toBe(0); // trailing bytes are allowed
    for (const len of [0, 7, 0xffff]) {
      b[6] = len >>> 8;
      b[7] = len & 0xff;
      expect(udpCheck(b, 2, 58)).toBe(UDP_ERR_LENGTH);
      expect(() => parseUdp(b, 2, 58)).toThrow('udp: bad length field');
    }
    b[6] = 0;
    b[7] = 8; // an empty datagram is fine
    expect(parseUdp(b, 2, 58)).toEqual({ ...REPR, payloadLen: 0 });
  });

  it('refuses to emit a payload that overflows Length', () => {
    expect(() => emitUdp({ ...REPR, payloadLen: 0xfff8 }, new Uint8Array(UDP_HLEN), 0)).toThrow('udp payloadLen');
  });
});
