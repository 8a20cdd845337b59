// IPv4 subnets as flannel handles them: a network address (host bits zero)
// and a prefix length. Addresses are uint32 numbers, as in src/wire/ipaddr.
import { formatIpv4Addr, parseCidr } from '../wire/ipaddr.js';

export interface Subnet {
  /** The network address as a uint32, host bits zero. */
  readonly addr: number;
  readonly len: number;
}

/** The netmask of a prefix length as a uint32 (`len` 0 is the empty mask). */
export function mask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Addresses in a subnet of this prefix length. */
export function subnetSize(len: number): number {
  return 2 ** (32 - len);
}

/**
 * Parses `a.b.c.d/len` and clears the host bits, as flannel's IP4Net does
 * (it keeps the network of Go's net.ParseCIDR): `10.5.1.7/16` is 10.5.0.0/16.
 */
export function parseSubnet(s: string): Subnet {
  const { addr, len } = parseCidr(s);
  return { addr: (addr & mask(len)) >>> 0, len };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIpv4Addr(s.addr)}/${s.len}`;
}

export function contains(net: Subnet, addr: number): boolean {
  return ((addr ^ net.addr) & mask(net.len)) === 0;
}

/** True when the subnets share an address: the shorter prefix contains the other. */
export function overlaps(a: Subnet, b: Subnet): boolean {
  return ((a.addr ^ b.addr) & mask(Math.min(a.len, b.len))) === 0;
}
