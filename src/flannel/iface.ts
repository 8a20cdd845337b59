// The node's external interface and PublicIP, found as flanneld's
// LookupExtIface finds them:
//  - --iface, in order: an interface name, or an address (the interface that
//    holds it); the first that exists and has an IPv4 address wins;
//  - else the interface of the default route;
//  - the PublicIP is --public-ip, else that interface's first IPv4 address.
// vxtap binds its UDP socket to the interface's address and sends from it, and
// sizes its device from the interface's MTU.
//
// One departure, for labs: with --public-ip and no --iface, the interface
// that holds the PublicIP is used before the default route's, so a namespace
// with no default route needs only --public-ip.
import { execFileSync } from 'node:child_process';
import { VxtapError } from '../core/errors.js';

export interface ExternalInterface {
  readonly name: string;
  /** Its first IPv4 address: what vxtap binds and sends from. */
  readonly addr: string;
  readonly mtu: number;
  /** What the lease publishes. */
  readonly publicIp: string;
}

/** One link of `ip -j -4 address show`. */
export interface IpLink {
  readonly ifname: string;
  readonly mtu: number;
  readonly addr_info: ReadonlyArray<{ readonly local?: string }>;
}

/** One route of `ip -j -4 route show default`. */
export interface IpRoute {
  readonly dev?: string;
}

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The pure part of the lookup: links and default routes as iproute2 prints them. */
export function pickExternal(
  f: { readonly ifaces: readonly string[]; readonly publicIp: string | null },
  links: readonly IpLink[],
  defaults: readonly IpRoute[],
): ExternalInterface {
  const firstAddr = (l: IpLink): string | undefined => l.addr_info.find((a) => a.local !== undefined)?.local;
  const found = (l: IpLink, addr: string | undefined): ExternalInterface | null =>
    addr === undefined ? null : { name: l.ifname, addr, mtu: l.mtu, publicIp: f.publicIp ?? addr };
  const byAddr = (ip: string): ExternalInterface | null => {
    const l = links.find((k) => k.addr_info.some((a) => a.local === ip));
    return l ? found(l, ip) : null;
  };

  if (f.ifaces.length > 0) {
    for (const want of f.ifaces) {
      const l = IPV4_RE.test(want) ? undefined : links.find((k) => k.ifname === want);
      const ext = IPV4_RE.test(want) ? byAddr(want) : l ? found(l, firstAddr(l)) : null;
      if (ext) return ext;
    }
    const names = f.ifaces.join(', ');
    throw new VxtapError('E_ADDRESS', `--iface: none of ${names} is an interface with an IPv4 address, or such an address, on this host: give the underlay interface (e.g. eth0) or its address`);
  }
  if (f.publicIp !== null) {
    const ext = byAddr(f.publicIp);
    if (ext) return ext;
  }
  for (const r of defaults) {
    const l = links.find((k) => k.ifname === r.dev);
    const ext = l && found(l, firstAddr(l));
    if (ext) return ext;
  }
  const what = defaults.length === 0 ? 'there is no IPv4 default route' : `the default route's interface ${defaults[0].dev ?? '?'} has no IPv4 address`;
  throw new VxtapError('E_ADDRESS', `cannot find the external interface: ${what}: give --iface (the underlay interface or its address) or --public-ip`);
}

/** Looks the interface up on this host (in this network namespace). */
export function findExternalInterface(f: { readonly ifaces: readonly string[]; readonly publicIp: string | null }): ExternalInterface {
  const ip = (...args: string[]): unknown => JSON.parse(execFileSync('ip', ['-j', '-4', ...args], { encoding: 'utf8' }) || '[]');
  return pickExternal(f, ip('address', 'show') as IpLink[], ip('route', 'show', 'default') as IpRoute[]);
}
