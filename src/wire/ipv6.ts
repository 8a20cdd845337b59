/**
 * IPv6 fixed header (RFC 8200). Addresses are 16 bytes read in place, or
 * four uint32 words (ipaddr.ts converts them to and from text). `emitIpv6`
 * writes all 40 header bytes: pooled buffers are reused, so an unwritten
 * byte would be stale (see bytes.ts).
 */

import { assertValid, getI32, getU16, setU16, setU32, uint } from './bytes.js';
import { checksumAdd } from './checksum.js';

/*
 * RFC 8200 section 3:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Traffic Class |           Flow Label                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                         Source Address                        +   8
 *  |                            (16 bytes)                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                      Destination Address                      +  24
 *  |                            (16 bytes)                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const IPV6_VER_TC_FLOW = 0;
export const IPV6_PAYLOAD_LEN = 4;
export const IPV6_NEXT_HEADER = 6;
export const IPV6_HOP_LIMIT = 7;
export const IPV6_SRC = 8;
export const IPV6_DST = 24;
/** Header length in bytes. */
export const IPV6_HLEN = 40;
/** Address length in bytes. */
export const IPV6_ALEN = 16;

/** Next Header value of ICMPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58;

/** Fewer than 40 bytes, or fewer than the payload length says. */
export const IPV6_ERR_TRUNCATED = 1;
/** The version field is not 6. */
export const IPV6_ERR_VERSION = 2;

/** Returns the version (6). */
export function getIpv6Version(b: Uint8Array, off: number): number {
  return b[off] >>> 4;
}
/** Sets the version. */
export function setIpv6Version(b: Uint8Array, off: number, v: number): void {
  b[off] = (v << 4) | (b[off] & 0x0f);
}
/** Returns the traffic class (DSCP and ECN). */
export function getIpv6TrafficClass(b: Uint8Array, off: number): number {
  return ((b[off] & 0x0f) << 4) | (b[off + 1] >>> 4);
}
/** Sets the traffic class. */
export function setIpv6TrafficClass(b: Uint8Array, off: number, v: number): void {
  b[off] = (b[off] & 0xf0) | (v >>> 4);
  b[off + 1] = ((v & 0x0f) << 4) | (b[off + 1] & 0x0f);
}
/** Returns the 20-bit flow label. */
export function getIpv6FlowLabel(b: Uint8Array, off: number): number {
  return ((b[off + 1] & 0x0f) << 16) | getU16(b, off + 2);
}
/** Sets the flow label. */
export function setIpv6FlowLabel(b: Uint8Array, off: number, v: number): void {
  b[off + 1] = (b[off + 1] & 0xf0) | (v >>> 16);
  setU16(b, off + 2, v);
}
/** Returns the payload length: the bytes after this 40-byte header. */
export function getIpv6PayloadLength(b: Uint8Array, off: number): number {
  return getU16(b, off + IPV6_PAYLOAD_LEN);
}
/** Sets the payload length. */
export function setIpv6PayloadLength(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + IPV6_PAYLOAD_LEN, v);
}
/** Returns the next header (an IP protocol number). */
export function getIpv6NextHeader(b: Uint8Array, off: number): number {
  return b[off + IPV6_NEXT_HEADER];
}
/** Sets the next header. */
export function setIpv6NextHeader(b: Uint8Array, off: number, v: number): void {
  b[off + IPV6_NEXT_HEADER] = v;
}
/** Returns the hop limit. */
export function getIpv6HopLimit(b: Uint8Array, off: number): number {
  return b[off + IPV6_HOP_LIMIT];
}
/** Sets the hop limit. */
export function setIpv6HopLimit(b: Uint8Array, off: number, v: number): void {
  b[off + IPV6_HOP_LIMIT] = v;
}

/** Word k (0-3) of the address at `a`, as a signed int32 (a hash key part). */
export function ipv6Word(b: Uint8Array, a: number, k: number): number {
  return getI32(b, a + 4 * k);
}

/** Writes the address `w` (four uint32 words) at `a`. */
export function writeIpv6Addr(b: Uint8Array, a: number, w: readonly number[]): void {
  for (let k = 0; k < 4; k++) setU32(b, a + 4 * k, w[k]);
}

/** Reads the address at `a` as four uint32 words (not for the hot path). */
export function readIpv6Addr(b: Uint8Array, a: number): number[] {
  return [0, 1, 2, 3].map((k) => ipv6Word(b, a, k) >>> 0);
}

