// Frames built from parts with the wire codecs, for the capture tests: every
// header written in full, IPv4 and ICMP checksums correct, so tshark decodes
// them as it would real traffic.
import { ARP_HLEN, emitArp } from '../../src/wire/arp.js';
import { checksumAdd, checksumFold } from '../../src/wire/checksum.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HLEN, emitEthernet } from '../../src/wire/ethernet.js';
import { setIcmpChecksum } from '../../src/wire/icmp.js';
import { parseIpv4Addr, parseIpv6Addr } from '../../src/wire/ipaddr.js';
import { IPPROTO_ICMPV6, IPV6_HLEN, emitIpv6 } from '../../src/wire/ipv6.js';
import { ICMPV6_NEIGHBOR_SOLICIT, type NdOptionRepr, emitNd, icmpv6Checksum, ndBufferLen } from '../../src/wire/ndisc.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_HLEN, emitIpv4 } from '../../src/wire/ipv4.js';
import { parseMac } from '../../src/wire/mac.js';
import { UDP_HLEN, emitUdp } from '../../src/wire/udp.js';
import { VXLAN_FLAG_I, VXLAN_HLEN, emitVxlan } from '../../src/wire/vxlan.js';

export function ethernet(src: string, dst: string, ethertype: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(ETH_HLEN + payload.length);
  emitEthernet({ src: parseMac(src), dst: parseMac(dst), ethertype }, b, 0);
  payload.copy(b, ETH_HLEN);
  return b;
}

export function ipv4(src: string, dst: string, protocol: number, payload: Buffer, id = 0): Buffer {
  const b = Buffer.alloc(IPV4_HLEN + payload.length);
  emitIpv4({ src: parseIpv4Addr(src), dst: parseIpv4Addr(dst), protocol, ttl: 64, tos: 0, id, dontFragment: true, payloadLen: payload.length }, b, 0);
  payload.copy(b, IPV4_HLEN);
  return b;
}

export function udp(sport: number, dport: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(UDP_HLEN + payload.length);
  emitUdp({ srcPort: sport, dstPort: dport, payloadLen: payload.length }, b, 0);
  payload.copy(b, UDP_HLEN);
  return b;
}

export function tcp(o: { sport: number; dport: number; seq: number; ack: number; flags: number; win: number; payload?: Buffer }): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const b = Buffer.alloc(20 + payload.length);
  b.writeUInt16BE(o.sport, 0);
  b.writeUInt16BE(o.dport, 2);
  b.writeUInt32BE(o.seq, 4);
  b.writeUInt32BE(o.ack, 8);
  b[12] = 5 << 4;
  b[13] = o.flags;
  b.writeUInt16BE(o.win, 14);
  payload.copy(b, 20);
  return b;
}

export function icmp(type: number, code: number, rest: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b[0] = type;
  b[1] = code;
  b.writeUInt32BE(rest >>> 0, 4);
  payload.copy(b, 8);
  b.writeUInt16BE(checksumFold(checksumAdd(b, 0, b.length, 0)), 2);
  return b;
}

/** An ICMP echo request (8) or reply (0) with ping's 56 data bytes: 64 bytes in all. */
export function echo(type: 0 | 8, id: number, seq: number): Buffer {
  return icmp(type, 0, (id << 16) | seq, Buffer.alloc(56, 0x42));
}

export function arp(op: number, sha: string, spa: string, tha: string, tpa: string): Buffer {
  const b = Buffer.alloc(ARP_HLEN);
  emitArp({ op, sha: parseMac(sha), spa: parseIpv4Addr(spa), tha: parseMac(tha), tpa: parseIpv4Addr(tpa) }, b, 0);
  return b;
}

/** An IPv6 packet around an NS or NA (ndisc.ts), checksum right; the hop limit ND requires unless told. */
export function ndisc(src: string, dst: string, o: { target: string; type?: number; flags?: number; options?: NdOptionRepr[]; hopLimit?: number }): Buffer {
  const nd = { type: o.type ?? ICMPV6_NEIGHBOR_SOLICIT, flags: o.flags ?? 0, target: parseIpv6Addr(o.target), options: o.options ?? [] };
  const len = ndBufferLen(nd);
  const b = Buffer.alloc(IPV6_HLEN + len);
  emitIpv6({ trafficClass: 0, flowLabel: 0, payloadLen: len, nextHeader: IPPROTO_ICMPV6, hopLimit: o.hopLimit ?? 255, src: parseIpv6Addr(src), dst: parseIpv6Addr(dst) }, b, 0);
  emitNd(nd, b, IPV6_HLEN);
  setIcmpChecksum(b, IPV6_HLEN, icmpv6Checksum(b, 0, len));
  return b;
}

export function vxlan(vni: number, inner: Buffer, flags = VXLAN_FLAG_I): Buffer {
  const b = Buffer.alloc(VXLAN_HLEN + inner.length);
  emitVxlan({ vni, flags }, b, 0);
  inner.copy(b, VXLAN_HLEN);
  return b;
}

/** A whole outer frame: Ethernet, IPv4, UDP and the payload given. */
export function outer(o: { smac: string; dmac: string; src: string; dst: string; sport: number; dport: number }, payload: Buffer): Buffer {
  return ethernet(o.smac, o.dmac, ETHERTYPE_IPV4, ipv4(o.src, o.dst, IPPROTO_UDP, udp(o.sport, o.dport, payload)));
}

export { ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP };
