// The options of `docker network create -d vxtap -o KEY=VALUE ...`, as
// libnetwork hands them to the driver: a map of strings under
// com.docker.network.generic. Each mistake is one line that names the option
// and the fix; Docker shows it to the user of `docker network create` as
// `Error response from daemon: remote: LINE`.
import { VxtapError } from '../core/errors.js';
import { IANA_VXLAN_PORT, VNI_MAX } from '../wire/vxlan.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';

/** Where libnetwork puts the user's -o options in CreateNetwork's Options. */
export const GENERIC = 'com.docker.network.generic';
/** Docker's own option for a network's MTU (the bridge driver takes it too). */
export const MTU_OPTION = 'com.docker.network.driver.mtu';

/** Flood-list entries one network may have: a remote per host of the network. */
export const MAX_REMOTES = 256;
/** Options one network may have, and the longest value: a request is bounded. */
export const MAX_OPTIONS = 16;
export const MAX_VALUE_CHARS = 4096;
/** IPv4's minimum MTU (RFC 791). */
const MIN_MTU = 68;
/** VXLAN over IPv4: outer IPv4 (20), UDP (8), VXLAN (8) and the inner Ethernet header (14). */
export const VXLAN_OVERHEAD = 50;

export type NetworkMode = 'bridge' | 'private';

export interface NetworkOptions {
  vni: number;
  /** The flood list: remote VTEPs as dotted quads, as given. */
  remotes: string[];
  /** The UDP port this network's VTEP uses and listens on. */
  port: number;
  /** bridge: local containers switch to each other; private: only the overlay carries their traffic (macvlan's private mode). */
  mode: NetworkMode;
  /** The containers' MTU; undefined: the underlay's minus 50. */
  mtu?: number;
}

const KNOWN = ['vni', 'remote', 'port', 'mode', MTU_OPTION];

const bad = (msg: string): never => {
  throw new VxtapError('E_USAGE', msg);
};

/** `s` quoted for a message, cut short: it came from a request. */
function q(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

function integer(key: string, value: string, min: number, max: number, what: string): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    bad(`-o ${key}=${q(value)}: ${what}: give -o ${key}=N with N in ${min}-${max}`);
  }
  return Number(value);
}

/**
 * The user's -o options (the generic map), validated. `underlayMtu` is the
 * MTU of the interface that holds --local: the containers' MTU may not be
 * more than it minus VXLAN's 50 bytes, since vxtap never fragments.
 */
export function parseNetworkOptions(generic: unknown, underlayMtu: number): NetworkOptions {
  if (generic === undefined || generic === null) generic = {};
  if (typeof generic !== 'object' || Array.isArray(generic)) return bad(`${GENERIC}: expected a map of option strings`);
  const entries = Object.entries(generic as Record<string, unknown>);
  if (entries.length > MAX_OPTIONS) bad(`${entries.length} options, more than the ${MAX_OPTIONS} a vxtap network takes`);
  const o = new Map<string, string>();
  for (const [key, value] of entries) {
    if (!KNOWN.includes(key)) bad(`-o ${q(key)}: not an option of vxtap: give vni, remote, port, mode or ${MTU_OPTION}`);
    if (typeof value !== 'string') return bad(`-o ${key}: expected a string value`);
    if (value.length > MAX_VALUE_CHARS) bad(`-o ${key}: the value is over ${MAX_VALUE_CHARS} characters`);
    o.set(key, value);
  }
  const vniText = o.get('vni');
  if (vniText === undefined) bad('-o vni is required: give -o vni=N (0-16777215), the same on every host of the network');
  const vni = integer('vni', vniText!, 0, VNI_MAX, 'not a VXLAN network identifier');
  const remotes = o.get('remote')?.split(',') ?? [];
  if (remotes.length > MAX_REMOTES) bad(`-o remote: ${remotes.length} addresses, more than the ${MAX_REMOTES} a network takes`);
  for (const r of remotes) {
    try {
      parseIpv4Addr(r);
    } catch {
      bad(`-o remote: ${q(r)} is not an IPv4 address: give -o remote=IP[,IP...], the other hosts' underlay addresses`);
    }
  }
  const port = o.has('port') ? integer('port', o.get('port')!, 1, 65535, 'not a UDP port') : IANA_VXLAN_PORT;
  const mode = o.get('mode') ?? 'bridge';
  if (mode !== 'bridge' && mode !== 'private') bad(`-o mode=${q(mode)}: give -o mode=bridge (containers on a host reach each other) or -o mode=private (only across the overlay)`);
  const max = underlayMtu - VXLAN_OVERHEAD;
  const mtuText = o.get(MTU_OPTION);
  const mtu = mtuText === undefined ? undefined : integer(MTU_OPTION, mtuText, MIN_MTU, max, `more than the underlay's MTU (${underlayMtu}) less VXLAN's ${VXLAN_OVERHEAD} bytes, or not an MTU`);
  return { vni, remotes: [...new Set(remotes)], port, mode: mode as NetworkMode, ...(mtu !== undefined && { mtu }) };
}
