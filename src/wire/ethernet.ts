/**
 * Ethernet II frame header (IEEE 802.3; RFC 894 for IP over Ethernet).
 * MACs are numbers (see mac.ts). `emitEthernet` writes all 14 header bytes:
 * pooled buffers are reused, so an unwritten byte would be stale (see bytes.ts).
 */

import { assertValid, getU16, setU16, uint } from './bytes.js';
import { MAC_BROADCAST, readMac, writeMac } from './mac.js';

/*
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  Destination MAC address                      |
 *  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                               |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *  |                    Source MAC address                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           EtherType           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
/** Header length in bytes. */
export const ETH_HLEN = 14;
/** MAC address length in bytes. */
export const ETH_ALEN = 6;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
/** IEEE 802.1Q VLAN tag (C-tag). */
export const ETHERTYPE_VLAN = 0x8100;
/** IEEE 802.1ad service tag (S-tag, "QinQ"). */
export const ETHERTYPE_QINQ = 0x88a8;
/** Length of one VLAN tag (TPID + TCI) inserted before the EtherType. */
export const VLAN_HLEN = 4;

/** Frame shorter than the 14-byte header. */
export const ETH_ERR_TRUNCATED = 1;

/** Returns the destination MAC. */
export function getEthDst(b: Uint8Array, off: number): number {
  return readMac(b, off + ETH_DST);
}
/** Sets the destination MAC. */
export function setEthDst(b: Uint8Array, off: number, v: number): void {
  writeMac(b, off + ETH_DST, v);
}
/** Returns the source MAC. */
export function getEthSrc(b: Uint8Array, off: number): number {
  return readMac(b, off + ETH_SRC);
}
/** Sets the source MAC. */
export function setEthSrc(b: Uint8Array, off: number, v: number): void {
  writeMac(b, off + ETH_SRC, v);
}
/** Returns the EtherType (or, if <= 1500, an IEEE 802.3 length). */
export function getEthType(b: Uint8Array, off: number): number {
  return getU16(b, off + ETH_TYPE);
}
/** Sets the EtherType. */
export function setEthType(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + ETH_TYPE, v);
}

/** True if EtherType `t` announces a VLAN tag (802.1Q or 802.1ad). */
export function isVlanType(t: number): boolean {
  return t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ;
}

/**
 * Validates the Ethernet header at `off` with `len` bytes available.
 *
 * Only the length is checked: the header must be complete before any field is
 * read. The EtherType is deliberately not checked, because a switch forwards
 * frames of every type (including 802.3 frames whose "type" is a length), and
 * source-address sanity (e.g. a multicast source) is a learning-policy decision
 * for the switch, not a wire-format one.
 */
export function ethCheck(_b: Uint8Array, _off: number, len: number): number {
  return len < ETH_HLEN ? ETH_ERR_TRUNCATED : 0;
}

const REASONS = { [ETH_ERR_TRUNCATED]: 'truncated (shorter than 14 bytes)' };

export interface EthernetRepr {
  dst: number;
  src: number;
  ethertype: number;
}

/** Parses the Ethernet header at `off`; throws if `ethCheck` fails. */
export function parseEthernet(b: Uint8Array, off: number, len: number): EthernetRepr {
  assertValid('ethernet', ethCheck(b, off, len), REASONS);
  return { dst: getEthDst(b, off), src: getEthSrc(b, off), ethertype: getEthType(b, off) };
}

/** Writes all 14 header bytes at `off`; returns ETH_HLEN. */
export function emitEthernet(repr: EthernetRepr, b: Uint8Array, off: number): number {
  setEthDst(b, off, uint('ethernet dst', repr.dst, MAC_BROADCAST));
  setEthSrc(b, off, uint('ethernet src', repr.src, MAC_BROADCAST));
  setEthType(b, off, uint('ethertype', repr.ethertype, 0xffff));
  return ETH_HLEN;
}
