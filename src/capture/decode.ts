// One line per packet in the manner of tcpdump, for `vxtap decode`, `vxtap
// sniff` and `vxtap capture` without -w. An encapsulated packet reads outer ->
// inner:
//
//   09:15:01.123456 IP 198.51.100.1.50123 > 198.51.100.2.4789: VXLAN vni 42:
//     02:00:00:00:00:01 > 02:00:00:00:00:02, IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id 7, seq 1, length 64
//
// (on one line). Like tcpdump without -e, outer MACs are left out; the inner
// ones are shown, since in an overlay they are what the FDB switches on. A
// header cut off by the snap length or by a malformed packet ends the line
// with tcpdump's "[|proto]".
import { getU16, getU32 } from '../wire/bytes.js';
import { ARP_OP_REPLY, ARP_OP_REQUEST, ARP_OPER, ARP_SHA, ARP_SPA, ARP_TPA } from '../wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, ETH_SRC } from '../wire/ethernet.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC } from '../wire/ipv4.js';
import { formatMac, readMac } from '../wire/mac.js';
import { VXLAN_FLAG_I, hasReservedBits } from '../wire/vxlan.js';
import {
  ENCAP, ENCAP_OFF, ENCAP_UDP, ENCAP_VXLAN, ETH, L4, LEVELS, NET, PROTO, STRIDE, TRUNC, TRUNC_NAMES, TYPE,
  VNI, dissect, newLayers,
} from './dissect.js';
import type { Capture, Packet } from './pcapng.js';

const ICMP_NAMES: Record<number, string> = {
  0: 'echo reply', 3: 'unreachable', 4: 'source quench', 5: 'redirect', 8: 'echo request', 11: 'time exceeded',
  12: 'parameter problem',
};

