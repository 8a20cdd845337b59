/**
 * IPv6 Neighbor Discovery (RFC 4861): Neighbor Solicitation and Neighbor
 * Advertisement over ICMPv6 (RFC 4443), and their options. The messages
 * begin with ICMP's 4-byte header (type, code, checksum: icmp.ts reads it).
 *
 * The options are attacker-chosen bytes that a parser walks by their own
 * length fields, which is where crafted ND packets have hurt stacks before:
 * `ndCheck` walks them once, bounded by the message, with a zero length, an
 * option running past the message, a cut-off option header and more than
 * ND_MAX_OPTIONS options each refused. Accessors and `ndOption` assume it
 * passed. `emitNd` writes every byte of the message; the checksum is the
 * caller's (`icmpv6Checksum`), since it covers the IPv6 addresses.
 */

import { assertValid, getI32 } from './bytes.js';
import { checksumAdd, checksumFold } from './checksum.js';
import { getIcmpChecksum, getIcmpCode, getIcmpType, setIcmpChecksum, setIcmpCode, setIcmpType } from './icmp.js';
import {
  getIpv6HopLimit, getIpv6NextHeader, getIpv6PayloadLength, IPPROTO_ICMPV6, ipv6Check, ipv6PseudoHeaderSum,
  IPV6_DST, IPV6_HLEN, IPV6_SRC, isIpv6Multicast, isIpv6Unspecified, readIpv6Addr, writeIpv6Addr,
} from './ipv6.js';
import { readMac, writeMac } from './mac.js';

/*
 * RFC 4861 sections 4.3 and 4.4 (NA flags in the first reserved byte):
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |R|S|O|                     Reserved                            |   4
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                       Target Address                          +   8
 *  |                          (16 bytes)                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Options ...                                                    24
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-
 *
 * Section 4.6, each option:
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |    Length     |              ...              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length counts units of 8 bytes, type and length included.
 */
export const ND_FLAGS = 4;
export const ND_TARGET = 8;
export const ND_OPTIONS = 24;
/** An NS or NA without options. */
export const ND_MSG_LEN = 24;
/** A link-layer address option for Ethernet: type, length 1, 6-byte MAC (section 4.6.1). */
export const ND_LLADDR_OPT_LEN = 8;

export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ND_OPT_SOURCE_LLADDR = 1;
export const ND_OPT_TARGET_LLADDR = 2;

/** NA flags (byte 4): Router, Solicited, Override. */
export const NA_FLAG_ROUTER = 0x80;
export const NA_FLAG_SOLICITED = 0x40;
export const NA_FLAG_OVERRIDE = 0x20;

/** RFC 4861 section 7.1.1: "The IP Hop Limit field has a value of 255". */
export const ND_HOP_LIMIT = 255;
/**
 * Options walked before a message is refused. The RFC sets no limit; a real
 * NS carries up to three (source link-layer address, nonce, and a SEND or
 * future one), so this bounds the work a crafted one costs without refusing any.
 */
export const ND_MAX_OPTIONS = 16;

/** Shorter than 24 bytes. */
export const ND_ERR_TRUNCATED = 1;
/** "ICMP Code is 0" (7.1.1). */
export const ND_ERR_CODE = 2;
/** "All included options have a length that is greater than zero." */
export const ND_ERR_OPT_ZERO = 3;
/** An option (or its 2-byte header) runs past the end of the message. */
export const ND_ERR_OPT_TRUNCATED = 4;
/** More than ND_MAX_OPTIONS options. */
export const ND_ERR_OPT_MANY = 5;
/** A link-layer address option that is not 8 bytes (Ethernet's, 4.6.1). */
export const ND_ERR_OPT_LLADDR = 6;
// The reasons below are nsCheck's: the IPv6 packet around the message.
/** Not a valid IPv6 header, or its payload is not ICMPv6 (no extension header is walked). */
export const ND_ERR_IPV6 = 7;
/** Not a Neighbor Solicitation. */
export const ND_ERR_TYPE = 8;
/** The hop limit is not 255: the packet was forwarded, so it came from off the link. */
export const ND_ERR_HOP_LIMIT = 9;
/** The ICMPv6 checksum does not verify. */
export const ND_ERR_CHECKSUM = 10;
/** "Target Address is not a multicast address." */
export const ND_ERR_TARGET = 11;
/** Unspecified source (DAD) to other than a solicited-node address, or with a source link-layer address option. */
export const ND_ERR_DAD = 12;