/** The unspecified address `::` (RFC 4291 section 2.5.2). */
export function isIpv6Unspecified(b: Uint8Array, a: number): boolean {
  return (ipv6Word(b, a, 0) | ipv6Word(b, a, 1) | ipv6Word(b, a, 2) | ipv6Word(b, a, 3)) === 0;
}

/** The loopback address `::1` (RFC 4291 section 2.5.3). */
export function isIpv6Loopback(b: Uint8Array, a: number): boolean {
  return (ipv6Word(b, a, 0) | ipv6Word(b, a, 1) | ipv6Word(b, a, 2)) === 0 && ipv6Word(b, a, 3) === 1;
}

/** A multicast address: ff00::/8 (RFC 4291 section 2.7). */
export function isIpv6Multicast(b: Uint8Array, a: number): boolean {
  return b[a] === 0xff;
}

/**
 * The one's complement sum (unfolded, see checksum.ts) of the pseudo-header
 * of RFC 8200 section 8.1 for the packet whose IPv6 header is at `ip`: both
 * addresses, the upper-layer length and the next header.
 */
export function ipv6PseudoHeaderSum(b: Uint8Array, ip: number, upperLen: number, nextHeader: number): number {
  return checksumAdd(b, ip + IPV6_SRC, 2 * IPV6_ALEN, 0) + (upperLen >>> 16) + (upperLen & 0xffff) + nextHeader;
}

/**
 * Validates the header at `off` with `len` bytes available: 40 bytes, version
 * 6, and the payload the payload length announces. Extension headers are the
 * caller's to walk (next header).
 */
export function ipv6Check(b: Uint8Array, off: number, len: number): number {
  if (len < IPV6_HLEN) return IPV6_ERR_TRUNCATED;
  if (getIpv6Version(b, off) !== 6) return IPV6_ERR_VERSION;
  if (getIpv6PayloadLength(b, off) > len - IPV6_HLEN) return IPV6_ERR_TRUNCATED;
  return 0;
}

const REASONS = {
  [IPV6_ERR_TRUNCATED]: 'truncated (shorter than 40 bytes or than its payload length)',
  [IPV6_ERR_VERSION]: 'version is not 6',
};

export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLen: number;
  nextHeader: number;
  hopLimit: number;
  /** Four uint32 words each. */
  src: number[];
  dst: number[];
}

/** Parses the header at `off`; throws if `ipv6Check` fails. */
export function parseIpv6(b: Uint8Array, off: number, len: number): Ipv6Repr {
  assertValid('ipv6', ipv6Check(b, off, len), REASONS);
  return {
    trafficClass: getIpv6TrafficClass(b, off),
    flowLabel: getIpv6FlowLabel(b, off),
    payloadLen: getIpv6PayloadLength(b, off),
    nextHeader: getIpv6NextHeader(b, off),
    hopLimit: getIpv6HopLimit(b, off),
    src: readIpv6Addr(b, off + IPV6_SRC),
    dst: readIpv6Addr(b, off + IPV6_DST),
  };
}

/** Writes all 40 header bytes at `off`; returns IPV6_HLEN. */
export function emitIpv6(repr: Ipv6Repr, b: Uint8Array, off: number): number {
  b[off] = 0x60;
  b[off + 1] = 0;
  setIpv6TrafficClass(b, off, uint('ipv6 trafficClass', repr.trafficClass, 0xff));
  setIpv6FlowLabel(b, off, uint('ipv6 flowLabel', repr.flowLabel, 0xfffff));
  setIpv6PayloadLength(b, off, uint('ipv6 payloadLen', repr.payloadLen, 0xffff));
  setIpv6NextHeader(b, off, uint('ipv6 nextHeader', repr.nextHeader, 0xff));
  setIpv6HopLimit(b, off, uint('ipv6 hopLimit', repr.hopLimit, 0xff));
  for (const [a, w] of [[IPV6_SRC, repr.src], [IPV6_DST, repr.dst]] as const) {
    if (w.length !== 4) throw new RangeError(`ipv6 address has ${w.length} words, not 4`);
    w.forEach((x, k) => uint(`ipv6 address word ${k}`, x, 0xffffffff));
    writeIpv6Addr(b, off + a, w);
  }
  return IPV6_HLEN;
}
