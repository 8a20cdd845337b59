/**
 * UDP header (RFC 768). `emitUdp` writes all 8 header bytes: pooled buffers
 * are reused, so an unwritten byte would be stale (see bytes.ts).
 */

import { assertValid, getU16, setU16, uint } from './bytes.js';

/*
 * RFC 768:
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |     Source      |   Destination   |
 *  |      Port       |      Port       |
 *  +--------+--------+--------+--------+
 *  |                 |                 |
 *  |     Length      |    Checksum     |
 *  +--------+--------+--------+--------+
 *  |
 *  |          data octets ...
 *  +---------------- ...
 */
export const UDP_SRC_PORT = 0;
export const UDP_DST_PORT = 2;
export const UDP_LEN = 4;
export const UDP_CSUM = 6;
/** Header length in bytes. */
export const UDP_HLEN = 8;
/** flannel's udp backend (backend/udp: defaultPort): IP packets as whole UDP payloads. */
export const FLANNEL_UDP_PORT = 8285;

/** Fewer than 8 bytes. */
export const UDP_ERR_TRUNCATED = 1;
/** Length field below 8, or beyond the bytes available. */
export const UDP_ERR_LENGTH = 2;

/** Returns the source port. */
export function getUdpSrcPort(b: Uint8Array, off: number): number {
  return getU16(b, off + UDP_SRC_PORT);
}
/** Sets the source port. */
export function setUdpSrcPort(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + UDP_SRC_PORT, v);
}
/** Returns the destination port. */
export function getUdpDstPort(b: Uint8Array, off: number): number {
  return getU16(b, off + UDP_DST_PORT);
}
/** Sets the destination port. */
export function setUdpDstPort(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + UDP_DST_PORT, v);
}
/** Returns the Length field (header and data) in bytes. */
export function getUdpLength(b: Uint8Array, off: number): number {
  return getU16(b, off + UDP_LEN);
}
/** Sets the Length field. */
export function setUdpLength(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + UDP_LEN, v);
}
/** Returns the checksum (0 = none computed, over IPv4). */
export function getUdpChecksum(b: Uint8Array, off: number): number {
  return getU16(b, off + UDP_CSUM);
}
/** Sets the checksum. */
export function setUdpChecksum(b: Uint8Array, off: number, v: number): void {
  setU16(b, off + UDP_CSUM, v);
}

/**
 * Validates the UDP header at `off` with `len` bytes available (for example
 * up to the end of the IPv4 Total Length).
 *
 * - Truncated: the 8-byte header must be present before any field is read.
 * - Length: "Length is the length in octets of this user datagram including
 *   this header and the data. (This means the minimum value of the length is
 *   eight.)" (RFC 768). A smaller value would make the payload length
 *   negative; a value beyond `len` would read past the datagram. It may be
 *   smaller than `len` (trailing bytes), and the payload ends where it says.
 *
 * The checksum is not verified here: VXLAN senders transmit zero (RFC 7348:
 * "It SHOULD be transmitted as zero"), and over IPv4 zero means none was
 * computed.
 */
export function udpCheck(b: Uint8Array, off: number, len: number): number {
  if (len < UDP_HLEN) return UDP_ERR_TRUNCATED;
  const ulen = getUdpLength(b, off);
  if (ulen < UDP_HLEN || ulen > len) return UDP_ERR_LENGTH;
  return 0;
}

const REASONS = {
  [UDP_ERR_TRUNCATED]: 'truncated (shorter than 8 bytes)',
  [UDP_ERR_LENGTH]: 'bad length field',
};

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** Bytes after the header (Length minus 8). */
  payloadLen: number;
  /** Checksum as stored; emitted as 0 (none) when omitted. */
  checksum?: number;
}

/** Parses the UDP header at `off`; throws if `udpCheck` fails. */
export function parseUdp(b: Uint8Array, off: number, len: number): UdpRepr {
  assertValid('udp', udpCheck(b, off, len), REASONS);
  return {
    srcPort: getUdpSrcPort(b, off),
    dstPort: getUdpDstPort(b, off),
    payloadLen: getUdpLength(b, off) - UDP_HLEN,
    checksum: getUdpChecksum(b, off),
  };
}

/** Writes all 8 header bytes at `off`, the checksum as given; returns UDP_HLEN. */
export function emitUdp(repr: UdpRepr, b: Uint8Array, off: number): number {
  setUdpSrcPort(b, off, uint('udp srcPort', repr.srcPort, 0xffff));
  setUdpDstPort(b, off, uint('udp dstPort', repr.dstPort, 0xffff));
  setUdpLength(b, off, UDP_HLEN + uint('udp payloadLen', repr.payloadLen, 0xffff - UDP_HLEN));
  setUdpChecksum(b, off, uint('udp checksum', repr.checksum ?? 0, 0xffff));
  return UDP_HLEN;
}