/** Returns byte 4: the NA flags (R, S, O) and the first reserved bits. */
export function getNdFlags(b: Uint8Array, off: number): number {
  return b[off + ND_FLAGS];
}
/** Sets byte 4. */
export function setNdFlags(b: Uint8Array, off: number, v: number): void {
  b[off + ND_FLAGS] = v;
}

/**
 * Validates the NS or NA message at `off` with `len` bytes (the ICMPv6
 * length: the IPv6 payload length, not the frame's): its size, code, and
 * every option's bounds. Returns 0 or an ND_ERR_* reason.
 */
export function ndCheck(b: Uint8Array, off: number, len: number): number {
  if (len < ND_MSG_LEN) return ND_ERR_TRUNCATED;
  if (getIcmpCode(b, off) !== 0) return ND_ERR_CODE;
  const end = off + len;
  let n = 0;
  for (let p = off + ND_OPTIONS; p < end; n++) {
    if (n === ND_MAX_OPTIONS) return ND_ERR_OPT_MANY;
    if (end - p < 2) return ND_ERR_OPT_TRUNCATED;
    const size = b[p + 1] * 8;
    if (size === 0) return ND_ERR_OPT_ZERO;
    if (size > end - p) return ND_ERR_OPT_TRUNCATED;
    const type = b[p];
    if ((type === ND_OPT_SOURCE_LLADDR || type === ND_OPT_TARGET_LLADDR) && size !== ND_LLADDR_OPT_LEN) return ND_ERR_OPT_LLADDR;
    p += size;
  }
  return 0;
}

/** The offset of the first option of `type` in the message at `off` (`len` bytes, ndCheck passed), or -1. */
export function ndOption(b: Uint8Array, off: number, len: number, type: number): number {
  const end = off + len;
  for (let p = off + ND_OPTIONS; p < end; p += b[p + 1] * 8) {
    if (b[p] === type) return p;
  }
  return -1;
}

/** The ICMPv6 checksum to store for the `len`-byte message after the IPv6 header at `ip`, its checksum field taken as 0. */
export function icmpv6Checksum(b: Uint8Array, ip: number, len: number): number {
  const icmp = ip + IPV6_HLEN;
  const sum = checksumAdd(b, icmp, len, ipv6PseudoHeaderSum(b, ip, len, IPPROTO_ICMPV6)) - getIcmpChecksum(b, icmp);
  return checksumFold(sum);
}

/** Whether the solicited-node multicast prefix ff02::1:ff00:0/104 holds the address at `a` (RFC 4291 section 2.7.1). */
function isSolicitedNode(b: Uint8Array, a: number): boolean {
  return getI32(b, a) === (0xff020000 | 0) && getI32(b, a + 4) === 0 && getI32(b, a + 8) === 1 && b[a + 12] === 0xff;
}

/**
 * Validates a Neighbor Solicitation: the IPv6 packet at `ip` with `len`
 * bytes available (to the frame's end), by RFC 4861 section 7.1.1's rules,
 * on top of ndCheck's. The message is getIpv6PayloadLength bytes from
 * ip + IPV6_HLEN. Returns 0 or an ND_ERR_* reason.
 */
export function nsCheck(b: Uint8Array, ip: number, len: number): number {
  if (ipv6Check(b, ip, len) !== 0 || getIpv6NextHeader(b, ip) !== IPPROTO_ICMPV6) return ND_ERR_IPV6;
  const icmp = ip + IPV6_HLEN;
  const icmpLen = getIpv6PayloadLength(b, ip);
  if (icmpLen < ND_MSG_LEN) return ND_ERR_TRUNCATED;
  if (getIcmpType(b, icmp) !== ICMPV6_NEIGHBOR_SOLICIT) return ND_ERR_TYPE;
  const err = ndCheck(b, icmp, icmpLen);
  if (err !== 0) return err;
  if (getIpv6HopLimit(b, ip) !== ND_HOP_LIMIT) return ND_ERR_HOP_LIMIT;
  if (icmpv6Checksum(b, ip, icmpLen) !== getIcmpChecksum(b, icmp)) return ND_ERR_CHECKSUM;
  if (isIpv6Multicast(b, icmp + ND_TARGET)) return ND_ERR_TARGET;
  if (isIpv6Unspecified(b, ip + IPV6_SRC)) {
    if (!isSolicitedNode(b, ip + IPV6_DST) || ndOption(b, icmp, icmpLen, ND_OPT_SOURCE_LLADDR) >= 0) return ND_ERR_DAD;
  }
  return 0;
}

