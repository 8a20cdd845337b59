// Super-frames inside VXLAN. A kernel VTEP hands its vxlan device TSO and
// USO packets whole; where the underlay is a veth or a bridge (containers,
// VMs on one host), the packet crosses it still whole (SKB_GSO_UDP_TUNNEL),
// and a plain UDP socket receives it as one datagram: one VXLAN header in
// front of an inner frame of up to 64 KiB. The kernel's vxlan socket would
// keep it as a GSO packet; vxtap does the same by handing it to its TAP with
// a GSO virtio-net header (or splitting it for a TAP without one).
//
// With UDP_GRO the socket also reports a USO packet's segment size as if the
// datagram were a GRO train of VXLAN datagrams. The two are told apart by
// the inner IP length: in a train, the first inner packet ends where the
// first datagram does; in a super-frame, it ends where the whole datagram
// does.
import { ETH_HLEN, ETH_TYPE, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/**
 * The length an untagged IPv4 or IPv6 Ethernet frame at b[off, +len) claims:
 * the Ethernet header plus the IP total length (IPv6: 40 plus the payload
 * length). 0 for another frame, or one too short to say.
 */
export function ipFrameLength(b: Uint8Array, off: number, len: number): number {
  if (len < ETH_HLEN + 40) return 0; // enough for either header
  const type = (b[off + ETH_TYPE] << 8) | b[off + ETH_TYPE + 1];
  const ip = off + ETH_HLEN;
  if (type === ETHERTYPE_IPV4 && b[ip] >> 4 === 4) return ETH_HLEN + ((b[ip + 2] << 8) | b[ip + 3]);
  if (type === ETHERTYPE_IPV6 && b[ip] >> 4 === 6) return ETH_HLEN + 40 + ((b[ip + 4] << 8) | b[ip + 5]);
  return 0;
}

/**
 * The payload size to cut a TCP or UDP super-frame b[off, ...) into for a
 * port of this MTU: TCP segments that fill the MTU, UDP datagrams as their
 * sender cut them (`udpSize`, the segment size the socket reported). 0 where
 * there is none: not TCP/UDP over IPv4/IPv6, or UDP with no size known.
 * The frame must hold its IP and L4 headers (a super-frame does).
 */
export function superFrameSegment(b: Uint8Array, off: number, mtu: number, udpSize: number): number {
  const type = (b[off + ETH_TYPE] << 8) | b[off + ETH_TYPE + 1];
  const ip = off + ETH_HLEN;
  let l4: number;
  let proto: number;
  if (type === ETHERTYPE_IPV4) {
    l4 = ip + (b[ip] & 0x0f) * 4;
    proto = b[ip + 9];
  } else if (type === ETHERTYPE_IPV6) {
    l4 = ip + 40;
    proto = b[ip + 6];
  } else {
    return 0;
  }
  if (proto === IPPROTO_UDP) return udpSize;
  if (proto !== IPPROTO_TCP) return 0;
  const size = mtu - (l4 - ip) - (b[l4 + 12] >> 4) * 4;
  return size > 0 ? size : 0;
}
