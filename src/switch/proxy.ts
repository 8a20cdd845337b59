// The ARP/ND proxy of one VNI, like the kernel vxlan device's `proxy`
// option (vxlan_core.c: arp_reduce, neigh_reduce, vxlan_na_create): an ARP
// request or an IPv6 Neighbor Solicitation read from a local TAP whose
// target is in the neighbour table is answered on that TAP, and goes no
// further. The reply is written over the request, in its own slot of the
// receive batch (preallocated, room for a whole frame): nothing is allocated.
//
// As the kernel:
// - the reply comes from the entry's MAC; an ARP reply goes to the request's
//   sender hardware address, an NA to the source link-layer address option,
//   else to the frame's source MAC; the NA has S and O set, R clear (the
//   kernel takes R from an FDB flag vxtap does not have), hop limit 255, the
//   request's priority bits and a target link-layer address option;
// - a target whose MAC the FDB holds on a local port is not answered: the
//   host behind that port answers for itself;
// - loopback and multicast targets are not answered.
// Where vxtap departs, on purpose:
// - a request that is not answered goes on as it would without the proxy
//   (flooded, or to its unicast destination) and counts as a miss. The
//   kernel drops it, and every other ARP frame, when proxy is on;
// - an NS is checked by RFC 4861 section 7.1.1's rules first (ndisc.ts:
//   hop limit 255, checksum, code, options, the DAD rules); one that fails
//   them is not answered, goes on, and counts as invalid. The kernel checks
//   none of these, and walks the options without bounding them by the packet;
// - a duplicate address detection NS (unspecified source) is answered as
//   RFC 4861 section 7.2.4 says: S clear, to all-nodes ff02::1
//   (33:33:00:00:00:01). The kernel answers it with S set to the
//   unspecified address, which the soliciting host never takes as an answer.
import {
  ARP_HLEN, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_SHA, ARP_SPA, ARP_THA, ARP_TPA, arpCheck, getArpOper, setArpOper,
} from '../wire/arp.js';
import { getI32, setU16, setU32 } from '../wire/bytes.js';
import { ETH_DST, ETH_HLEN, ETH_SRC, ETH_TYPE, ETHERTYPE_ARP, ETHERTYPE_IPV6 } from '../wire/ethernet.js';
import { setIcmpChecksum, setIcmpCode, setIcmpType } from '../wire/icmp.js';
import {
  getIpv6PayloadLength, IPPROTO_ICMPV6, IPV6_DST, IPV6_HLEN, IPV6_NEXT_HEADER, IPV6_SRC, isIpv6Loopback,
  isIpv6Unspecified, setIpv6HopLimit, setIpv6NextHeader, setIpv6PayloadLength,
} from '../wire/ipv6.js';
import { macHi, macLo, writeMacParts } from '../wire/mac.js';
import {
  ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, icmpv6Checksum, NA_FLAG_OVERRIDE, NA_FLAG_SOLICITED, ND_FLAGS,
  ND_HOP_LIMIT, ND_LLADDR_OPT_LEN, ND_MSG_LEN, ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR, ND_OPTIONS, ND_TARGET,
  ndOption, nsCheck, setNdFlags,
} from '../wire/ndisc.js';
import { type Fdb, NO_PORT } from './fdb.js';
import { type NeighTable } from './neigh.js';

// Counters, indexes into NeighProxy.counters.
export const ARP_REPLIES = 0;
export const ARP_MISSES = 1;
export const ND_REPLIES = 2;
export const ND_MISSES = 3;
export const ND_INVALID = 4;
/** Their names in `vxtap stats` and /metrics, by index. */
export const PROXY_COUNTER_NAMES = ['arp_replies', 'arp_misses', 'nd_replies', 'nd_misses', 'nd_invalid'] as const;

/** An NA: its fixed part and one target link-layer address option. */
const NA_LEN = ND_MSG_LEN + ND_LLADDR_OPT_LEN;
const ARP_REPLY_FRAME = ETH_HLEN + ARP_HLEN;
const NA_FRAME = ETH_HLEN + IPV6_HLEN + NA_LEN;
/** The smallest frame that can hold an NS. */
const NS_FRAME_MIN = ETH_HLEN + IPV6_HLEN + ND_MSG_LEN;
/** 33:33:00:00:00:01, the MAC of ff02::1 (RFC 2464 section 7), as macHi/macLo parts. */
const ALL_NODES_MAC_HI = 0x3333;
const ALL_NODES_MAC_LO = 1;
/** ff02::1, the all-nodes address, first word (the last is 1, the others 0). */
const ALL_NODES_W0 = 0xff020000;

export class NeighProxy {
  readonly counters = new Float64Array(PROXY_COUNTER_NAMES.length);

  constructor(private readonly table: NeighTable, private readonly fdb: Fdb) {}

  /**
   * Looks at the frame b[off, +len) read from a local TAP. Returns the length
   * of the reply written over it (send it back to that TAP), or 0: forward
   * the frame as if there were no proxy.
   */
  answer(b: Buffer, off: number, len: number): number {
    const type = (b[off + ETH_TYPE] << 8) | b[off + ETH_TYPE + 1];
    if (type === ETHERTYPE_ARP) return this.arp(b, off, len);
    const ip = off + ETH_HLEN;
    if (type === ETHERTYPE_IPV6 && len >= NS_FRAME_MIN && b[ip + IPV6_NEXT_HEADER] === IPPROTO_ICMPV6 && b[ip + IPV6_HLEN] === ICMPV6_NEIGHBOR_SOLICIT) {
      return this.nd(b, off, len);
    }
    return 0;
  }

