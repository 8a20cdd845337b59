// The flags of `vxtap flannel`: flanneld's names and defaults, each also
// settable as FLANNELD_<FLAG> (upper case, dashes as underscores) when not
// given on the command line, as flanneld's flagutil.SetFlagsFromEnv does.
//
// One flag is vxtap's own: --lease-file PATH selects the embedded file store
// for a machine with no etcd. Without it the store is etcd, at
// --etcd-endpoints or flanneld's default http://127.0.0.1:2379, so a host
// that swaps flanneld for vxtap keeps the same cluster. Giving both is an
// error rather than a guess.
//
// Three more are vxtap's own, each named in the README:
//  - --network-config JSON: with --lease-file, the network config to store in
//    a lease file that has none yet, so a one-machine lab starts from nothing
//    (etcd's config is written with etcdctl, as for flanneld).
//  - --subnet-lease-ttl SECONDS: the TTL of our lease, flannel's fixed 24 h by
//    default; shorter only for labs and tests of renewal. The renew margin
//    must stay below it: without an explicit --subnet-lease-renew-margin, a
//    TTL of an hour or less renews at half its life.
//  - --control PATH: the control socket (vxtap stats/fdb show), by default
//    /run/vxtap/<netns>/<device>.sock; several nodes in one namespace need their own.
//    --control-group NAME lets that group use it too (0660; root only by default).
//  - --user NAME: the user to run as once the device, subnet.env and the
//    socket exist (README: Privileges); the vxlan backend keeps CAP_NET_ADMIN, for ip.
import { all, has, one, parseFlags, type FlagSpec } from '../control/args.js';
import { VxtapError } from '../core/errors.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { DEFAULT_SUBNET_FILE } from './subnet-env.js';

const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:2379';
const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
/** flanneld's --subnet-lease-renew-margin default, in minutes. */
const DEFAULT_RENEW_MARGIN_MIN = 60;
/** flannel's subnetTTL, 24 h. */
const DEFAULT_LEASE_TTL_SEC = 24 * 3600;

const FLANNEL_FLAGS: Record<string, FlagSpec> = {
  'etcd-endpoints': { arity: 1 },
  'etcd-prefix': { arity: 1 },
  iface: { arity: 1, repeat: true },
  'public-ip': { arity: 1 },
  'subnet-file': { arity: 1 },
  'subnet-lease-renew-margin': { arity: 1, int: true },
  'healthz-ip': { arity: 1 },
  'healthz-port': { arity: 1, int: true },
  'lease-file': { arity: 1 },
  'network-config': { arity: 1 },
  'subnet-lease-ttl': { arity: 1, int: true },
  control: { arity: 1 },
  'control-group': { arity: 1 },
  user: { arity: 1 },
};

export type StoreChoice =
  | { readonly kind: 'etcd'; readonly endpoints: string[]; readonly prefix: string }
  | { readonly kind: 'file'; readonly path: string };

export interface FlannelFlags {
  readonly store: StoreChoice;
  /** Interface names or addresses, in order of preference; empty: the default route's. */
  readonly ifaces: string[];
  readonly publicIp: string | null;
  readonly subnetFile: string;
  readonly renewMarginSec: number;
  /** The TTL of our lease (--subnet-lease-ttl); flannel's 24 h by default. */
  readonly leaseTtlSec: number;
  /** --network-config: the config to seed an empty lease file with; null: none. */
  readonly networkConfig: string | null;
  /** --control: the control socket; null: /run/vxtap/<netns>/<device>.sock. */
  readonly control: string | null;
  /** --control-group: a group that may use the control socket too; null: root only. */
  readonly controlGroup: string | null;
  /** --user: the user to run as after set-up; null: the one it was started as. */
  readonly user: string | null;
  /** null: no health server (--healthz-port 0, the default). */
  readonly healthz: { readonly ip: string; readonly port: number } | null;
}

function usage(msg: string): never {
  throw new VxtapError('E_USAGE', `${msg} (see: vxtap help)`);
}

function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replaceAll('-', '_')}`;
}

/** Go's flag package also reads `-name` and `--name=value`; parseFlags reads `--name value`. */
function normalize(argv: string[]): string[] {
  return argv.flatMap((a) => {
    const m = /^--?([a-z][a-z0-9-]+)(?:=(.*))?$/s.exec(a);
    if (m === null) return [a];
    return m[2] === undefined ? [`--${m[1]}`] : [`--${m[1]}`, m[2]];
  });
}

function ipv4(flag: string, v: string): string {
  try {
    parseIpv4Addr(v);
  } catch {
    usage(`--${flag}: '${v}' is not an IPv4 address such as 198.51.100.1`);
  }
  return v;
}

function etcdEndpoints(text: string): string[] {
  const endpoints = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints.length === 0) usage('--etcd-endpoints: give at least one URL such as http://127.0.0.1:2379');
  for (const e of endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(e);
    } catch {
      // reported below
    }
    if (u?.protocol === 'https:') usage(`--etcd-endpoints: ${e}: TLS to etcd is not supported yet: use an http:// endpoint`);
    if (u?.protocol !== 'http:' || u.port === '' || u.pathname !== '/') usage(`--etcd-endpoints: '${e}' is not a URL such as http://127.0.0.1:2379`);
  }
  return endpoints;
}

