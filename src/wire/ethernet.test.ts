import { describe, it, expect } from 'vitest';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_ERR_TRUNCATED, ETH_HLEN,
  emitEthernet, ethCheck, getEthDst, getEthSrc, getEthType, isVlanType, parseEthernet,
} from './ethernet.js';
import { MAC_BROADCAST } from './mac.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Header of a broadcast ARP request (Wireshark sample capture arp-storm).
const HDR = hex('ffffffffffff 00070daff454 0806');
const REPR = { dst: MAC_BROADCAST, src: 0x00070daff454, ethertype: ETHERTYPE_ARP };

describe('ethernet', () => {
  it('deconstructs a real header at an offset', () => {
    const b = new Uint8Array(3 + ETH_HLEN);
    b.set(HDR, 3);
    expect(getEthDst(b, 3)).toBe(MAC_BROADCAST);
    expect(getEthSrc(b, 3)).toBe(0x00070daff454);
    expect(getEthType(b, 3)).toBe(0x0806);
    expect(parseEthernet(b, 3, ETH_HLEN)).toEqual(REPR);
  });

  it('emits exactly the expected bytes', () => {
    const b = new Uint8Array(ETH_HLEN + 3).fill(0xa5);
    expect(emitEthernet(REPR, b, 1)).toBe(ETH_HLEN);
    expect(b).toEqual(Uint8Array.from([0xa5, ...HDR, 0xa5, 0xa5]));
  });

  it('checks only the length', () => {
    const b = new Uint8Array(ETH_HLEN);
    for (const len of [0, 1, ETH_HLEN - 1]) expect(ethCheck(b, 0, len)).toBe(ETH_ERR_TRUNCATED);
    expect(ethCheck(b, 0, ETH_HLEN)).toBe(0);
    expect(ethCheck(b, 0, 1514)).toBe(0);
  });

  it('refuses to emit out-of-range fields', () => {
    const b = new Uint8Array(ETH_HLEN);
    expect(() => emitEthernet({ ...REPR, dst: MAC_BROADCAST + 1 }, b, 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...REPR, ethertype: 0x10000 }, b, 0)).toThrow('ethertype');
  });

  it('recognises VLAN tag types', () => {
    expect(isVlanType(ETHERTYPE_VLAN)).toBe(true);
    expect(isVlanType(ETHERTYPE_QINQ)).toBe(true);
    for (const t of [ETHERTYPE_IPV4, ETHERTYPE_ARP, ETHERTYPE_IPV6, 0x9100, 0]) expect(isVlanType(t)).toBe(false);
  });
});
