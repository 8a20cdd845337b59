// The ICMP "destination net unreachable" the UDP overlay writes back into its
// TUN when a packet has no route, as flannel's udp backend does: from the
// TUN's own address to the offender's source, TTL 8, carrying the offender's
// IP header and the first 8 bytes of its payload (RFC 792).
import { ICMP_DEST_UNREACH, ICMP_HLEN, ICMP_NET_UNREACH, icmpChecksum, setIcmpChecksum, setIcmpRest } from '../wire/icmp.js';
import {
  IPPROTO_ICMP, IPV4_HLEN, getIpv4FragOffset, getIpv4Ihl, getIpv4Protocol, getIpv4Src, ipv4HeaderChecksum,
  setIpv4Checksum, setIpv4Dst, setIpv4Src, setIpv4TotalLength,
} from '../wire/ipv4.js';

/** The largest reply: headers plus a 60-byte offender header and 8 bytes. */
export const UNREACHABLE_MAX = IPV4_HLEN + ICMP_HLEN + 60 + 8;

const TTL = 8;

/**
 * Whether an offending packet earns an ICMP error: never for ICMP itself
 * (RFC 792: no ICMP about ICMP, which also prevents loops) nor for a
 * fragment other than the first (RFC 1122 3.2.2).
 */
export function wantsUnreachable(pkt: Uint8Array, off: number): boolean {
  return getIpv4Protocol(pkt, off) !== IPPROTO_ICMP && getIpv4FragOffset(pkt, off) === 0;
}

/**
 * Writes the reply for the validated IPv4 packet pkt[off, +len) at out[o];
 * returns its length. Writes every byte of the reply.
 */
export function writeNetUnreachable(out: Uint8Array, o: number, pkt: Uint8Array, off: number, len: number, from: number): number {
  const quoted = Math.min(getIpv4Ihl(pkt, off) + 8, len);
  const total = IPV4_HLEN + ICMP_HLEN + quoted;
  out[o] = 0x45;
  out[o + 1] = 0;
  setIpv4TotalLength(out, o, total);
  out.fill(0, o + 4, o + 8); // ID 0, no flags, no fragment offset
  out[o + 8] = TTL;
  out[o + 9] = IPPROTO_ICMP;
  setIpv4Checksum(out, o, 0);
  setIpv4Src(out, o, from);
  setIpv4Dst(out, o, getIpv4Src(pkt, off));
  setIpv4Checksum(out, o, ipv4HeaderChecksum(out, o));
  const icmp = o + IPV4_HLEN;
  out[icmp] = ICMP_DEST_UNREACH;
  out[icmp + 1] = ICMP_NET_UNREACH;
  setIcmpRest(out, icmp, 0);
  out.set(pkt.subarray(off, off + quoted), icmp + ICMP_HLEN);
  setIcmpChecksum(out, icmp, 0);
  setIcmpChecksum(out, icmp, icmpChecksum(out, icmp, ICMP_HLEN + quoted));
  return total;
}
