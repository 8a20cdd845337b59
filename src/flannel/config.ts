// flannel's network config, the JSON at `<prefix>/config`, with flannel's
// defaults and checks (pkg/subnet/config.go: ParseConfig, CheckNetworkConfig).
// vxtap is IPv4 only: a config that enables IPv6 is refused rather than half
// honoured. Every error names where the config lives and the field.
import { VxtapError } from '../core/errors.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { FLANNEL_UDP_PORT } from '../wire/udp.js';
import { contains, formatSubnet, mask, parseSubnet, subnetSize, type Subnet } from './subnet.js';

/** flannel's vxlan backend default (backend/vxlan: defaultVNI). */
const DEFAULT_VNI = 1;
/**
 * Backend.MTU bounds (newer flannel's option; the device gets 50 less): the
 * device's MTU must hold an IPv4 header (68) and fit vxtap's 65000.
 */
const MIN_VXLAN_MTU = 68 + 50;
const MAX_VXLAN_MTU = 65000 + 50;
/** flannel passes port 0 to the kernel, which then uses Linux's vxlan default. */
const FLANNEL_VXLAN_PORT = 8472;

export type BackendConfig =
  | {
    readonly type: 'vxlan';
    readonly vni: number;
    readonly port: number;
    /** Route straight to peers on our underlay subnet, unencapsulated (flanneld's DirectRouting). */
    readonly directRouting: boolean;
    /** Backend.MTU: the underlay MTU to size flannel.<VNI> from (minus 50); null: the external interface's. */
    readonly mtu: number | null;
  }
  | { readonly type: 'udp'; readonly port: number };

export interface FlannelConfig {
  readonly network: Subnet;
  readonly subnetLen: number;
  /** Network address of the first subnet leases are taken from. */
  readonly subnetMin: number;
  /** Network address of the last one. */
  readonly subnetMax: number;
  readonly backend: BackendConfig;
}

/** A minimal config, for hints in error messages. */
export const CONFIG_EXAMPLE = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';

type Json = Record<string, unknown>;

/**
 * Go's encoding/json matches object keys to struct fields case-insensitively
 * (an exact match first), so flanneld reads `"network"` as Network. Do the same,
 * or a config flanneld accepts would fail here.
 */
