/**
 * IPv4 header (RFC 791). Addresses are uint32 numbers (ipaddr.ts converts them
 * to and from text). `emitIpv4` writes all 20 header bytes: pooled buffers are
 * reused, so an unwritten byte would be stale (see bytes.ts).
 */

import { assertValid, getU16, getU32, setU16, setU32, uint } from './bytes.js';
import { checksumAdd, checksumFold } from './checksum.js';

/*
 * RFC 791 section 3.1:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Identification        |Flags|      Fragment Offset    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       Source Address                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Destination Address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: bit 0 reserved (must be zero), bit 1 DF (Don't Fragment), bit 2 MF
 * (More Fragments). IHL counts 32-bit words; Fragment Offset counts 8 bytes.
 */
export const IPV4_VER_IHL = 0;
export const IPV4_TOS = 1;
export const IPV4_LEN = 2;
export const IPV4_ID = 4;
export const IPV4_FLAGS_FRAG = 6;
export const IPV4_TTL = 8;
export const IPV4_PROTO = 9;
export const IPV4_CSUM = 10;
export const IPV4_SRC = 12;
export const IPV4_DST = 16;
/** Length of a header without options, in bytes. */
export const IPV4_HLEN = 20;

/** Don't Fragment bit in the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
/** More Fragments bit in the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_MF = 0x2000;
/** Fragment offset bits (in 8-byte units) of the flags/fragment-offset word. */
export const IPV4_FRAG_MASK = 0x1fff;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

/** Fewer than 20 bytes. */
export const IPV4_ERR_TRUNCATED = 1;
/** Version field is not 4. */
export const IPV4_ERR_VERSION = 2;
/** IHL below 5 words, or beyond the bytes available. */
export const IPV4_ERR_IHL = 3;
/** Total Length below the header length, or beyond the bytes available. */
export const IPV4_ERR_TOTAL_LENGTH = 4;

/** Returns the version (4 for IPv4). */
export function getIpv4Version(b: Uint8Array, off: number): number {
  return b[off + IPV4_VER_IHL] >>> 4;
}
/** Sets the version, keeping IHL. */
export function setIpv4Version(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_VER_IHL] = (b[off + IPV4_VER_IHL] & 0x0f) | (v << 4);
}
/** Returns the header length in bytes (IHL * 4). */
export function getIpv4Ihl(b: Uint8Array, off: number): number {
  return (b[off + IPV4_VER_IHL] & 0x0f) << 2;
}
/** Sets the header length in bytes (a multiple of 4, at most 60), keeping the version. */
export function setIpv4Ihl(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_VER_IHL] = (b[off + IPV4_VER_IHL] & 0xf0) | ((v >>> 2) & 0x0f);
}
/** Returns the Type of Service (DSCP and ECN) byte. */
export function getIpv4Tos(b: Uint8Array, off: number): number {
  return b[off + IPV4_TOS];
}
/** Sets the Type of Service byte. */
export function setIpv4Tos(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_TOS] = v;
}
/** Returns the Total Length (header and data) in bytes. */
export function getIpv4TotalLength(b: Uint8Array, off: number): number {
  return getU16(b, off + IPV4_LEN);
}
/** Sets the Total Length. */
export function setIpv4TotalLength(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + IPV4_LEN, v);
}
/** Returns the Identification. */
export function getIpv4Id(b: Uint8Array, off: number): number {
  return getU16(b, off + IPV4_ID);
}
/** Sets the Identification. */
export function setIpv4Id(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + IPV4_ID, v);
}

function setFlagsBit(b: Uint8Array, off: number, mask: number, on: boolean): void {
  const w = getU16(b, off + IPV4_FLAGS_FRAG);
  setU16(b, off + IPV4_FLAGS_FRAG, on ? w | mask : w & ~mask);
}