/** tcpdump's order and letters (print-tcp.c): FIN SYN RST PSH ACK URG ECE CWR. */
const TCP_FLAGS: Array<[number, string]> = [
  [0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x10, '.'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'],
];

const L = newLayers();

/** The summary of one frame (everything after the timestamp). */
export function summarize(b: Buffer, origLen: number, linktype: number): string {
  dissect(b, 0, b.length, linktype, 0, -1, L);
  return level(b, origLen, 0);
}

/** Where the frame inside the encapsulation ends on the wire: the end of the outer IPv4 datagram. */
const innerEnd = (b: Buffer) => L[NET] + getU16(b, L[NET] + 2);

const ip = (b: Buffer, o: number) => formatIpv4Addr(getU32(b, o));
const mac = (b: Buffer, o: number) => formatMac(readMac(b, o));
const trunc = () => `[|${TRUNC_NAMES[L[TRUNC]]}]`;

/** The summary of level `lvl`, whose frame ends at `end` on the wire (it may be captured only in part). */
function level(b: Buffer, end: number, lvl: number): string {
  const s = lvl * STRIDE;
  const e = L[s + ETH];
  const type = L[s + TYPE];
  if (type < 0) return trunc();
  // Inner MACs always; outer ones only where nothing else names the frame.
  const macs = e >= 0 && (lvl > 0 || (type !== ETHERTYPE_IPV4 && type !== ETHERTYPE_ARP)) ? `${mac(b, e + ETH_SRC)} > ${mac(b, e)}, ` : '';
  const p = L[s + NET];
  if (type === ETHERTYPE_IPV4) return macs + (p < 0 ? trunc() : ipv4(b, s, lvl, p));
  if (type === ETHERTYPE_ARP) return `${macs}ARP, ${p < 0 ? trunc() : arp(b, p, end - p)}`;
  const payload = end - (e >= 0 ? e + ETH_HLEN : lvl === 0 ? 0 : L[ENCAP_OFF]);
  return macs + (type === ETHERTYPE_IPV6 ? `IP6, length ${payload}` : `ethertype 0x${type.toString(16).padStart(4, '0')}, length ${payload}`);
}

function ipv4(b: Buffer, s: number, lvl: number, p: number): string {
  const q = L[s + L4];
  const proto = L[s + PROTO];
  // Lengths come from the headers, as tcpdump's do, so a packet cut at the snap length reads the same.
  const end = p + getU16(b, p + 2);
  const src = ip(b, p + IPV4_SRC);
  const dst = ip(b, p + IPV4_DST);
  if (q < 0) {
    // No transport header: cut off, a later fragment, or a protocol not dissected.
    if (L[TRUNC] !== 0) return `IP ${src} > ${dst}: ${trunc()}`;
    const known = proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_ICMP;
    return `IP ${src} > ${dst}: ${known ? 'fragment' : `ip-proto-${proto}`}, length ${end - p - (b[p] & 0x0f) * 4}`;
  }
  if (proto === IPPROTO_ICMP) return `IP ${src} > ${dst}: ${icmp(b, q, end - q)}`;
  const ports = `IP ${src}.${getU16(b, q)} > ${dst}.${getU16(b, q + 2)}: `;
  if (proto === IPPROTO_TCP) return ports + tcp(b, q, end);
  if (lvl === 0 && L[ENCAP] === ENCAP_VXLAN) return ports + vxlan(b, L[ENCAP_OFF]);
  if (lvl === 0 && L[ENCAP] === ENCAP_UDP) return `${ports}UDP-overlay: ${level(b, innerEnd(b), 1)}`;
  return `${ports}UDP, length ${getU16(b, q + 4) - 8}`;
}

function vxlan(b: Buffer, v: number): string {
  if (L[LEVELS] < 2) return trunc();
  // Show the flags only when they are not the plain I flag, e.g. on packets dropped for them.
  const plain = b[v] === VXLAN_FLAG_I && !hasReservedBits(b, v);
  const head = plain ? `VXLAN vni ${L[VNI]}` : `VXLAN flags 0x${b[v].toString(16).padStart(2, '0')} vni ${L[VNI]}`;
  return `${head}: ${level(b, innerEnd(b), 1)}`;
}

function tcp(b: Buffer, q: number, end: number): string {
  const flags = b[q + 13];
  const seq = getU32(b, q + 4);
  const len = end - q - (b[q + 12] >> 4) * 4;
  const letters = TCP_FLAGS.filter(([bit]) => flags & bit).map(([, c]) => c).join('') || 'none';
  const seqs = len > 0 ? `${seq}:${(seq + len) >>> 0}` : `${seq}`;
  const ack = flags & 0x10 ? `, ack ${getU32(b, q + 8)}` : '';
  return `Flags [${letters}], seq ${seqs}${ack}, win ${getU16(b, q + 14)}, length ${Math.max(len, 0)}`;
}

function icmp(b: Buffer, q: number, len: number): string {
  const type = b[q];
  const name = ICMP_NAMES[type];
  if (type === 0 || type === 8) return `ICMP ${name}, id ${getU16(b, q + 4)}, seq ${getU16(b, q + 6)}, length ${len}`;
  return `ICMP ${name ?? `type ${type}`}, code ${b[q + 1]}, length ${len}`;
}

function arp(b: Buffer, p: number, len: number): string {
  const op = getU16(b, p + ARP_OPER);
  if (op === ARP_OP_REQUEST) return `Request who-has ${ip(b, p + ARP_TPA)} tell ${ip(b, p + ARP_SPA)}, length ${len}`;
  if (op === ARP_OP_REPLY) return `Reply ${ip(b, p + ARP_SPA)} is-at ${mac(b, p + ARP_SHA)}, length ${len}`;
  return `op ${op}, length ${len}`;
}

/** HH:MM:SS.ffffff in local time, with 9 digits for nanosecond captures. */
export function formatTime(sec: number, nsec: number, nano: boolean): string {
  const d = new Date(sec * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  const frac = nano ? String(nsec).padStart(9, '0') : String(Math.floor(nsec / 1000)).padStart(6, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${frac}`;
}

/** One output line: time, the capture point when there are several, the summary and any comment. */
export function packetLine(p: Packet, showIface: boolean): string {
  const time = formatTime(p.sec, p.nsec, p.iface.unitsPerSec > 1_000_000n);
  const where = showIface ? ` ${p.iface.name}` : '';
  const comment = p.comment === undefined ? '' : ` [comment: ${p.comment}]`;
  return `${time}${where} ${summarize(p.data, p.origLen, p.iface.linktype)}${comment}`;
}

export function decodeCapture(c: Capture): string[] {
  return c.packets.map((p) => packetLine(p, c.ifaces.length > 1));
}
