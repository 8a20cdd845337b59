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
//
// etcd over TLS, as flanneld: https:// endpoints, --etcd-cafile (else the
// system's CAs), and --etcd-certfile with --etcd-keyfile for a client
// certificate; --etcd-username and --etcd-password for etcd's own auth. The
// files are read when the node starts (etcd-tls.ts), so a bad one is named there.
//
// flanneld's other flags are refused by name (REFUSED), each with why, so a
// unit file written for flanneld fails at once rather than half working.
import { all, has, one, parseFlags, type FlagSpec, type Parsed } from '../control/args.js';
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
  'etcd-cafile': { arity: 1 },
  'etcd-certfile': { arity: 1 },
  'etcd-keyfile': { arity: 1 },
  'etcd-username': { arity: 1 },
  'etcd-password': { arity: 1 },
  iface: { arity: 1, repeat: true },
  'iface-regex': { arity: 1, repeat: true },
  'iface-can-reach': { arity: 1 },
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
  'ip-masq': { arity: 0 },
  user: { arity: 1 },
};

/** Switches, which Go's flag package also takes as `--name=BOOL` (and FLANNELD_<NAME>=BOOL). */
const SWITCHES = new Set(Object.entries(FLANNEL_FLAGS).filter(([, s]) => s.arity === 0).map(([n]) => n));

/** Go's strconv.ParseBool; null for anything else. */
function goBool(v: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return null;
}

/** `--ip-masq=false` -> nothing, `--ip-masq=true` -> `--ip-masq`; a value that is not a bool is an error. */
function switchValue(flag: string, v: string, where = `--${flag}`): string[] {
  const b = goBool(v);
  if (b === null) usage(`${where}: expected true or false, got '${v}'`);
  return b ? [`--${flag}`] : [];
}

const KUBE = 'vxtap has no kube-apiserver support built: run it with etcd (--etcd-endpoints), or run flanneld where the Kubernetes subnet manager is needed';

/** flanneld v0.20.2's flags that vxtap does not take, and why (Go's flag package, and klog's -v, -vmodule, -log_backtrace_at). */
const REFUSED: Record<string, string> = {
  'kube-subnet-mgr': KUBE,
  'kube-api-url': KUBE,
  'kube-annotation-prefix': KUBE,
  'kubeconfig-file': KUBE,
  'net-config-path': `it belongs to the Kubernetes subnet manager, and ${KUBE}`,
  'set-node-network-unavailable': `it belongs to the Kubernetes subnet manager, and ${KUBE}`,
  'public-ipv6': 'vxtap is IPv4 only: remove it',
  'iptables-resync': 'vxtap rechecks its iptables rules every 5 s, flanneld\'s default: remove it',
  'iptables-forward-rules': 'vxtap adds no FORWARD rules: remove it, and accept forwarding of the Network in your own firewall',
  version: 'run vxtap --version',
  help: 'see vxtap help',
  h: 'see vxtap help',
  v: 'vxtap logs at VXTAP_LOG_LEVEL (e.g. debug) instead: remove it',
  vmodule: 'vxtap logs at VXTAP_LOG_LEVEL (e.g. debug) instead: remove it',
  log_backtrace_at: 'vxtap logs at VXTAP_LOG_LEVEL (e.g. debug) instead: remove it',
};

/** PEM files for TLS to etcd; null where not given. */
export interface EtcdTlsFiles {
  readonly caFile: string | null;
  readonly certFile: string | null;
  readonly keyFile: string | null;
}

export interface EtcdAuth {
  readonly username: string;
  readonly password: string;
}

export type StoreChoice =
  | {
    readonly kind: 'etcd';
    readonly endpoints: string[];
    readonly prefix: string;
    /** null: plain http:// endpoints. */
    readonly tls: EtcdTlsFiles | null;
    /** null: no etcd user. */
    readonly auth: EtcdAuth | null;
  }
  | { readonly kind: 'file'; readonly path: string };