/** Returns the Don't Fragment flag. */
export function getIpv4DontFragment(b: Uint8Array, off: number): boolean {
  return (getU16(b, off + IPV4_FLAGS_FRAG) & IPV4_FLAG_DF) !== 0;
}
/** Sets the Don't Fragment flag, keeping the other flags and the offset. */
export function setIpv4DontFragment(b: Uint8Array, off: number, v: boolean): void {
  setFlagsBit(b, off, IPV4_FLAG_DF, v);
}
/** Returns the More Fragments flag. */
export function getIpv4MoreFragments(b: Uint8Array, off: number): boolean {
  return (getU16(b, off + IPV4_FLAGS_FRAG) & IPV4_FLAG_MF) !== 0;
}
/** Sets the More Fragments flag, keeping the other flags and the offset. */
export function setIpv4MoreFragments(b: Uint8Array, off: number, v: boolean): void {
  setFlagsBit(b, off, IPV4_FLAG_MF, v);
}
/** Returns the fragment offset in bytes. */
export function getIpv4FragOffset(b: Uint8Array, off: number): number {
  return (getU16(b, off + IPV4_FLAGS_FRAG) & IPV4_FRAG_MASK) << 3;
}
/** Sets the fragment offset in bytes (a multiple of 8), keeping the flags. */
export function setIpv4FragOffset(b: Uint8Array, off: number, v: number): void {
  const w = getU16(b, off + IPV4_FLAGS_FRAG);
  setU16(b, off + IPV4_FLAGS_FRAG, (w & ~IPV4_FRAG_MASK) | ((v >>> 3) & IPV4_FRAG_MASK));
}
/** Returns the Time to Live. */
export function getIpv4Ttl(b: Uint8Array, off: number): number {
  return b[off + IPV4_TTL];
}
/** Sets the Time to Live. */
export function setIpv4Ttl(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_TTL] = v;
}
/** Returns the payload protocol (IPPROTO_*). */
export function getIpv4Protocol(b: Uint8Array, off: number): number {
  return b[off + IPV4_PROTO];
}
/** Sets the payload protocol. */
export function setIpv4Protocol(b: Uint8Array, off: number, v: number): void {
  b[off + IPV4_PROTO] = v;
}
/** Returns the stored header checksum. */
export function getIpv4Checksum(b: Uint8Array, off: number): number {
  return getU16(b, off + IPV4_CSUM);
}
/** Sets the stored header checksum. */
export function setIpv4Checksum(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + IPV4_CSUM, v);
}
/** Returns the source address as a uint32. */
export function getIpv4Src(b: Uint8Array, off: number): number {
  return getU32(b, off + IPV4_SRC);
}
/** Sets the source address. */
export function setIpv4Src(b: Uint8Array, off: number, v: number): void {
  setU32(b, off + IPV4_SRC, v);
}
/** Returns the destination address as a uint32. */
export function getIpv4Dst(b: Uint8Array, off: number): number {
  return getU32(b, off + IPV4_DST);
}
/** Sets the destination address. */
export function setIpv4Dst(b: Uint8Array, off: number, v: number): void {
  setU32(b, off + IPV4_DST, v);
}

/**
 * Validates the IPv4 header at `off` with `len` bytes available (the rest of
 * the frame). Each rule guards a later read:
 *
 * - Truncated: the fixed 20-byte header must be present before any field,
 *   including the IHL that tells how long the header really is, can be read.
 * - Version: the field "indicates the format of the internet header"; any
 *   other value means these offsets do not apply. RFC 1122 3.2.1.1: "A
 *   datagram whose version number is not 4 MUST be silently discarded."
 * - IHL: "the minimum value for a correct header is 5" (RFC 791); a smaller
 *   one would place the payload inside the fixed header. A larger one must
 *   still fit in `len`, or the options and payload offset run off the buffer.
 * - Total Length: "the length of the datagram, measured in octets, including
 *   internet header and data", so it can be neither smaller than the header
 *   nor larger than what arrived. It may be smaller than `len`: Ethernet pads
 *   short frames to 60 bytes, and the caller must trim the payload to
 *   Total Length rather than trust `len`.
 *
 * The header checksum is verified separately (`ipv4ChecksumValid`) so callers
 * pay for it only where no lower layer has already done so.
 */
export function ipv4Check(b: Uint8Array, off: number, len: number): number {
  if (len < IPV4_HLEN) return IPV4_ERR_TRUNCATED;
  if (getIpv4Version(b, off) !== 4) return IPV4_ERR_VERSION;
  const ihl = getIpv4Ihl(b, off);
  if (ihl < IPV4_HLEN || ihl > len) return IPV4_ERR_IHL;
  const total = getIpv4TotalLength(b, off);
  if (total < ihl || total > len) return IPV4_ERR_TOTAL_LENGTH;
  return 0;
}

