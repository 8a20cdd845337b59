// Finds the layers of a captured frame without allocating: outer Ethernet (or
// raw IP), IPv4/ARP, TCP/UDP/ICMP, then, inside VXLAN (UDP 4789, 8472 or the
// instance's own port) or the udp overlay (UDP 8285 or the instance's own
// port, a raw IPv4 packet as payload), the inner frame's layers. The capture filter runs it on every
// mirrored frame with a preallocated Int32Array; the decoder prints from it.
//
// A layer's offset is set only when its whole header is inside the captured
// bytes, so readers of a set offset need no further length checks. Where a
// header is cut off, TRUNC names it (tcpdump's "[|proto]").
import { getU16, getU24 } from '../wire/bytes.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, VLAN_HLEN, isVlanType } from '../wire/ethernet.js';
import { ARP_HLEN } from '../wire/arp.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_HLEN } from '../wire/ipv4.js';
import { UDP_HLEN } from '../wire/udp.js';
import { IANA_VXLAN_PORT, LINUX_VXLAN_PORT, VXLAN_HLEN } from '../wire/vxlan.js';
import { LINKTYPE_RAW } from './pcapng.js';

/**
 * flannel's udp backend: the UDP payload is the inner IPv4 packet itself.
 * (udp/overlay.ts has it too, but importing it would load the native addon.)
 */
const UDP_OVERLAY_PORT = 8285;
const TCP_HLEN = 20;
const ICMP_HLEN = 8;

// Per level (0 = outer, 1 = inside the encapsulation), STRIDE slots each:
/** Offset of the Ethernet header; -1 for raw IP or when cut off. */
export const ETH = 0;
/** EtherType after any VLAN tags (0x0800 for raw IP). */
export const TYPE = 1;
/** Offset of the complete IPv4 or ARP header. */
export const NET = 2;
/** IPv4 protocol number. */
export const PROTO = 3;
/** Offset of the complete TCP/UDP/ICMP header (first fragments only). */
export const L4 = 4;
export const STRIDE = 5;
// Whole-frame slots:
/** Levels found: 1, or 2 inside an encapsulation. */
export const LEVELS = 2 * STRIDE;
/** The VNI from the VXLAN header, or the VNI the frame was seen on; -1 if none. */
export const VNI = LEVELS + 1;
export const ENCAP = LEVELS + 2;
/** Offset of the VXLAN header or udp-overlay payload. */
export const ENCAP_OFF = LEVELS + 3;
/** The header found cut off (a T_* code), or 0. */
export const TRUNC = LEVELS + 4;
const SLOTS = LEVELS + 5;

const ENCAP_NONE = 0;
export const ENCAP_VXLAN = 1;
export const ENCAP_UDP = 2;

const T_ETHER = 1;
const T_IP = 2;
const T_ARP = 3;
const T_UDP = 4;
const T_TCP = 5;
const T_ICMP = 6;
const T_VXLAN = 7;
export const TRUNC_NAMES = ['', 'ether', 'ip', 'arp', 'udp', 'tcp', 'icmp', 'vxlan'] as const;

export function newLayers(): Int32Array {
  return new Int32Array(SLOTS);
}

/**
 * Fills `L` with the layers of b[off, off+len). `vni` is the VNI the frame
 * was seen on (a TAP port's) or -1; `vxlanPort` is one more UDP port to read
 * as VXLAN, `overlayPort` one more to read as the udp overlay (0: none).
 */
export function dissect(
  b: Uint8Array, off: number, len: number, linktype: number, vxlanPort: number, vni: number, L: Int32Array, overlayPort = 0,
): void {
  L.fill(-1);
  L[LEVELS] = 1;
  L[VNI] = vni;
  L[ENCAP] = ENCAP_NONE;
  L[TRUNC] = 0;
  if (linktype === LINKTYPE_RAW) ipv4(b, off, off + len, 0, vxlanPort, overlayPort, L);
  else ethernet(b, off, off + len, 0, vxlanPort, overlayPort, L);
}

