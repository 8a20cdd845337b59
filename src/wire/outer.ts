// The outer IPv4 + UDP header of a tunnelled packet (VXLAN, and capture's
// synthesized headers for both pipelines). VXLAN writes it into the send
// queue's per-message header area (not the packet's headroom) so that one
// payload can go to many VTEPs with a header each (head-end replication).
import {
  IPPROTO_UDP, IPV4_FLAG_DF, IPV4_HLEN, ipv4HeaderChecksum, setIpv4Checksum, setIpv4Dst, setIpv4Src,
  setIpv4TotalLength,
} from './ipv4.js';
import { UDP_HLEN, setUdpChecksum, setUdpDstPort, setUdpLength, setUdpSrcPort } from './udp.js';

export const OUTER_HLEN = IPV4_HLEN + UDP_HLEN;

/** The kernel's default TTL for unicast VXLAN (ip4_dst_hoplimit). */
const TTL = 64;

/**
 * Writes every byte of a 28-byte IPv4/UDP header at h[o]. `payloadLen` is
 * the VXLAN header plus the inner frame.
 *
 * - DF is set: RFC 7348 section 4.3, "VTEPs MUST NOT fragment VXLAN packets";
 *   an outer packet above the underlay MTU fails with EMSGSIZE and is counted.
 * - ID 0: the kernel picks one for IP_HDRINCL packets with a zero ID.
 * - UDP checksum 0: RFC 7348 section 5, "UDP Checksum: It SHOULD be
 *   transmitted as zero" over IPv4.
 */
export function writeOuterHeaders(
  h: Uint8Array, o: number, src: number, dst: number, sport: number, dport: number, payloadLen: number,
): void {
  h[o] = 0x45;
  h[o + 1] = 0;
  setIpv4TotalLength(h, o, OUTER_HLEN + payloadLen);
  h[o + 4] = 0;
  h[o + 5] = 0;
  h[o + 6] = IPV4_FLAG_DF >> 8;
  h[o + 7] = 0;
  h[o + 8] = TTL;
  h[o + 9] = IPPROTO_UDP;
  setIpv4Checksum(h, o, 0);
  setIpv4Src(h, o, src);
  setIpv4Dst(h, o, dst);
  setIpv4Checksum(h, o, ipv4HeaderChecksum(h, o));
  const u = o + IPV4_HLEN;
  setUdpSrcPort(h, u, sport);
  setUdpDstPort(h, u, dport);
  setUdpLength(h, u, UDP_HLEN + payloadLen);
  setUdpChecksum(h, u, 0);
}