/**
 * Computes the header checksum over IHL bytes at `off`, taking the checksum
 * field as zero (RFC 791: "For purposes of computing the checksum, the value
 * of the checksum field is zero"); returns the value to store.
 */
export function ipv4HeaderChecksum(b: Uint8Array, off: number): number {
  const after = IPV4_CSUM + 2;
  const sum = checksumAdd(b, off, IPV4_CSUM, 0);
  return checksumFold(checksumAdd(b, off + after, getIpv4Ihl(b, off) - after, sum));
}

/** True if the stored checksum matches the IHL bytes of header at `off`. */
export function ipv4ChecksumValid(b: Uint8Array, off: number): boolean {
  return checksumFold(checksumAdd(b, off, getIpv4Ihl(b, off), 0)) === 0;
}

const REASONS = {
  [IPV4_ERR_TRUNCATED]: 'truncated (shorter than 20 bytes)',
  [IPV4_ERR_VERSION]: 'version is not 4',
  [IPV4_ERR_IHL]: 'bad header length (IHL)',
  [IPV4_ERR_TOTAL_LENGTH]: 'bad total length',
};

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  tos: number;
  id: number;
  dontFragment: boolean;
  /** Bytes after the header (Total Length minus header length). */
  payloadLen: number;
}

/**
 * Parses the IPv4 header at `off`. Throws if `ipv4Check` fails, the checksum
 * is wrong, or the datagram is a fragment (which the Repr cannot describe).
 * Options are skipped.
 */
export function parseIpv4(b: Uint8Array, off: number, len: number): Ipv4Repr {
  assertValid('ipv4', ipv4Check(b, off, len), REASONS);
  if (!ipv4ChecksumValid(b, off)) throw new Error('ipv4: bad header checksum');
  if (getIpv4MoreFragments(b, off) || getIpv4FragOffset(b, off) !== 0) {
    throw new Error('ipv4: fragments are not supported');
  }
  return {
    src: getIpv4Src(b, off),
    dst: getIpv4Dst(b, off),
    protocol: getIpv4Protocol(b, off),
    ttl: getIpv4Ttl(b, off),
    tos: getIpv4Tos(b, off),
    id: getIpv4Id(b, off),
    dontFragment: getIpv4DontFragment(b, off),
    payloadLen: getIpv4TotalLength(b, off) - getIpv4Ihl(b, off),
  };
}

/** Writes all 20 bytes of an option-less header at `off`, checksum included; returns IPV4_HLEN. */
export function emitIpv4(repr: Ipv4Repr, b: Uint8Array, off: number): number {
  b[off + IPV4_VER_IHL] = 0x45; // version 4, IHL 5 words
  setIpv4Tos(b, off, uint('ipv4 tos', repr.tos, 0xff));
  setIpv4TotalLength(b, off, IPV4_HLEN + uint('ipv4 payloadLen', repr.payloadLen, 0xffff - IPV4_HLEN));
  setIpv4Id(b, off, uint('ipv4 id', repr.id, 0xffff));
  setU16(b, off + IPV4_FLAGS_FRAG, repr.dontFragment ? IPV4_FLAG_DF : 0);
  setIpv4Ttl(b, off, uint('ipv4 ttl', repr.ttl, 0xff));
  setIpv4Protocol(b, off, uint('ipv4 protocol', repr.protocol, 0xff));
  setIpv4Src(b, off, uint('ipv4 src', repr.src, 0xffffffff));
  setIpv4Dst(b, off, uint('ipv4 dst', repr.dst, 0xffffffff));
  setIpv4Checksum(b, off, ipv4HeaderChecksum(b, off));
  return IPV4_HLEN;
}

/**
 * Forwarding's TTL step: decrements the TTL and patches the checksum
 * incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), m being the
 * TTL/protocol word). Returns false, changing nothing, when the TTL would
 * reach 0: the packet must be discarded.
 */
export function decrementIpv4Ttl(b: Uint8Array, off: number): boolean {
  const ttl = b[off + IPV4_TTL];
  if (ttl <= 1) return false;
  const word = (ttl << 8) | b[off + IPV4_PROTO];
  b[off + IPV4_TTL] = ttl - 1;
  const sum = (~getIpv4Checksum(b, off) & 0xffff) + (~word & 0xffff) + (word - 0x100);
  setIpv4Checksum(b, off, checksumFold(sum));
  return true;
}
