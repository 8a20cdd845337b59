import { describe, it, expect } from 'vitest';
import {
  ARP_ERR_TRUNCATED, ARP_ERR_UNSUPPORTED, ARP_HLEN, ARP_OP_REPLY, ARP_OP_REQUEST, arpCheck, emitArp, getArpHlen,
  getArpHtype, getArpOper, getArpPlen, getArpPtype, getArpSha, getArpSpa, getArpTha, getArpTpa, parseArp,
} from './arp.js';
import { ETH_HLEN } from './ethernet.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Who has 24.166.173.159? Tell 24.166.172.1 (Wireshark sample capture
// arp-storm), padded to the 60-byte Ethernet minimum.
const FRAME = hex(`
  ffffffffffff 00070daff454 0806
  0001 0800 06 04 0001 00070daff454 18a6ac01 000000000000 18a6ad9f
  000000000000000000000000000000000000`);
const ARP = FRAME.subarray(ETH_HLEN, ETH_HLEN + ARP_HLEN);
const REQUEST = { op: ARP_OP_REQUEST, sha: 0x00070daff454, spa: 0x18a6ac01, tha: 0, tpa: 0x18a6ad9f };

describe('arp', () => {
  it('deconstructs a real request', () => {
    const off = ETH_HLEN;
    expect(getArpHtype(FRAME, off)).toBe(1);
    expect(getArpPtype(FRAME, off)).toBe(0x0800);
    expect(getArpHlen(FRAME, off)).toBe(6);
    expect(getArpPlen(FRAME, off)).toBe(4);
    expect(getArpOper(FRAME, off)).toBe(ARP_OP_REQUEST);
    expect(getArpSha(FRAME, off)).toBe(0x00070daff454);
    expect(getArpSpa(FRAME, off)).toBe(((24 << 24) | (166 << 16) | (172 << 8) | 1) >>> 0);
    expect(getArpTha(FRAME, off)).toBe(0);
    expect(getArpTpa(FRAME, off)).toBe(((24 << 24) | (166 << 16) | (173 << 8) | 159) >>> 0);
    expect(arpCheck(FRAME, off, FRAME.length - off)).toBe(0);
    expect(parseArp(FRAME, off, FRAME.length - off)).toEqual(REQUEST);
  });

  it('emits exactly the expected request and reply bytes', () => {
    const b = new Uint8Array(ARP_HLEN + 2).fill(0xa5);
    expect(emitArp(REQUEST, b, 1)).toBe(ARP_HLEN);
    expect(b).toEqual(Uint8Array.from([0xa5, ...ARP, 0xa5]));

    const reply = { op: ARP_OP_REPLY, sha: 0x0242ac110003, spa: 0x18a6ad9f, tha: 0x00070daff454, tpa: 0x18a6ac01 };
    expect(emitArp(reply, b, 1)).toBe(ARP_HLEN);
    expect(b).toEqual(hex('a5 0001 0800 06 04 0002 0242ac110003 18a6ad9f 00070daff454 18a6ac01 a5'));
  });

  it('refuses truncated packets, including a length just short of 28', () => {
    for (const len of [0, 1, ARP_HLEN - 1]) expect(arpCheck(ARP, 0, len)).toBe(ARP_ERR_TRUNCATED);
    expect(arpCheck(ARP, 0, ARP_HLEN)).toBe(0);
  });

  it.each([
    ['IEEE 802 hardware', 0, 0x00, 0x06],
    ['IPv6 protocol', 2, 0x86, 0xdd],
    ['8-byte hardware addresses', 4, 0x08, 0x04],
    ['16-byte protocol addresses', 4, 0x06, 0x10],
  ])('refuses %s as unsupported', (_, at, x, y) => {
    const b = ARP.slice();
    b[at] = x;
    b[at + 1] = y;
    expect(arpCheck(b, 0, ARP_HLEN)).toBe(ARP_ERR_UNSUPPORTED);
    expect(() => parseArp(b, 0, ARP_HLEN)).toThrow('arp: not Ethernet/IPv4');
  });

  it('leaves unknown opcodes to the caller', () => {
    const b = ARP.slice();
    b[7] = 9; // InARP request
    expect(arpCheck(b, 0, ARP_HLEN)).toBe(0);
    expect(parseArp(b, 0, ARP_HLEN).op).toBe(9);
  });

  it('refuses to emit out-of-range fields', () => {
    expect(() => emitArp({ ...REQUEST, spa: -1 }, new Uint8Array(ARP_HLEN), 0)).toThrow('arp spa');
  });
});
