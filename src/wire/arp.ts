/**
 * ARP for IPv4 over Ethernet (RFC 826). MACs are 48-bit numbers, IPv4
 * addresses are uint32 numbers. `emitArp` writes all 28 bytes: pooled buffers
 * are reused, so an unwritten byte would be stale (see bytes.ts).
 */

import { assertValid, getU16, getU32, setU16, setU32, uint } from './bytes.js';
import { ETH_ALEN, ETHERTYPE_IPV4 } from './ethernet.js';
import { MAC_BROADCAST, readMac, writeMac } from './mac.js';

/*
 * RFC 826 fields (ar$...), shown 16 bits wide; byte offsets on the right.
 *
 *   0                   1
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    Hardware type (ar$hrd)     |   0
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    Protocol type (ar$pro)     |   2
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | HW len ar$hln |Proto len ar$pln|  4
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      Operation (ar$op)        |   6
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Sender hardware address     |   8
 *  +         (ar$sha)              +
 *  |                               |
 *  +                               +
 *  |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Sender protocol address     |  14
 *  +         (ar$spa)              +
 *  |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Target hardware address     |  18
 *  +         (ar$tha)              +
 *  |                               |
 *  +                               +
 *  |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Target protocol address     |  24
 *  +         (ar$tpa)              +
 *  |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
/** Offset of the hardware address length (ar$hln). */
export const ARP_HLN = 4;
/** Offset of the protocol address length (ar$pln). */
export const ARP_PLN = 5;
export const ARP_OPER = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
/** Length of an Ethernet/IPv4 ARP packet in bytes. */
export const ARP_HLEN = 28;

/** Hardware type for Ethernet (RFC 826: "ares_hrd$Ethernet"). */
export const ARP_HTYPE_ETHERNET = 1;
/** IPv4 address length in bytes. */
export const ARP_IPV4_ALEN = 4;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

/** Fewer than 28 bytes. */
export const ARP_ERR_TRUNCATED = 1;
/** Not Ethernet/IPv4 ARP (hardware or protocol type or address length). */
export const ARP_ERR_UNSUPPORTED = 2;

/** Returns the hardware type. */
export function getArpHtype(b: Uint8Array, off: number): number {
  return getU16(b, off + ARP_HTYPE);
}
/** Sets the hardware type. */
export function setArpHtype(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + ARP_HTYPE, v);
}
/** Returns the protocol type (an EtherType). */
export function getArpPtype(b: Uint8Array, off: number): number {
  return getU16(b, off + ARP_PTYPE);
}
/** Sets the protocol type. */
export function setArpPtype(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + ARP_PTYPE, v);
}
/** Returns the hardware address length in bytes. */
export function getArpHlen(b: Uint8Array, off: number): number {
  return b[off + ARP_HLN];
}
/** Sets the hardware address length. */
export function setArpHlen(b: Uint8Array, off: number, v: number): void {
  b[off + ARP_HLN] = v;
}
/** Returns the protocol address length in bytes. */
export function getArpPlen(b: Uint8Array, off: number): number {
  return b[off + ARP_PLN];
}
/** Sets the protocol address length. */
export function setArpPlen(b: Uint8Array, off: number, v: number): void {
  b[off + ARP_PLN] = v;
}
/** Returns the operation (ARP_OP_REQUEST, ARP_OP_REPLY, ...). */
export function getArpOper(b: Uint8Array, off: number): number {
  return getU16(b, off + ARP_OPER);
}
/** Sets the operation. */
export function setArpOper(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + ARP_OPER, v);
}
/** Returns the sender hardware address (MAC number). */
export function getArpSha(b: Uint8Array, off: number): number {
  return readMac(b, off + ARP_SHA);
}
/** Sets the sender hardware address. */
export function setArpSha(b: Uint8Array, off: number, v: number): void {
  writeMac(b, off + ARP_SHA, v);
}
/** Returns the sender protocol address (IPv4 uint32). */
export function getArpSpa(b: Uint8Array, off: number): number {
  return getU32(b, off + ARP_SPA);
}
/** Sets the sender protocol address. */
export function setArpSpa(b: Uint8Array, off: number, v: number): void {
  setU32(b, off + ARP_SPA, v);
}
/** Returns the target hardware address (MAC number). */
export function getArpTha(b: Uint8Array, off: number): number {
  return readMac(b, off + ARP_THA);
}
/** Sets the target hardware address. */
export function setArpTha(b: Uint8Array, off: number, v: number): void {
  writeMac(b, off + ARP_THA, v);
}
/** Returns the target protocol address (IPv4 uint32). */
export function getArpTpa(b: Uint8Array, off: number): number {
  return getU32(b, off + ARP_TPA);
}
/** Sets the target protocol address. */
export function setArpTpa(b: Uint8Array, off: number, v: number): void {
  setU32(b, off + ARP_TPA, v);
}