const REASONS = {
  [ND_ERR_TRUNCATED]: 'truncated (shorter than 24 bytes)',
  [ND_ERR_CODE]: 'code is not 0',
  [ND_ERR_OPT_ZERO]: 'an option has length 0',
  [ND_ERR_OPT_TRUNCATED]: 'an option runs past the message',
  [ND_ERR_OPT_MANY]: `more than ${ND_MAX_OPTIONS} options`,
  [ND_ERR_OPT_LLADDR]: 'a link-layer address option is not 8 bytes',
};

export interface NdOptionRepr {
  type: number;
  /** The option's bytes after type and length: 8 * length - 2 of them. */
  data: Uint8Array;
}

export interface NdRepr {
  /** ICMPV6_NEIGHBOR_SOLICIT or ICMPV6_NEIGHBOR_ADVERT. */
  type: number;
  /** Byte 4 (NA_FLAG_*; 0 for an NS). */
  flags: number;
  /** Four uint32 words. */
  target: number[];
  options: NdOptionRepr[];
}

/** Parses the message at `off` (`len` bytes); throws if `ndCheck` fails. The checksum is not checked (it needs the IPv6 header). */
export function parseNd(b: Uint8Array, off: number, len: number): NdRepr {
  assertValid('ndisc', ndCheck(b, off, len), REASONS);
  const options: NdOptionRepr[] = [];
  for (let p = off + ND_OPTIONS; p < off + len; p += b[p + 1] * 8) {
    options.push({ type: b[p], data: Uint8Array.from(b.subarray(p + 2, p + b[p + 1] * 8)) });
  }
  return { type: getIcmpType(b, off), flags: getNdFlags(b, off), target: readIpv6Addr(b, off + ND_TARGET), options };
}

/** The bytes `emitNd` writes for `repr`. */
export function ndBufferLen(repr: NdRepr): number {
  return repr.options.reduce((n, o) => n + 2 + o.data.length, ND_MSG_LEN);
}

/** Writes the message at `off`, checksum 0, every byte of it; returns ndBufferLen(repr). */
export function emitNd(repr: NdRepr, b: Uint8Array, off: number): number {
  for (const o of repr.options) {
    if ((o.data.length + 2) % 8 !== 0 || o.data.length + 2 > 255 * 8) throw new RangeError(`ndisc option ${o.type}: ${o.data.length + 2} bytes is not a multiple of 8 up to ${255 * 8}`);
  }
  setIcmpType(b, off, repr.type);
  setIcmpCode(b, off, 0);
  setIcmpChecksum(b, off, 0);
  b.fill(0, off + ND_FLAGS, off + ND_TARGET);
  setNdFlags(b, off, repr.flags);
  writeIpv6Addr(b, off + ND_TARGET, repr.target);
  let p = off + ND_OPTIONS;
  for (const o of repr.options) {
    b[p] = o.type;
    b[p + 1] = (o.data.length + 2) / 8;
    b.set(o.data, p + 2);
    p += o.data.length + 2;
  }
  return p - off;
}

/** A link-layer address option's data for MAC `mac` (Repr layer). */
export function lladdrOption(type: number, mac: number): NdOptionRepr {
  const data = new Uint8Array(ND_LLADDR_OPT_LEN - 2);
  writeMac(data, 0, mac);
  return { type, data };
}

/** The MAC of the link-layer address option at `p` (ndCheck passed). */
export function lladdrOf(b: Uint8Array, p: number): number {
  return readMac(b, p + 2);
}
