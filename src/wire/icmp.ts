/**
 * ICMP for IPv4 (RFC 792): the 8-byte header shared by every message type.
 * Emit writes all 8 bytes: pooled buffers are reused (see bytes.ts).
 */

import { checksumAdd, checksumFold } from './checksum.js';
import { assertValid, getU16, getU32, setU16, setU32, uint } from './bytes.js';

/*
 * RFC 792:
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          rest of header (identifier/sequence, unused, ...)    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const ICMP_TYPE = 0;
export const ICMP_CODE = 1;
export const ICMP_CSUM = 2;
export const ICMP_REST = 4;
/** Header length in bytes. */
export const ICMP_HLEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
/** Destination unreachable code 0. */
export const ICMP_NET_UNREACH = 0;

/** Fewer than 8 bytes. */
export const ICMP_ERR_TRUNCATED = 1;
/** The checksum over the message does not verify. */
export const ICMP_ERR_CHECKSUM = 2;

/** Returns the message type. */
export function getIcmpType(b: Uint8Array, off: number): number {
  return b[off + ICMP_TYPE];
}
/** Sets the message type. */
export function setIcmpType(b: Uint8Array, off: number, v: number): void {
  b[off + ICMP_TYPE] = v;
}
/** Returns the code. */
export function getIcmpCode(b: Uint8Array, off: number): number {
  return b[off + ICMP_CODE];
}
/** Sets the code. */
export function setIcmpCode(b: Uint8Array, off: number, v: number): void {
  b[off + ICMP_CODE] = v;
}
/** Returns the checksum. */
export function getIcmpChecksum(b: Uint8Array, off: number): number {
  return getU16(b, off + ICMP_CSUM);
}
/** Sets the checksum. */
export function setIcmpChecksum(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + ICMP_CSUM, v);
}
/** Returns the 32-bit rest of the header (echo: identifier << 16 | sequence). */
export function getIcmpRest(b: Uint8Array, off: number): number {
  return getU32(b, off + ICMP_REST);
}
/** Sets the 32-bit rest of the header. */
export function setIcmpRest(b: Uint8Array, off: number, v: number): void {
  setU32(b, off + ICMP_REST, v);
}

/**
 * The checksum of the `len`-byte message at `off` with its checksum field
 * taken as zero (RFC 792: "the 16-bit one's complement of the one's
 * complement sum of the ICMP message starting with the ICMP Type").
 */
export function icmpChecksum(b: Uint8Array, off: number, len: number): number {
  const sum = checksumAdd(b, off, ICMP_CSUM, 0);
  return checksumFold(checksumAdd(b, off + ICMP_REST, len - ICMP_REST, sum));
}

/** Returns 0 when `len` bytes at `off` hold an ICMP message with a valid checksum. */
export function icmpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < ICMP_HLEN) return ICMP_ERR_TRUNCATED;
  if (checksumFold(checksumAdd(b, off, len, 0)) !== 0) return ICMP_ERR_CHECKSUM;
  return 0;
}

export interface IcmpRepr {
  type: number;
  code: number;
  rest: number;
  /** Bytes after the 8-byte header. */
  payload: Uint8Array;
}

const REASONS = {
  [ICMP_ERR_TRUNCATED]: 'truncated (shorter than 8 bytes)',
  [ICMP_ERR_CHECKSUM]: 'bad checksum',
};

/** Parses an ICMP message of `len` bytes; throws if it is invalid. */
export function parseIcmp(b: Uint8Array, off: number, len: number): IcmpRepr {
  assertValid('icmp', icmpCheck(b, off, len), REASONS);
  return {
    type: getIcmpType(b, off),
    code: getIcmpCode(b, off),
    rest: getIcmpRest(b, off),
    payload: b.slice(off + ICMP_HLEN, off + len),
  };
}

/** Writes the message with its checksum; returns the bytes written. */
export function emitIcmp(repr: IcmpRepr, b: Uint8Array, off: number): number {
  setIcmpType(b, off, uint('icmp type', repr.type, 0xff));
  setIcmpCode(b, off, uint('icmp code', repr.code, 0xff));
  setIcmpRest(b, off, uint('icmp rest', repr.rest, 0xffffffff));
  b.set(repr.payload, off + ICMP_HLEN);
  const len = ICMP_HLEN + repr.payload.length;
  setIcmpChecksum(b, off, icmpChecksum(b, off, len));
  return len;
}