/**
 * Validates the ARP packet at `off` with `len` bytes available.
 *
 * - Truncated: the fixed offsets above are only meaningful for a complete
 *   28-byte packet. More bytes are fine: Ethernet pads ARP to its 46-byte
 *   minimum payload.
 * - Unsupported: the address offsets above assume 6-byte Ethernet and 4-byte
 *   IPv4 addresses. RFC 826 makes ar$hln and ar$pln variable precisely because
 *   other pairs exist, and its receiver starts with "?Do I have the hardware
 *   type in ar$hrd?" and "?Do I speak the protocol in ar$pro?", where
 *   "Negative conditionals indicate an end of processing and a discarding of
 *   the packet." The lengths are checked too (RFC 826 makes that optional)
 *   because the fixed offsets would misread any other length.
 *
 * The operation is not checked: RFC 826 has the receiver merge the sender's
 * addresses before it looks at the opcode ("NOW look at the opcode!!"), so
 * what to do with an unknown opcode is the caller's decision.
 */
export function arpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < ARP_HLEN) return ARP_ERR_TRUNCATED;
  if (
    getArpHtype(b, off) !== ARP_HTYPE_ETHERNET ||
    getArpPtype(b, off) !== ETHERTYPE_IPV4 ||
    getArpHlen(b, off) !== ETH_ALEN ||
    getArpPlen(b, off) !== ARP_IPV4_ALEN
  ) {
    return ARP_ERR_UNSUPPORTED;
  }
  return 0;
}

const REASONS = {
  [ARP_ERR_TRUNCATED]: 'truncated (shorter than 28 bytes)',
  [ARP_ERR_UNSUPPORTED]: 'not Ethernet/IPv4 ARP',
};

export interface ArpRepr {
  op: number;
  sha: number;
  spa: number;
  tha: number;
  tpa: number;
}

/** Parses the ARP packet at `off`; throws if `arpCheck` fails. */
export function parseArp(b: Uint8Array, off: number, len: number): ArpRepr {
  assertValid('arp', arpCheck(b, off, len), REASONS);
  return {
    op: getArpOper(b, off),
    sha: getArpSha(b, off),
    spa: getArpSpa(b, off),
    tha: getArpTha(b, off),
    tpa: getArpTpa(b, off),
  };
}

/** Writes all 28 bytes of an Ethernet/IPv4 ARP packet at `off`; returns ARP_HLEN. */
export function emitArp(repr: ArpRepr, b: Uint8Array, off: number): number {
  setArpHtype(b, off, ARP_HTYPE_ETHERNET);
  setArpPtype(b, off, ETHERTYPE_IPV4);
  setArpHlen(b, off, ETH_ALEN);
  setArpPlen(b, off, ARP_IPV4_ALEN);
  setArpOper(b, off, uint('arp op', repr.op, 0xffff));
  setArpSha(b, off, uint('arp sha', repr.sha, MAC_BROADCAST));
  setArpSpa(b, off, uint('arp spa', repr.spa, 0xffffffff));
  setArpTha(b, off, uint('arp tha', repr.tha, MAC_BROADCAST));
  setArpTpa(b, off, uint('arp tpa', repr.tpa, 0xffffffff));
  return ARP_HLEN;
}
