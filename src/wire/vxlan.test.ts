import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ARP_OP_REQUEST, parseArp } from './arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HLEN, parseEthernet } from './ethernet.js';
import { IPPROTO_UDP, IPV4_HLEN, ipv4Check, ipv4ChecksumValid, parseIpv4 } from './ipv4.js';
import { UDP_HLEN, parseUdp, udpCheck } from './udp.js';
import {
  IANA_VXLAN_PORT, VNI_MAX, VXLAN_ERR_NO_I_FLAG, VXLAN_ERR_RESERVED, VXLAN_ERR_TRUNCATED, VXLAN_FLAG_I, VXLAN_HLEN,
  emitVxlan, getVni, getVxlanFlags, hasReservedBits, parseVxlan, setVni, vxlanCheck, writeVxlanHeader,
} from './vxlan.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// The 8 bytes of a VXLAN header for VNI 42.
const HDR = hex('08 000000 00002a 00');
const vni = fc.integer({ min: 0, max: VNI_MAX });

describe('vxlan', () => {
  it('deconstructs a header at an offset', () => {
    const b = Uint8Array.from([0xa5, ...HDR]);
    expect(getVxlanFlags(b, 1)).toBe(VXLAN_FLAG_I);
    expect(getVni(b, 1)).toBe(42);
    expect(hasReservedBits(b, 1)).toBe(false);
    expect(vxlanCheck(b, 1, VXLAN_HLEN, false)).toBe(0);
    expect(parseVxlan(b, 1, VXLAN_HLEN)).toEqual({ vni: 42, flags: VXLAN_FLAG_I });
    expect(getVni(hex('08000000 fedcba 00'), 0)).toBe(0xfedcba);
  });

  it('writeVxlanHeader and emitVxlan overwrite all 8 bytes, and only those', () => {
    const b = new Uint8Array(VXLAN_HLEN + 2).fill(0xa5);
    writeVxlanHeader(b, 1, 42);
    expect(b).toEqual(Uint8Array.from([0xa5, ...HDR, 0xa5]));
    b.fill(0xff);
    expect(emitVxlan({ vni: 0xabcdef, flags: VXLAN_FLAG_I }, b, 1)).toBe(VXLAN_HLEN);
    expect(b).toEqual(hex('ff 08 000000 abcdef 00 ff'));
  });

  it('round-trips writeVxlanHeader with getVni, over stale bytes', () => {
    fc.assert(
      fc.property(vni, fc.uint8Array({ minLength: 12, maxLength: 12 }), (v, b) => {
        writeVxlanHeader(b, 3, v);
        expect(getVni(b, 3)).toBe(v);
        expect(vxlanCheck(b, 3, VXLAN_HLEN, false)).toBe(0);
      }),
    );
  });

  it('setVni leaves the flags and reserved bytes alone', () => {
    const b = hex('0f 010203 000000 04');
    setVni(b, 0, 0x123456);
    expect(b).toEqual(hex('0f 010203 123456 04'));
  });

  it('refuses truncated input', () => {
    for (const len of [0, 1, VXLAN_HLEN - 1]) {
      expect(vxlanCheck(HDR, 0, len, false)).toBe(VXLAN_ERR_TRUNCATED);
      expect(vxlanCheck(HDR, 0, len, true)).toBe(VXLAN_ERR_TRUNCATED);
    }
  });

  it('refuses a header without the I flag, even when ignoring reserved bits', () => {
    const b = hex('00 000000 00002a 00');
    expect(vxlanCheck(b, 0, VXLAN_HLEN, false)).toBe(VXLAN_ERR_NO_I_FLAG);
    expect(vxlanCheck(b, 0, VXLAN_HLEN, true)).toBe(VXLAN_ERR_NO_I_FLAG);
    expect(() => parseVxlan(b, 0, VXLAN_HLEN, true)).toThrow('vxlan: I flag not set');
  });

  it('drops each reserved bit by default and accepts it with ignoreReserved', () => {
    const reservedBits = [0, 1, 2, 3, 5, 6, 7, ...Array.from({ length: 24 }, (_, i) => 8 + i), 56, 57, 58, 59, 60, 61, 62, 63];
    expect(reservedBits).toHaveLength(7 + 24 + 8);
    for (const bit of reservedBits) {
      const b = HDR.slice();
      b[bit >>> 3] |= 0x80 >>> (bit & 7);
      expect(hasReservedBits(b, 0)).toBe(true);
      expect(vxlanCheck(b, 0, VXLAN_HLEN, false)).toBe(VXLAN_ERR_RESERVED);
      expect(vxlanCheck(b, 0, VXLAN_HLEN, true)).toBe(0);
      expect(parseVxlan(b, 0, VXLAN_HLEN, true).vni).toBe(42);
    }
    // A Group Based Policy header (G flag, policy ID 0x1234) is not plain VXLAN.
    const gbp = hex('88 001234 00002a 00');
    expect(() => parseVxlan(gbp, 0, VXLAN_HLEN)).toThrow('vxlan: reserved bits set');
  });

  it('deconstructs a complete encapsulated frame layer by layer', () => {
    // 172.17.0.2:51086 -> 172.17.0.3:4789, VNI 42, carrying a broadcast ARP request.
    const f = hex(`
      0242ac110003 0242ac110002 0800
      4500 004e 1c46 4000 4011 c631 ac110002 ac110003
      c78e 12b5 003a 0000
      08 000000 00002a 00
      ffffffffffff 00070daff454 0806
      0001 0800 06 04 0001 00070daff454 18a6ac01 000000000000 18a6ad9f`);
    expect(parseEthernet(f, 0, f.length)).toEqual({ dst: 0x0242ac110003, src: 0x0242ac110002, ethertype: ETHERTYPE_IPV4 });
    let off = ETH_HLEN;
    expect(ipv4Check(f, off, f.length - off)).toBe(0);
    expect(ipv4ChecksumValid(f, off)).toBe(true);
    expect(parseIpv4(f, off, f.length - off)).toEqual({
      src: 0xac110002, dst: 0xac110003, protocol: IPPROTO_UDP, ttl: 64, tos: 0, id: 0x1c46, dontFragment: true,
      payloadLen: 58,
    });
    off += IPV4_HLEN;
    expect(udpCheck(f, off, f.length - off)).toBe(0);
    expect(parseUdp(f, off, f.length - off)).toEqual({ srcPort: 51086, dstPort: IANA_VXLAN_PORT, payloadLen: 50, checksum: 0 });
    off += UDP_HLEN;
    expect(parseVxlan(f, off, f.length - off)).toEqual({ vni: 42, flags: VXLAN_FLAG_I });
    off += VXLAN_HLEN;
    expect(parseEthernet(f, off, f.length - off).ethertype).toBe(ETHERTYPE_ARP);
    off += ETH_HLEN;
    expect(parseArp(f, off, f.length - off)).toMatchObject({ op: ARP_OP_REQUEST, tpa: 0x18a6ad9f });
    expect(off + 28).toBe(f.length);
  });
});
