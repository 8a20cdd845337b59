import { describe, expect, it } from 'vitest';
import { ipFrameLength, superFrameSegment } from './superframe.js';

/** An Ethernet frame of `len` bytes, pre-filled with 0xa5, with an IPv4 or IPv6 header claiming `ipLen` and L4 `proto`. */
function frame(len: number, v6: boolean, ipLen: number, proto: number, tcpWords = 8): Buffer {
  const b = Buffer.alloc(len, 0xa5);
  b.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  if (v6) {
    b[14] = 0x60;
    b.writeUInt16BE(ipLen - 40, 18);
    b[20] = proto;
  } else {
    b[14] = 0x45;
    b.writeUInt16BE(ipLen, 16);
    b[23] = proto;
  }
  b[14 + (v6 ? 40 : 20) + 12] = tcpWords << 4;
  return b;
}

describe('ipFrameLength', () => {
  it('reads the IPv4 total length and the IPv6 payload length, plus the Ethernet header', () => {
    expect(ipFrameLength(frame(9000, false, 8986, 6), 0, 9000)).toBe(9000);
    expect(ipFrameLength(frame(9000, true, 1500, 6), 0, 9000)).toBe(1514);
  });

  it('is 0 for other frames, for an ethertype that does not match the IP version, and for frames too short to say', () => {
    const arp = frame(100, false, 86, 6);
    arp.writeUInt16BE(0x0806, 12);
    expect(ipFrameLength(arp, 0, 100)).toBe(0);
    const mismatch = frame(100, false, 86, 6);
    mismatch[14] = 0x60;
    expect(ipFrameLength(mismatch, 0, 100)).toBe(0);
    expect(ipFrameLength(frame(100, false, 86, 6), 0, 53)).toBe(0);
  });

  it('reads at an offset', () => {
    const b = Buffer.concat([Buffer.alloc(8, 0xa5), frame(200, false, 186, 17)]);
    expect(ipFrameLength(b, 8, 200)).toBe(200);
  });
});

describe('superFrameSegment', () => {
  it('fills the MTU with TCP payload after the IP and TCP headers (options included)', () => {
    expect(superFrameSegment(frame(60000, false, 59986, 6, 8), 0, 1450, 0)).toBe(1450 - 20 - 32);
    expect(superFrameSegment(frame(60000, true, 59986, 6, 5), 0, 1450, 0)).toBe(1450 - 40 - 20);
  });

  it('keeps UDP datagrams as their sender cut them, and has no size where none was given', () => {
    expect(superFrameSegment(frame(60000, false, 59986, 17), 0, 1450, 1000)).toBe(1000);
    expect(superFrameSegment(frame(60000, true, 59986, 17), 0, 1450, 0)).toBe(0);
  });

  it('is 0 for another protocol, a non-IP frame, or headers that leave no room', () => {
    expect(superFrameSegment(frame(60000, false, 59986, 1), 0, 1450, 1000)).toBe(0);
    const arp = frame(60000, false, 59986, 6);
    arp.writeUInt16BE(0x0806, 12);
    expect(superFrameSegment(arp, 0, 1450, 1000)).toBe(0);
    expect(superFrameSegment(frame(60000, false, 59986, 6, 15), 0, 70, 0)).toBe(0);
  });
});
