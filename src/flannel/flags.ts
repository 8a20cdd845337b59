// The flags of `vxtap flannel`: flanneld's names and defaults, each also
// settable as FLANNELD_<FLAG> (upper case, dashes as underscores) when not
// given on the command line, as flanneld's flagutil.SetFlagsFromEnv does.
//
// One flag is vxtap's own: --lease-file PATH selects the embedded file store
// for a machine with no etcd. Without it the store is etcd, at
// --etcd-endpoints or flanneld's default http://127.0.0.1:2379, so a host
// that swaps flanneld for vxtap keeps the same cluster. Giving both is an
// error rather than a guess.
import { all, has, one, parseFlags, type FlagSpec } from '../control/args.js';
import { VxtapError } from '../control/errors.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { DEFAULT_SUBNET_FILE } from './subnet-env.js';

const DEFAULT_ETCD_ENDPOINTS = 'http://127.0.0.1:2379';
const DEFAULT_ETCD_PREFIX = '/coreos.com/network';
/** flanneld's --subnet-lease-renew-margin default, in minutes. */
const DEFAULT_RENEW_MARGIN_MIN = 60;

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

  const margin = one<number>(p, 'subnet-lease-renew-margin') ?? DEFAULT_RENEW_MARGIN_MIN;
  // flanneld refuses margins outside (0, 24 h): leases live 24 h.
  if (margin <= 0 || margin >= 24 * 60) usage(`--subnet-lease-renew-margin: ${margin} minutes is out of range: give 1-1439 (leases last 24 hours)`);

  const port = one<number>(p, 'healthz-port') ?? 0;
  if (port > 65535) usage(`--healthz-port: ${port} is not a TCP port (0 turns the health server off)`);
  const publicIp = one<string>(p, 'public-ip');

  return {
    store: leaseFile !== undefined
      ? { kind: 'file', path: leaseFile }
      : { kind: 'etcd', endpoints: etcdEndpoints(one<string>(p, 'etcd-endpoints') ?? DEFAULT_ETCD_ENDPOINTS), prefix },
    ifaces: all<string>(p, 'iface'),
    publicIp: publicIp === undefined ? null : ipv4('public-ip', publicIp),
    subnetFile: one<string>(p, 'subnet-file') ?? DEFAULT_SUBNET_FILE,
    renewMarginSec: margin * 60,
    healthz: port === 0 ? null : { ip: ipv4('healthz-ip', one<string>(p, 'healthz-ip') ?? '0.0.0.0'), port },
  };
}
