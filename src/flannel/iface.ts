// The node's external interface and PublicIP, found as flanneld's
// LookupExtIface finds them:
//  - --iface, in order: an interface name, or an address (the interface that
//    holds it); the first that exists and has an IPv4 address wins;
//  - then each --iface-regex, in order: the first IPv4 address, in link
//    order, that it matches (that address is used), else the first interface
//    whose name it matches; unanchored, as Go's MatchString;
//  - then --iface-can-reach: the interface and source address of the route
//    to that address (`ip route get`);
//  - with none of these three, the interface of the default route;
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

/** One route of `ip -j -4 route show default`, or of `ip -j -4 route get ADDR`. */
export interface IpRoute {
  readonly dev?: string;
  readonly prefsrc?: string;
}

export interface IfaceChoice {
  readonly ifaces: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string | null;
  readonly publicIp: string | null;
}

const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * The pure part of the lookup: links, default routes and (for
 * --iface-can-reach) the route to that address, as iproute2 prints them.
 */
export function pickExternal(f: IfaceChoice, links: readonly IpLink[], defaults: readonly IpRoute[], reach: readonly IpRoute[] = []): ExternalInterface {
  const addrs = (l: IpLink): string[] => l.addr_info.flatMap((a) => (a.local === undefined ? [] : [a.local]));
  const found = (l: IpLink | undefined, addr: string | undefined): ExternalInterface | null =>
    l === undefined || addr === undefined ? null : { name: l.ifname, addr, mtu: l.mtu, publicIp: f.publicIp ?? addr };
  const byAddr = (ip: string): ExternalInterface | null => {
    const l = links.find((k) => addrs(k).includes(ip));
    return found(l, ip);
  };
  const byName = (name: string | undefined): ExternalInterface | null => {
    const l = links.find((k) => k.ifname === name);
    return found(l, l && addrs(l)[0]);
  };

  if (f.ifaces.length > 0 || f.ifaceRegex.length > 0 || f.ifaceCanReach !== null) {
    for (const want of f.ifaces) {
      const ext = IPV4_RE.test(want) ? byAddr(want) : byName(want);
      if (ext) return ext;
    }
    for (const text of f.ifaceRegex) {
      const re = new RegExp(text);
      for (const l of links) {
        const addr = addrs(l).find((a) => re.test(a));
        if (addr !== undefined) return found(l, addr)!;
      }
      const ext = byName(links.find((l) => re.test(l.ifname) && addrs(l).length > 0)?.ifname);
      if (ext) return ext;
    }
    if (f.ifaceCanReach !== null) {
      const r = reach[0];
      const l = links.find((k) => k.ifname === r?.dev);
      const ext = found(l, r?.prefsrc !== undefined && l && addrs(l).includes(r.prefsrc) ? r.prefsrc : l && addrs(l)[0]);
      if (ext) return ext;
    }
    const tried = [
      ...f.ifaces.map((i) => `--iface ${i}`),
      ...f.ifaceRegex.map((r) => `--iface-regex ${r}`),
      ...(f.ifaceCanReach === null ? [] : [`--iface-can-reach ${f.ifaceCanReach}`]),
    ].join(', ');
    const have = links.map((l) => `${l.ifname}:[${addrs(l).join(' ')}]`).join(', ');
    throw new VxtapError('E_ADDRESS', `no interface with an IPv4 address matches ${tried} (this host has ${have}): give the underlay interface (e.g. --iface eth0) or its address`);
  }
  if (f.publicIp !== null) {
    const ext = byAddr(f.publicIp);
    if (ext) return ext;
  }
  for (const r of defaults) {
    const ext = byName(r.dev);
    if (ext) return ext;
  }
  const what = defaults.length === 0 ? 'there is no IPv4 default route' : `the default route's interface ${defaults[0].dev ?? '?'} has no IPv4 address`;
  throw new VxtapError('E_ADDRESS', `cannot find the external interface: ${what}: give --iface (the underlay interface or its address) or --public-ip`);
}

/** Looks the interface up on this host (in this network namespace). */
export function findExternalInterface(f: IfaceChoice): ExternalInterface {
  const ip = (...args: string[]): unknown => JSON.parse(execFileSync('ip', ['-j', '-4', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) || '[]');
  let reach: IpRoute[] = [];
  if (f.ifaceCanReach !== null) {
    try {
      reach = ip('route', 'get', f.ifaceCanReach) as IpRoute[];
    } catch {
      // No route to it: reported with the other choices that did not match.
    }
  }
  return pickExternal(f, ip('address', 'show') as IpLink[], ip('route', 'show', 'default') as IpRoute[], reach);
}
