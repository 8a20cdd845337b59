// The outer UDP source port carries entropy from the inner flow so that
// underlay ECMP and RSS spread VXLAN traffic (RFC 7348 section 5: "it is
// recommended that the UDP source port number be calculated using a hash of
// fields from the inner packet"). Like the kernel's flow dissector, the hash
// covers the IPv4/IPv6 addresses, the protocol and, for TCP/UDP/SCTP that is
// not a non-first fragment, the ports; frames without an IP header hash their
// MAC addresses and EtherType. One VLAN tag is looked through.
//
// Cost: IPv6 extension headers are not walked, so flows behind them hash by
// address and next header only.

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100;
const ETHERTYPE_QINQ = 0x88a8;

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function word(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132;
}

/** A 32-bit hash of the inner frame's flow; `len` bounds every read. */
export function flowHash(b: Uint8Array, off: number, len: number): number {
  const end = off + len;
  let p = off + 12;
  let type = (b[p] << 8) | b[p + 1];
  if ((type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && p + 6 <= end) {
    p += 4;
    type = (b[p] << 8) | b[p + 1];
  }
  p += 2;
  if (type === ETHERTYPE_IPV4 && p + 20 <= end) {
    const ihl = (b[p] & 0x0f) * 4;
    const proto = b[p + 9];
    let h = mix(mix(mix(0x5bd1e995, word(b, p + 12)), word(b, p + 16)), proto);
    const fragOffset = ((b[p + 6] & 0x1f) << 8) | b[p + 7];
    if (hasPorts(proto) && fragOffset === 0 && p + ihl + 4 <= end) h = mix(h, word(b, p + ihl));
    return finish(h);
  }
  if (type === ETHERTYPE_IPV6 && p + 40 <= end) {
    const next = b[p + 6];
    let h = mix(0x27d4eb2f, next);
    for (let o = p + 8; o < p + 40; o += 4) h = mix(h, word(b, o));
    if (hasPorts(next) && p + 44 <= end) h = mix(h, word(b, p + 40));
    return finish(h);
  }
  let h = mix(mix(mix(0x165667b1, word(b, off)), word(b, off + 4)), word(b, off + 8));
  return finish(mix(h, type));
}

/**
 * Maps a flow hash into [min, max] (both inclusive) by multiply-shift, which
 * keeps the spread even without a modulo.
 */
export function sourcePort(hash: number, min: number, max: number): number {
  return min + Math.floor((hash * (max - min + 1)) / 0x100000000);
}