  /** The table's slot for a target whose MAC is not behind a local port, or -1. */
  private remoteTarget(slot: number): number {
    if (slot < 0) return -1;
    const f = this.fdb.find(this.table.macHi[slot], this.table.macLo[slot]);
    return f >= 0 && this.fdb.port[f] !== NO_PORT ? -1 : slot;
  }

  private arp(b: Buffer, off: number, len: number): number {
    const a = off + ETH_HLEN;
    if (arpCheck(b, a, len - ETH_HLEN) !== 0 || getArpOper(b, a) !== ARP_OP_REQUEST) return 0;
    const spa = getI32(b, a + ARP_SPA);
    const tpa = getI32(b, a + ARP_TPA);
    const first = tpa >>> 24;
    // 127/8 and 224/4, as the kernel's ipv4_is_loopback and ipv4_is_multicast.
    const slot = first === 127 || (first & 0xf0) === 0xe0 ? -1 : this.remoteTarget(this.table.find4(tpa));
    if (slot < 0) {
      this.counters[ARP_MISSES]++;
      return 0;
    }
    const hi = this.table.macHi[slot];
    const lo = this.table.macLo[slot];
    const shaHi = macHi(b, a + ARP_SHA);
    const shaLo = macLo(b, a + ARP_SHA);
    writeMacParts(b, off + ETH_DST, shaHi, shaLo);
    writeMacParts(b, off + ETH_SRC, hi, lo);
    // The type, lengths and ETHERTYPE_ARP stay as arpCheck found them.
    setArpOper(b, a, ARP_OP_REPLY);
    writeMacParts(b, a + ARP_SHA, hi, lo);
    setU32(b, a + ARP_SPA, tpa);
    writeMacParts(b, a + ARP_THA, shaHi, shaLo);
    setU32(b, a + ARP_TPA, spa);
    this.counters[ARP_REPLIES]++;
    return ARP_REPLY_FRAME;
  }

  private nd(b: Buffer, off: number, len: number): number {
    const ip = off + ETH_HLEN;
    if (nsCheck(b, ip, len - ETH_HLEN) !== 0) {
      this.counters[ND_INVALID]++;
      return 0;
    }
    const icmp = ip + IPV6_HLEN;
    const target = icmp + ND_TARGET;
    const slot = isIpv6Loopback(b, ip + IPV6_DST) ? -1 : this.remoteTarget(this.table.find6(b, target));
    if (slot < 0) {
      this.counters[ND_MISSES]++;
      return 0;
    }
    const dad = isIpv6Unspecified(b, ip + IPV6_SRC);
    // Where the NA goes: the source link-layer address option, else the frame's source.
    const sll = ndOption(b, icmp, getIpv6PayloadLength(b, ip), ND_OPT_SOURCE_LLADDR);
    const to = sll >= 0 ? sll + 2 : off + ETH_SRC;
    const toHi = dad ? ALL_NODES_MAC_HI : macHi(b, to);
    const toLo = dad ? ALL_NODES_MAC_LO : macLo(b, to);
    const hi = this.table.macHi[slot];
    const lo = this.table.macLo[slot];

    writeMacParts(b, off + ETH_DST, toHi, toLo);
    writeMacParts(b, off + ETH_SRC, hi, lo);
    // IPv6: the request's priority (the traffic class's upper 4 bits), no flow label.
    b[ip] = 0x60 | (b[ip] & 0x0f);
    b[ip + 1] = 0;
    setU16(b, ip + 2, 0);
    setIpv6PayloadLength(b, ip, NA_LEN);
    setIpv6NextHeader(b, ip, IPPROTO_ICMPV6);
    setIpv6HopLimit(b, ip, ND_HOP_LIMIT);
    // Destination: the solicitation's source, or all-nodes. Then the source: the target.
    if (dad) {
      setU32(b, ip + IPV6_DST, ALL_NODES_W0);
      b.fill(0, ip + IPV6_DST + 4, ip + IPV6_DST + 15);
      b[ip + IPV6_DST + 15] = 1;
    } else {
      b.copyWithin(ip + IPV6_DST, ip + IPV6_SRC, ip + IPV6_DST);
    }
    b.copyWithin(ip + IPV6_SRC, target, target + 16);
    // The NA: the target stays where the NS had it.
    setIcmpType(b, icmp, ICMPV6_NEIGHBOR_ADVERT);
    setIcmpCode(b, icmp, 0);
    setIcmpChecksum(b, icmp, 0);
    setNdFlags(b, icmp, dad ? NA_FLAG_OVERRIDE : NA_FLAG_SOLICITED | NA_FLAG_OVERRIDE);
    b.fill(0, icmp + ND_FLAGS + 1, icmp + ND_TARGET);
    const opt = icmp + ND_OPTIONS;
    b[opt] = ND_OPT_TARGET_LLADDR;
    b[opt + 1] = ND_LLADDR_OPT_LEN / 8;
    writeMacParts(b, opt + 2, hi, lo);
    setIcmpChecksum(b, icmp, icmpv6Checksum(b, ip, NA_LEN));
    this.counters[ND_REPLIES]++;
    return NA_FRAME;
  }
}
