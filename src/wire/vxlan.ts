/**
 * VXLAN header (RFC 7348 section 5). `writeVxlanHeader` (hot path) and
 * `emitVxlan` (Repr) write all 8 bytes: pooled buffers are reused, so an
 * unwritten reserved byte would be stale and could go out as an extension bit
 * (see bytes.ts).
 */

import { assertValid, getU24, setU24, uint } from './bytes.js';

/*
 * RFC 7348 section 5, VXLAN Header:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |R|R|R|R|I|R|R|R|            Reserved                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                VXLAN Network Identifier (VNI) |   Reserved    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const VXLAN_FLAGS = 0;
export const VXLAN_VNI = 4;
/** Header length in bytes. */
export const VXLAN_HLEN = 8;

/** The I flag: "MUST be set to 1 for a valid VXLAN Network ID (VNI)". */
export const VXLAN_FLAG_I = 0x08;
/** Largest 24-bit VNI. */
export const VNI_MAX = 0xffffff;
/** IANA-assigned VXLAN UDP port (RFC 7348). */
export const IANA_VXLAN_PORT = 4789;
/** Port the Linux kernel used before IANA assignment, still its default. */
export const LINUX_VXLAN_PORT = 8472;

/** Fewer than 8 bytes. */
export const VXLAN_ERR_TRUNCATED = 1;
/** I flag clear: the VNI field is not valid. */
export const VXLAN_ERR_NO_I_FLAG = 2;
/** A reserved bit is set (an extension vxtap does not understand). */
export const VXLAN_ERR_RESERVED = 3;

/** Returns the flags byte. */
export function getVxlanFlags(b: Uint8Array, off: number): number {
  return b[off + VXLAN_FLAGS];
}
/** Sets the flags byte. */
export function setVxlanFlags(b: Uint8Array, off: number, v: number): void {
  b[off + VXLAN_FLAGS] = v;
}
/** Returns the 24-bit VNI. */
export function getVni(b: Uint8Array, off: number): number {
  return getU24(b, off + VXLAN_VNI);
}
/** Sets the 24-bit VNI, leaving the reserved byte after it alone. */
export function setVni(b: Uint8Array, off: number, v: number): void {
  setU24(b, off + VXLAN_VNI, v);
}

/** True if any reserved bit is set: flags other than I, bytes 1-3, or byte 7. */
export function hasReservedBits(b: Uint8Array, off: number): boolean {
  return ((b[off] & ~VXLAN_FLAG_I) | b[off + 1] | b[off + 2] | b[off + 3] | b[off + 7]) !== 0;
}

/** Writes a complete 8-byte header for `vni` at `off`: 08 00 00 00, VNI, 00. */
export function writeVxlanHeader(b: Uint8Array, off: number, vni: number): void {
  b[off] = VXLAN_FLAG_I;
  b[off + 1] = 0;
  b[off + 2] = 0;
  b[off + 3] = 0;
  setU24(b, off + VXLAN_VNI, vni);
  b[off + 7] = 0;
}

/**
 * Validates the VXLAN header at `off` with `len` bytes available.
 *
 * - Truncated: the 8-byte header must be present before it is read.
 * - No I flag: RFC 7348 says the I flag "MUST be set to 1 for a valid VXLAN
 *   Network ID (VNI)"; without it the VNI names no segment, so the frame
 *   cannot be delivered to one.
 * - Reserved: RFC 7348 says the reserved fields "MUST be set to zero on
 *   transmission and ignored on receipt". vxtap by default drops such frames
 *   instead, as Linux does: a set reserved bit means an extension such as
 *   Group Policy (GBP) or Generic Protocol Extension (GPE) whose meaning vxtap
 *   does not know, and delivering such a frame as plain Ethernet would misread
 *   it (a GPE payload need not be Ethernet at all). `ignoreReserved` restores
 *   the RFC's rule.
 */
export function vxlanCheck(b: Uint8Array, off: number, len: number, ignoreReserved: boolean): number {
  if (len < VXLAN_HLEN) return VXLAN_ERR_TRUNCATED;
  if ((b[off + VXLAN_FLAGS] & VXLAN_FLAG_I) === 0) return VXLAN_ERR_NO_I_FLAG;
  if (!ignoreReserved && hasReservedBits(b, off)) return VXLAN_ERR_RESERVED;
  return 0;
}

const REASONS = {
  [VXLAN_ERR_TRUNCATED]: 'truncated (shorter than 8 bytes)',
  [VXLAN_ERR_NO_I_FLAG]: 'I flag not set',
  [VXLAN_ERR_RESERVED]: 'reserved bits set',
};

export interface VxlanRepr {
  vni: number;
  /** The flags byte: VXLAN_FLAG_I, plus any reserved flag bits. */
  flags: number;
}

/**
 * Parses the VXLAN header at `off`; throws if `vxlanCheck` fails. With
 * `ignoreReserved`, reserved flag bits show in `flags` while reserved bytes
 * 1-3 and 7 are dropped.
 */
export function parseVxlan(b: Uint8Array, off: number, len: number, ignoreReserved = false): VxlanRepr {
  assertValid('vxlan', vxlanCheck(b, off, len, ignoreReserved), REASONS);
  return { vni: getVni(b, off), flags: getVxlanFlags(b, off) };
}

/** Writes all 8 header bytes at `off`, reserved bytes zero; returns VXLAN_HLEN. */
export function emitVxlan(repr: VxlanRepr, b: Uint8Array, off: number): number {
  writeVxlanHeader(b, off, uint('vxlan vni', repr.vni, VNI_MAX));
  setVxlanFlags(b, off, uint('vxlan flags', repr.flags, 0xff));
  return VXLAN_HLEN;
}
