// A flannel subnet lease: its key under `<prefix>/subnets/` and its JSON
// value, byte for byte as flanneld writes them, so that flanneld nodes read
// vxtap's leases and vxtap reads theirs.
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac } from '../wire/mac.js';
import type { Subnet } from './subnet.js';

/**
 * A lease's value, field for field as flannel's lease.LeaseAttrs marshals it.
 * Go writes the fields in declaration order; PublicIPv6 is a pointer without
 * omitempty, so an IPv4 node writes `"PublicIPv6":null`; the other three are
 * omitempty. flanneld's udp backend sets only PublicIP, so its leases read
 * `{"PublicIP":"192.0.2.7","PublicIPv6":null}`.
 */
export interface LeaseAttrs {
  readonly PublicIP: string;
  readonly PublicIPv6: string | null;
  readonly BackendType?: string;
  readonly BackendData?: unknown;
  readonly BackendV6Data?: unknown;
}

/** A lease as a store holds it. */
export interface Lease {
  readonly subnet: Subnet;
  readonly attrs: LeaseAttrs;
  /** A reservation is a key with no TTL: it never expires and is never renewed. */
  readonly reservation: boolean;
}

/** What a vxlan lease publishes: backend/vxlan's vxlanLeaseAttrs. */
export interface VxlanData {
  readonly vni: number;
  /** Lower-case `aa:bb:cc:dd:ee:ff`, as Go's net.HardwareAddr prints it. */
  readonly vtepMac: string;
}

/** `10.5.52.0-24`: flannel's MakeSubnetKey for an IPv4-only lease. */
export function subnetKey(s: Subnet): string {
  return `${formatIpv4Addr(s.addr)}-${s.len}`;
}

const KEY_RE = /^(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})-(\d{1,2})$/;

/**
 * The subnet of a key (the part after `subnets/`), or null for anything else:
 * a malformed key, one whose address has host bits set, or a dual-stack key
 * (`...&fd00::-64`), which an IPv4-only cluster does not hold.
 */
export function parseSubnetKey(key: string): Subnet | null {
  const m = KEY_RE.exec(key);
  if (m === null || Number(m[2]) > 32) return null;
  let addr: number;
  try {
    addr = parseIpv4Addr(m[1]);
  } catch {
    return null;
  }
  const len = Number(m[2]);
  const host = len === 32 ? 0 : addr % 2 ** (32 - len);
  return host === 0 ? { addr, len } : null;
}

export function vxlanAttrs(publicIp: string, d: VxlanData): LeaseAttrs {
  return { PublicIP: publicIp, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: d.vni, VtepMAC: d.vtepMac.toLowerCase() } };
}

export function udpAttrs(publicIp: string): LeaseAttrs {
  return { PublicIP: publicIp, PublicIPv6: null };
}

/** The JSON flanneld writes: Go's field order, omitempty fields left out. */
export function encodeAttrs(a: LeaseAttrs): string {
  const out: Record<string, unknown> = { PublicIP: a.PublicIP, PublicIPv6: a.PublicIPv6 };
  if (a.BackendType) out.BackendType = a.BackendType;
  if (a.BackendData !== undefined && a.BackendData !== null) out.BackendData = a.BackendData;
  if (a.BackendV6Data !== undefined && a.BackendV6Data !== null) out.BackendV6Data = a.BackendV6Data;
  return JSON.stringify(out);
}

/**
 * Checks a parsed lease value; throws an Error saying what is wrong. A value
 * without a usable IPv4 PublicIP cannot be routed to, so it is refused (the
 * stores skip such keys, as flanneld skips "bad subnet nodes").
 */
export function checkAttrs(v: unknown): LeaseAttrs {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('the value is not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.PublicIP !== 'string') throw new Error('PublicIP is missing');
  parseIpv4Addr(o.PublicIP);
  if (o.PublicIPv6 !== undefined && o.PublicIPv6 !== null && typeof o.PublicIPv6 !== 'string') throw new Error('PublicIPv6 is not a string');
  if (o.BackendType !== undefined && typeof o.BackendType !== 'string') throw new Error('BackendType is not a string');
  const a: LeaseAttrs = {
    PublicIP: o.PublicIP,
    PublicIPv6: (o.PublicIPv6 as string | null | undefined) ?? null,
    ...(o.BackendType !== undefined && { BackendType: o.BackendType as string }),
    ...(o.BackendData !== undefined && o.BackendData !== null && { BackendData: o.BackendData }),
    ...(o.BackendV6Data !== undefined && o.BackendV6Data !== null && { BackendV6Data: o.BackendV6Data }),
  };
  if (a.BackendType === 'vxlan') vxlanData(a);
  return a;
}

/** Parses a lease value; throws an Error saying what is wrong. */
export function decodeAttrs(text: string): LeaseAttrs {
  return checkAttrs(JSON.parse(text));
}

/** The VTEP a vxlan lease publishes; throws if its BackendData is unusable. */
export function vxlanData(a: LeaseAttrs): VxlanData {
  const d = a.BackendData as { VNI?: unknown; VtepMAC?: unknown } | undefined;
  if (typeof d !== 'object' || d === null) throw new Error('BackendData is missing from a vxlan lease');
  if (!Number.isInteger(d.VNI)) throw new Error('BackendData.VNI is not an integer');
  if (typeof d.VtepMAC !== 'string') throw new Error('BackendData.VtepMAC is missing');
  return { vni: d.VNI as number, vtepMac: formatMac(parseMac(d.VtepMAC)) };
}