export function parseFlannelFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): FlannelFlags {
  const p = parseFlags(normalize(argv), FLANNEL_FLAGS);
  if (p.positionals.length > 0) usage(`unexpected argument '${p.positionals[0]}'`);
  for (const name of Object.keys(FLANNEL_FLAGS)) {
    const v = env[envName(name)];
    // flanneld ignores empty variables; the command line wins.
    if (v === undefined || v === '' || p.flags.has(name)) continue;
    try {
      p.flags.set(name, parseFlags([`--${name}`, v], FLANNEL_FLAGS).flags.get(name)!);
    } catch (e) {
      throw new VxtapError('E_USAGE', (e as Error).message.replace(`--${name}`, `${envName(name)} (--${name})`));
    }
  }

  const leaseFile = one<string>(p, 'lease-file');
  if (leaseFile !== undefined && has(p, 'etcd-endpoints')) {
    usage('--lease-file and --etcd-endpoints (or their FLANNELD_ variables) both given: use the lease file only on a machine without etcd, and give one of them');
  }
  const prefix = (one<string>(p, 'etcd-prefix') ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, '');
  if (!prefix.startsWith('/')) usage(`--etcd-prefix: '${prefix}' must start with '/', like ${DEFAULT_ETCD_PREFIX}`);

  const ttl = one<number>(p, 'subnet-lease-ttl') ?? DEFAULT_LEASE_TTL_SEC;
  // etcd grants at least 2 s whatever is asked; longer than flannel's own is of no use to a lab.
  if (ttl < 2 || ttl > DEFAULT_LEASE_TTL_SEC) usage(`--subnet-lease-ttl: ${ttl} seconds is out of range: give 2-86400 (flannel's is 86400, 24 hours)`);
  const marginGiven = one<number>(p, 'subnet-lease-renew-margin');
  const margin = marginGiven ?? DEFAULT_RENEW_MARGIN_MIN;
  // flanneld refuses margins outside (0, 24 h): leases live 24 h.
  if (margin <= 0 || margin >= 24 * 60) usage(`--subnet-lease-renew-margin: ${margin} minutes is out of range: give 1-1439 (leases last 24 hours)`);
  let renewMarginSec = margin * 60;
  if (renewMarginSec >= ttl) {
    if (marginGiven !== undefined) {
      usage(`--subnet-lease-renew-margin: ${margin} minutes is not shorter than --subnet-lease-ttl ${ttl} seconds: give a shorter margin or a longer TTL`);
    }
    renewMarginSec = ttl / 2;
  }

  const port = one<number>(p, 'healthz-port') ?? 0;
  if (port > 65535) usage(`--healthz-port: ${port} is not a TCP port (0 turns the health server off)`);
  const publicIp = one<string>(p, 'public-ip');
  const networkConfig = one<string>(p, 'network-config');
  if (networkConfig !== undefined && leaseFile === undefined) {
    usage(`--network-config seeds a lease file: give it with --lease-file; with etcd, store the config with etcdctl put ${prefix}/config '...'`);
  }

  return {
    store: leaseFile !== undefined
      ? { kind: 'file', path: leaseFile }
      : { kind: 'etcd', endpoints: etcdEndpoints(one<string>(p, 'etcd-endpoints') ?? DEFAULT_ETCD_ENDPOINTS), prefix },
    ifaces: all<string>(p, 'iface'),
    publicIp: publicIp === undefined ? null : ipv4('public-ip', publicIp),
    subnetFile: one<string>(p, 'subnet-file') ?? DEFAULT_SUBNET_FILE,
    renewMarginSec,
    leaseTtlSec: ttl,
    networkConfig: networkConfig ?? null,
    control: one<string>(p, 'control') ?? null,
    controlGroup: one<string>(p, 'control-group') ?? null,
    user: one<string>(p, 'user') ?? null,
    healthz: port === 0 ? null : { ip: ipv4('healthz-ip', one<string>(p, 'healthz-ip') ?? '0.0.0.0'), port },
  };
}