export interface FlannelFlags {
  readonly store: StoreChoice;
  /** Interface names or addresses, in order of preference; empty: the default route's. */
  readonly ifaces: string[];
  /** --iface-regex: tried after --iface, on addresses then names. */
  readonly ifaceRegex: string[];
  /** --iface-can-reach: the interface of the route to this address, tried last. */
  readonly ifaceCanReach: string | null;
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
  /** --ip-masq: flanneld's masquerade rules for the Network, FLANNEL_IPMASQ=true. */
  readonly ipMasq: boolean;
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
    if (m[2] !== undefined && SWITCHES.has(m[1])) return switchValue(m[1], m[2]);
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

/** The endpoints, and whether they are https:// (all of them or none). */
function etcdEndpoints(text: string): { endpoints: string[]; https: boolean } {
  const endpoints = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (endpoints.length === 0) usage('--etcd-endpoints: give at least one URL such as http://127.0.0.1:2379');
  const schemes = new Set<string>();
  for (const e of endpoints) {
    let u: URL | undefined;
    try {
      u = new URL(e);
    } catch {
      // reported below
    }
    if ((u?.protocol !== 'http:' && u?.protocol !== 'https:') || u.port === '' || u.pathname !== '/') {
      usage(`--etcd-endpoints: '${e}' is not a URL such as http://127.0.0.1:2379 or https://198.51.100.1:2379`);
    }
    schemes.add(u.protocol);
  }
  if (schemes.size > 1) usage(`--etcd-endpoints: ${text} mixes http:// and https://: give every endpoint of the cluster the same scheme`);
  return { endpoints, https: schemes.has('https:') };
}

const ETCD_TLS_FLAGS = ['etcd-cafile', 'etcd-certfile', 'etcd-keyfile'] as const;

/** The TLS files, checked against the endpoints' scheme; null for http://. */
function etcdTls(p: Parsed, https: boolean): EtcdTlsFiles | null {
  const [caFile, certFile, keyFile] = ETCD_TLS_FLAGS.map((n) => one<string>(p, n) ?? null);
  if (!https) {
    const given = ETCD_TLS_FLAGS.find((n) => has(p, n));
    if (given !== undefined) usage(`--${given} is for TLS, but --etcd-endpoints are http://: give https:// endpoints`);
    return null;
  }
  if (certFile !== null && keyFile === null) usage('--etcd-certfile needs its key: give --etcd-keyfile too');
  if (keyFile !== null && certFile === null) usage('--etcd-keyfile needs its certificate: give --etcd-certfile too');
  return { caFile, certFile, keyFile };
}

function etcdAuth(p: Parsed): EtcdAuth | null {
  const username = one<string>(p, 'etcd-username');
  const password = one<string>(p, 'etcd-password');
  if (username === undefined && password === undefined) return null;
  if (username === undefined) usage('--etcd-password needs a user: give --etcd-username too');
  if (password === undefined) usage(`--etcd-username ${username} needs a password: give --etcd-password (or ${envName('etcd-password')})`);
  return { username, password };
}

/** Fails on the first of flanneld's flags that vxtap does not take, on the command line or as FLANNELD_*. */
function refuseUnsupported(argv: string[], env: NodeJS.ProcessEnv): void {
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z][a-z0-9_-]*)(=.*)?$/s.exec(argv[i]);
    if (m === null) continue;
    const name = m[1];
    if (Object.hasOwn(REFUSED, name)) usage(`-${name.length > 1 ? '-' : ''}${name} (a flanneld flag) is not supported: ${REFUSED[name]}`);
    // A value such as a password of '-v' is not a flag.
    if (m[2] === undefined && Object.hasOwn(FLANNEL_FLAGS, name) && FLANNEL_FLAGS[name].arity === 1) i++;
  }
  for (const name of Object.keys(REFUSED)) {
    const v = env[envName(name)];
    if (v !== undefined && v !== '') usage(`${envName(name)} (flanneld's --${name}) is not supported: ${REFUSED[name]}`);
  }
}

function regexes(list: string[]): string[] {
  for (const r of list) {
    try {
      new RegExp(r);
    } catch (e) {
      usage(`--iface-regex: '${r}' is not a regular expression (${(e as Error).message}): give one such as '^eth[0-9]+$' or '^198\\.51\\.100\\.'`);
    }
  }
  return list;
}

export function parseFlannelFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): FlannelFlags {
  refuseUnsupported(argv, env);
  const p = parseFlags(normalize(argv), FLANNEL_FLAGS);
  if (p.positionals.length > 0) usage(`unexpected argument '${p.positionals[0]}'`);
  for (const name of Object.keys(FLANNEL_FLAGS)) {
    const v = env[envName(name)];
    // flanneld ignores empty variables; the command line wins.
    if (v === undefined || v === '' || p.flags.has(name)) continue;
    if (SWITCHES.has(name)) {
      if (switchValue(name, v, `${envName(name)} (--${name})`).length > 0) p.flags.set(name, [[]]);
      continue;
    }
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
  const canReach = one<string>(p, 'iface-can-reach');
  let store: StoreChoice;
  if (leaseFile !== undefined) {
    const etcdOnly = [...ETCD_TLS_FLAGS, 'etcd-username', 'etcd-password'].find((n) => has(p, n));
    if (etcdOnly !== undefined) usage(`--${etcdOnly} is for etcd, but --lease-file selects the lease file: give one of them`);
    store = { kind: 'file', path: leaseFile };
  } else {
    const { endpoints, https } = etcdEndpoints(one<string>(p, 'etcd-endpoints') ?? DEFAULT_ETCD_ENDPOINTS);
    store = { kind: 'etcd', endpoints, prefix, tls: etcdTls(p, https), auth: etcdAuth(p) };
  }

  return {
    store,
    ifaces: all<string>(p, 'iface'),
    ifaceRegex: regexes(all<string>(p, 'iface-regex')),
    ifaceCanReach: canReach === undefined ? null : ipv4('iface-can-reach', canReach),
    publicIp: publicIp === undefined ? null : ipv4('public-ip', publicIp),
    subnetFile: one<string>(p, 'subnet-file') ?? DEFAULT_SUBNET_FILE,
    renewMarginSec,
    leaseTtlSec: ttl,
    networkConfig: networkConfig ?? null,
    control: one<string>(p, 'control') ?? null,
    controlGroup: one<string>(p, 'control-group') ?? null,
    ipMasq: has(p, 'ip-masq'),
    user: one<string>(p, 'user') ?? null,
    healthz: port === 0 ? null : { ip: ipv4('healthz-ip', one<string>(p, 'healthz-ip') ?? '0.0.0.0'), port },
  };
}