function ethernet(b: Uint8Array, p: number, end: number, level: number, vxlanPort: number, overlayPort: number, L: Int32Array): void {
  const s = level * STRIDE;
  if (end - p < ETH_HLEN) {
    L[TRUNC] = T_ETHER;
    return;
  }
  L[s + ETH] = p;
  let type = getU16(b, p + 12);
  p += ETH_HLEN;
  while (isVlanType(type)) {
    if (end - p < VLAN_HLEN) {
      L[TRUNC] = T_ETHER;
      return;
    }
    type = getU16(b, p + 2);
    p += VLAN_HLEN;
  }
  L[s + TYPE] = type;
  if (type === ETHERTYPE_IPV4) ipv4(b, p, end, level, vxlanPort, overlayPort, L);
  else if (type === ETHERTYPE_ARP) {
    if (end - p < ARP_HLEN) L[TRUNC] = T_ARP;
    else L[s + NET] = p;
  }
}

function ipv4(b: Uint8Array, p: number, end: number, level: number, vxlanPort: number, overlayPort: number, L: Int32Array): void {
  const s = level * STRIDE;
  if (end - p < 1) {
    L[TRUNC] = T_IP;
    return;
  }
  const version = b[p] >> 4;
  if (L[s + ETH] < 0) {
    // Raw IP (a TUN, the udp overlay): the version nibble is the only type field.
    L[s + TYPE] = version === 6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
    if (version === 6) return;
  }
  const ihl = (b[p] & 0x0f) * 4;
  if (version !== 4 || end - p < IPV4_HLEN || ihl < IPV4_HLEN || end - p < ihl) {
    L[TRUNC] = T_IP;
    return;
  }
  L[s + NET] = p;
  const proto = b[p + 9];
  L[s + PROTO] = proto;
  if ((getU16(b, p + 6) & 0x1fff) !== 0) return; // a later fragment: no transport header
  const q = p + ihl;
  // The datagram ends at its Total Length (Ethernet pads short frames), or where the capture does.
  end = Math.min(end, p + Math.max(getU16(b, p + 2), ihl));
  const need = proto === IPPROTO_TCP ? TCP_HLEN : proto === IPPROTO_UDP ? UDP_HLEN : proto === IPPROTO_ICMP ? ICMP_HLEN : 0;
  if (need === 0) return;
  if (end - q < need) {
    L[TRUNC] = proto === IPPROTO_TCP ? T_TCP : proto === IPPROTO_UDP ? T_UDP : T_ICMP;
    return;
  }
  L[s + L4] = q;
  if (proto !== IPPROTO_UDP || level !== 0) return;
  const sport = getU16(b, q);
  const dport = getU16(b, q + 2);
  const payload = q + UDP_HLEN;
  if (dport === IANA_VXLAN_PORT || dport === LINUX_VXLAN_PORT || (vxlanPort !== 0 && dport === vxlanPort)) {
    L[ENCAP] = ENCAP_VXLAN;
    L[ENCAP_OFF] = payload;
    if (end - payload < VXLAN_HLEN) {
      L[TRUNC] = T_VXLAN;
      return;
    }
    if (L[VNI] < 0) L[VNI] = getU24(b, payload + 4);
    L[LEVELS] = 2;
    ethernet(b, payload + VXLAN_HLEN, end, 1, vxlanPort, overlayPort, L);
  } else if (dport === UDP_OVERLAY_PORT || sport === UDP_OVERLAY_PORT || (overlayPort !== 0 && (dport === overlayPort || sport === overlayPort))) {
    L[ENCAP] = ENCAP_UDP;
    L[ENCAP_OFF] = payload;
    L[LEVELS] = 2;
    ipv4(b, payload, end, 1, vxlanPort, overlayPort, L);
  }
}