function field(obj: Json, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  const key = Object.keys(obj).find((k) => k.toLowerCase() === lower);
  // JSON null leaves a Go field at its zero value: the same as absent.
  return key === undefined ? undefined : (obj[key] ?? undefined);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses and checks the text of a network config. `where` names it in errors:
 * the etcd key (`/coreos.com/network/config`) or the lease file.
 */
export function parseNetworkConfig(text: string, where: string): FlannelConfig {
  function fail(fieldName: string, msg: string): never {
    throw new VxtapError('E_CONFIG', `${where}: ${fieldName}: ${msg}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new VxtapError('E_CONFIG', `${where}: not valid JSON (${(e as Error).message}): store a JSON object such as ${CONFIG_EXAMPLE}`);
  }
  if (!isObject(raw)) throw new VxtapError('E_CONFIG', `${where}: expected a JSON object such as ${CONFIG_EXAMPLE}`);

  if (field(raw, 'EnableIPv6') === true) fail('EnableIPv6', 'vxtap supports IPv4 only: remove EnableIPv6 or set it to false');
  if (field(raw, 'EnableIPv4') === false) fail('EnableIPv4', 'vxtap supports IPv4 only: remove EnableIPv4 or set it to true');

  const netText = field(raw, 'Network');
  if (netText === undefined) fail('Network', `missing: give the overlay's IPv4 range, e.g. ${CONFIG_EXAMPLE}`);
  let network: Subnet | undefined;
  try {
    network = parseSubnet(netText as string);
  } catch {
    // fall through: not a string, or not a CIDR
  }
  // flannel treats 0.0.0.0/0 as "no Network" (IP4Net.Empty).
  if (network === undefined || network.len === 0) fail('Network', `expected an IPv4 range such as "10.5.0.0/16", got ${JSON.stringify(netText)}`);
  const net = network;
  const netName = formatSubnet(net);

  const lenRaw = field(raw, 'SubnetLen');
  if (lenRaw !== undefined && !(Number.isInteger(lenRaw) && (lenRaw as number) >= 0 && (lenRaw as number) <= 32)) {
    fail('SubnetLen', `expected a prefix length 0-32, got ${JSON.stringify(lenRaw)}`);
  }
  let subnetLen = (lenRaw as number | undefined) ?? 0;
  if (subnetLen > 0) {
    // Each host needs room for at least a tunnel and a bridge address.
    if (subnetLen > 30) fail('SubnetLen', `${subnetLen} is too long: flannel needs at most 30`);
    // The first subnet is skipped, so a Network split in two serves one host.
    if (subnetLen < net.len + 2) fail('SubnetLen', `must be at least ${net.len + 2} so that Network ${netName} holds four subnets`);
  } else if (net.len > 28) {
    fail('Network', `/${net.len} is too small: the smallest useful network is a /28 (four /30 subnets)`);
  } else {
    // A /24 per host when there are at least four of them, else a quarter of the Network.
    subnetLen = net.len <= 22 ? 24 : net.len + 2;
  }

  const size = subnetSize(subnetLen);
  const bound = (name: 'SubnetMin' | 'SubnetMax', dflt: number): number => {
    const v = field(raw, name);
    if (v === undefined) return dflt;
    let addr: number;
    try {
      addr = parseIpv4Addr(v as string);
    } catch {
      fail(name, `expected an IPv4 address such as "10.5.1.0", got ${JSON.stringify(v)}`);
    }
    // Go's zero value: flannel reads "0.0.0.0" as unset.
    if (addr === 0) return dflt;
    if (!contains(net, addr)) fail(name, `${v} is not inside Network ${netName}`);
    if ((addr & mask(subnetLen)) >>> 0 !== addr) fail(name, `${v} is not on a /${subnetLen} (SubnetLen) boundary`);
    return addr;
  };
  // The first subnet is skipped: its network address would be the Network's.
  const subnetMin = bound('SubnetMin', net.addr + size);
  const subnetMax = bound('SubnetMax', net.addr + subnetSize(net.len) - size);

  return { network: net, subnetLen, subnetMin, subnetMax, backend: parseBackend(field(raw, 'Backend'), fail) };
}

function parseBackend(be: unknown, fail: (field: string, msg: string) => never): BackendConfig {
  // flannel's parseBackendType: no Backend at all means udp.
  if (be === undefined) return { type: 'udp', port: FLANNEL_UDP_PORT };
  if (!isObject(be)) return fail('Backend', `expected an object such as {"Type":"vxlan"}, got ${JSON.stringify(be)}`);
  const type = field(be, 'Type');
  const port = (dflt: number, zeroMeansDefault: boolean): number => {
    const p = field(be, 'Port');
    if (p === undefined || (p === 0 && zeroMeansDefault)) return dflt;
    if (!Number.isInteger(p) || (p as number) < 1 || (p as number) > 65535) fail('Backend.Port', `expected a UDP port 1-65535, got ${JSON.stringify(p)}`);
    return p as number;
  };
  if (type === 'vxlan') {
    if (field(be, 'GBP') === true) fail('Backend.GBP', 'not supported by vxtap: remove it or set it to false');
    const directRouting = field(be, 'DirectRouting') ?? false;
    if (typeof directRouting !== 'boolean') fail('Backend.DirectRouting', `expected true or false, got ${JSON.stringify(directRouting)}`);
    const vni = field(be, 'VNI') ?? DEFAULT_VNI;
    // flannel publishes the VNI in each lease as a uint16 (vxlanLeaseAttrs),
    // so a larger one could not be matched against its peers' leases.
    if (!Number.isInteger(vni) || (vni as number) < 0 || (vni as number) > 0xffff) {
      fail('Backend.VNI', `expected 0-65535 (flannel publishes the VNI as 16 bits), got ${JSON.stringify(vni)}`);
    }
    // flanneld's kernel device would learn remote MACs; vxtap's FDB is what the leases say.
    if (field(be, 'Learning') === true) fail('Backend.Learning', 'not supported by vxtap: remove it or set it to false');
    const mtu = field(be, 'MTU') ?? 0;
    if (!Number.isInteger(mtu) || (mtu !== 0 && ((mtu as number) < MIN_VXLAN_MTU || (mtu as number) > MAX_VXLAN_MTU))) {
      fail('Backend.MTU', `expected the underlay MTU, ${MIN_VXLAN_MTU}-${MAX_VXLAN_MTU} (flannel.<VNI> gets 50 less; 0 or none: the interface's), got ${JSON.stringify(mtu)}`);
    }
    return { type: 'vxlan', vni: vni as number, port: port(FLANNEL_VXLAN_PORT, true), mtu: mtu === 0 ? null : (mtu as number), directRouting };
  }
  if (type === 'udp') return { type: 'udp', port: port(FLANNEL_UDP_PORT, false) };
  return fail('Backend.Type', `vxtap runs the "vxlan" and "udp" backends, got ${JSON.stringify(type ?? null)}`);
}

/**
 * Whether a subnet can be a lease under this config: flannel's
 * isSubnetConfigCompat. A lease that is not (after the config changed) is
 * deleted and replaced.
 */
export function fitsConfig(c: FlannelConfig, s: Subnet): boolean {
  return s.len === c.subnetLen && s.addr >= c.subnetMin && s.addr <= c.subnetMax;
}
