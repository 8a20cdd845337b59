// vxtap's command line. User mistakes print one line and exit 2; the
// foreground commands clean up everything they created on SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { all, has, one, parseFlags, required, type FlagSpec } from './control/args.js';
import {
  controlPathOf, DEFAULT_AGEING, DEFAULT_MTU, loadConfigFile, toSpecs, validateConfig, type Config,
} from './control/config.js';
import { controlPathOr } from './control/control-path.js';
import { VxtapError } from './core/errors.js';
import { createLogger, rxErrorLogger } from './control/log.js';
import { checkPrivileges, dataplanePrivileges, dropPrivileges, lookupUser } from './control/privilege.js';
import { captureCommand, decodeCommand, sniffCommand } from './control/capture-commands.js';
import { processStats } from './control/process-stats.js';
import { type FdbReply, fdbUpdate, parseFdbWords } from './control/fdb-commands.js';
import { kernelDrops } from './control/kernel-drops.js';
import { type NeighReply, neighShow, neighUpdate, parseNeighWords } from './control/neigh-commands.js';
import { metricsServer } from './control/metrics.js';
import { Reloader, type ReloadReply } from './control/reload.js';
import { ControlServer, request } from './control/server.js';
import { runDockerPlugin } from './docker/plugin.js';
import { runFlannel } from './flannel/node.js';
import { UdpOverlay } from './udp/overlay.js';
import { VtepQueues } from './vxlan/queues.js';
import type { FdbRow, NeighRow } from './vxlan/vtep.js';
import { FLANNEL_UDP_PORT } from './wire/udp.js';

const HELP = `vxtap: a userspace VXLAN dataplane on TAP devices

usage:
  vxtap vxlan --dev NAME --vni N --local IP [--remote IP]... [--dstport P]
              [--srcport MIN MAX] [--address CIDR] [--mtu N] [--ageing S]
              [--nolearning] [--no-sticky-local] [--maxaddress N] [--ignore-reserved]
              [--proxy] [--no-offload] [--no-flow-cache] [--queues N] [--control PATH] [--control-group G]
              [--user NAME] [--metrics ADDR:PORT]
  vxtap udp --dev NAME --local IP --address CIDR [--port P] [--mtu N]
            [--route SUBNET=PEER[:PORT]]... [--no-offload] [--control PATH]
            [--control-group G] [--user NAME] [--metrics ADDR:PORT]
  vxtap run --config FILE
  vxtap flannel [--etcd-endpoints URLS] [--etcd-prefix P]
                [--etcd-cafile F] [--etcd-certfile F --etcd-keyfile F]
                [--etcd-username U --etcd-password P]
                [--iface IF|IP]... [--iface-regex RE]... [--iface-can-reach IP]
                [--public-ip IP] [--subnet-file PATH] [--subnet-lease-renew-margin MIN]
                [--healthz-ip IP] [--healthz-port N] [--lease-file PATH [--network-config JSON]]
                [--subnet-lease-ttl S] [--control PATH] [--control-group G] [--user NAME]
                [--ip-masq]
  vxtap reload --dev NAME [--control PATH]
  vxtap docker-plugin --local IP [--control PATH] [--metrics ADDR:PORT]
                      [--plugin-dir DIR] [--state-dir DIR] [--no-offload]
  vxtap stats --dev NAME [--control PATH]
  vxtap fdb show --dev NAME [--control PATH] [--json]
  vxtap fdb add|append|replace|del LLADDR dev DEV [dst IP] [vni N] [static|dynamic]
            [--control PATH]
  vxtap neigh show [dev DEV] [--dev NAME] [--control PATH] [--json]
  vxtap neigh add|replace|change|del IP [lladdr MAC] dev DEV [nud permanent]
              [--control PATH]
  vxtap capture --dev NAME [--control PATH] [--point P,...] [--vni N]
                [--filter EXPR] [--snaplen N] [--nano] [-B KiB] [-c COUNT] [-w FILE|-] [-C MB -W N]
  vxtap decode FILE|-
  vxtap sniff -i IFACE [-c COUNT] [FILTER...]
  vxtap help | --version

vxlan runs one VTEP in the foreground: a TAP device NAME on VXLAN network N,
sending from the underlay address IP. Each --remote adds an all-zeros (flood)
FDB entry. Defaults: --dstport 4789, --srcport 49152 65535, --mtu ${DEFAULT_MTU},
--ageing ${DEFAULT_AGEING}, learning on, no --maxaddress cap, control socket
/run/vxtap/NETNS/NAME.sock. SIGINT or SIGTERM removes everything vxtap created.

--metrics ADDR:PORT serves /metrics (Prometheus), /healthz and /readyz over
HTTP on that address (e.g. 127.0.0.1:9100); "metrics" in the config for run.

--user NAME: once its devices and sockets exist, vxtap switches to user NAME
and keeps no capability (a vxlan flannel node keeps CAP_NET_ADMIN). Started as a
user with ambient capabilities (systemd AmbientCapabilities=), it needs no
root and drops them the same way.

NETNS is the network namespace's name (as \`ip netns identify\` gives it), or
ns-INODE for one without a name (the initial namespace, usually): device
names are per namespace, so two instances with the same --dev in two
namespaces do not collide. stats, fdb show and capture with --dev NAME and
no --control reach the instance of that name in their own namespace.

fdb add|append|replace|del change a running instance's FDB at once, in every
queue, as \`bridge fdb\` does a kernel vxlan device's: LLADDR
00:00:00:00:00:00 is the flood list (append adds dst IP, del ... dst IP
removes it); add fails if the entry exists, replace overwrites it, del of a
missing one fails. Without dst an entry points at the local port DEV. Entries
are static unless dynamic (they age and move). Without --control, dev DEV
finds the instance.

--proxy answers ARP requests and IPv6 neighbour solicitations read from the
TAP out of the neighbour table, as the kernel's vxlan \`proxy\` does; a
request for an address not in it goes on as without --proxy. neigh
add|replace|change|del change that table at once, in every queue, as
\`ip neigh\` does the kernel's: IP is IPv4 or IPv6, the entry serves the VNI of
dev DEV, add fails if it exists, change and del if it does not. neigh show
lists the entries (of DEV's VNI with dev DEV).

run --config FILE reloads FILE on SIGHUP and on \`vxtap reload\`: VNIs, ports,
flood lists (remotes) and statics are added and removed; networks that did
not change are not touched. A file that does not validate, or that changes
what is fixed at start (local, dstport, srcport, queues, offload, flow cache, control,
user, metrics, udp...), is refused whole and the running config stays.

udp runs the userspace UDP overlay (flannel's udp backend format): a TUN
device NAME whose IP packets go, by longest-prefix route, as whole UDP
payloads to a peer. Defaults: --port ${FLANNEL_UDP_PORT}, --mtu the underlay MTU - 28.

flannel runs a flannel node in place of flanneld: the same flags (also as
FLANNELD_* variables), etcd leases and subnet.env; the backend (vxlan on TAP
flannel.<VNI>, or udp on TUN flannel0) comes from <prefix>/config. Without
etcd, --lease-file keeps the leases in a file that nodes on one machine share;
--network-config seeds its config. https:// endpoints speak TLS to etcd.
flanneld's other flags (--kube-subnet-mgr among them) are refused by name.

docker-plugin serves Docker's remote network driver API on
/run/docker/plugins/vxtap.sock: docker network create -d vxtap --subnet CIDR
-o vni=N [-o remote=IP[,IP...]] [-o port=P] [-o mode=bridge|private] NAME
makes a VXLAN network whose containers each get a vxtap TAP as their eth0.
Its state (the networks) is kept in --state-dir (/var/lib/vxtap/docker);
its control socket is /run/vxtap/NETNS/docker-plugin.sock.

capture mirrors a running instance's frames as pcapng, one interface per
point (tap-rx, tap-tx, wire-rx, wire-tx, drop; default all), until -c COUNT
packets or SIGINT. For the udp overlay, tap-rx and tap-tx are the TUN side
(raw IP). Without -w it prints one line per packet. FILTER and EXPR:
vni N, mac MAC, host IP, port N, [proto] tcp|udp|icmp|arp, joined by and, or,
not and parentheses; each matches the outer or the inner headers. decode prints
a pcap or pcapng file the same way; sniff does it live on any interface.
`;

const VXLAN_FLAGS: Record<string, FlagSpec> = {
  dev: { arity: 1 },
  vni: { arity: 1, int: true },
  local: { arity: 1 },
  remote: { arity: 1, repeat: true },
  dstport: { arity: 1, int: true },
  srcport: { arity: 2, int: true },
  address: { arity: 1 },
  mtu: { arity: 1, int: true },
  ageing: { arity: 1, int: true },
  nolearning: { arity: 0 },
  'no-sticky-local': { arity: 0 },
  maxaddress: { arity: 1, int: true },
  'ignore-reserved': { arity: 0 },
  proxy: { arity: 0 },
  'no-offload': { arity: 0 },
  'no-flow-cache': { arity: 0 },
  queues: { arity: 1, int: true },
  control: { arity: 1 },
  'control-group': { arity: 1 },
  user: { arity: 1 },
  metrics: { arity: 1 },
};

/** Maps config paths back to the flags of `vxtap vxlan`, so errors name what the user typed. */
function vxlanFlagOf(path: string): string {
  const m = /^networks\[0\]\.(?:ports\[0\]\.)?([a-z]+)(?:\[(\d+)\])?/.exec(path);
  const field = m ? m[1] : path.replace(/\[.*$/, '');
  const flag = { remotes: 'remote', learning: 'nolearning', stickyLocal: 'no-sticky-local', ignoreReserved: 'ignore-reserved', offload: 'no-offload', flowCache: 'no-flow-cache', controlGroup: 'control-group' }[field] ?? field;
  return m?.[2] !== undefined ? `--${flag} #${Number(m[2]) + 1}` : `--${flag}`;
}

function vxlanConfig(argv: string[]): Config {
  const p = parseFlags(argv, VXLAN_FLAGS);
  if (p.positionals.length > 0) throw new VxtapError('E_USAGE', `unexpected argument '${p.positionals[0]}' (see: vxtap help)`);
  const dev = required<string>(p, 'dev', 'the TAP device to create');
  const srcport = p.flags.get('srcport')?.[0] as [number, number] | undefined;
  const raw = {
    local: required<string>(p, 'local', 'the underlay IPv4 address to send from'),
    dstport: one<number>(p, 'dstport'),
    srcport,
    ignoreReserved: has(p, 'ignore-reserved'),
    offload: !has(p, 'no-offload'),
    flowCache: !has(p, 'no-flow-cache'),
    queues: one<number>(p, 'queues'),
    control: one<string>(p, 'control'),
    controlGroup: one<string>(p, 'control-group'),
    user: one<string>(p, 'user'),
    metrics: one<string>(p, 'metrics'),
    networks: [{
      vni: required<number>(p, 'vni', 'the VXLAN network identifier, 0-16777215'),
      remotes: all<string>(p, 'remote'),
      learning: !has(p, 'nolearning'),
      stickyLocal: !has(p, 'no-sticky-local'),
      ageing: one<number>(p, 'ageing'),
      maxaddress: one<number>(p, 'maxaddress'),
      proxy: has(p, 'proxy'),
      ports: [{ dev, address: one<string>(p, 'address'), mtu: one<number>(p, 'mtu') }],
    }],
  };
  return validateConfig(raw, vxlanFlagOf);
}

/** Both pipelines' counters in one view; drops are summed by reason. */
async function stats(vtep: VtepQueues | undefined, udp: UdpOverlay | undefined): Promise<object> {
  const parts = [await vtep?.stats(), udp?.stats()].filter((p) => p !== undefined) as Array<{ drops: Record<string, number> }>;
  const drops: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.drops)) drops[k] = (drops[k] ?? 0) + v;
  return Object.assign({}, ...parts, { drops, kernel_drops: kernelDrops(), process: processStats() });
}

const UDP_FLAGS: Record<string, FlagSpec> = {
  dev: { arity: 1 },
  local: { arity: 1 },
  port: { arity: 1, int: true },
  address: { arity: 1 },
  mtu: { arity: 1, int: true },
  route: { arity: 1, repeat: true },
  'no-offload': { arity: 0 },
  control: { arity: 1 },
  'control-group': { arity: 1 },
  user: { arity: 1 },
  metrics: { arity: 1 },
};

/** `udp.routes[1].peer` -> `--route #2`: errors name what the user typed. */
function udpFlagOf(path: string): string {
  const m = /^udp\.routes\[(\d+)\]/.exec(path);
  if (m) return `--route #${Number(m[1]) + 1}`;
  return `--${path.replace(/^udp\./, '').replace(/\[.*$/, '')}`;
}

/** SUBNET=PEER[:PORT], as in `--route 198.18.2.0/24=198.51.100.2:8285`. */
function parseRoute(s: string, i: number): { subnet: string; peer: string; port?: number } {
  const m = /^([^=]+)=([^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new VxtapError('E_USAGE', `--route #${i + 1}: expected SUBNET=PEER[:PORT], got '${s}'`);
  return { subnet: m[1], peer: m[2], ...(m[3] !== undefined && { port: Number(m[3]) }) };
}

function udpConfig(argv: string[]): Config {
  const p = parseFlags(argv, UDP_FLAGS);
  if (p.positionals.length > 0) throw new VxtapError('E_USAGE', `unexpected argument '${p.positionals[0]}' (see: vxtap help)`);
  const raw = {
    local: required<string>(p, 'local', 'the underlay IPv4 address to bind'),
    offload: !has(p, 'no-offload'),
    control: one<string>(p, 'control'),
    controlGroup: one<string>(p, 'control-group'),
    user: one<string>(p, 'user'),
    metrics: one<string>(p, 'metrics'),
    udp: {
      dev: required<string>(p, 'dev', 'the TUN device to create'),
      address: required<string>(p, 'address', 'the TUN address with its prefix, e.g. 198.18.1.1/16'),
      port: one<number>(p, 'port'),
      mtu: one<number>(p, 'mtu'),
      routes: all<string>(p, 'route').map(parseRoute),
    },
  };
  return validateConfig(raw, udpFlagOf);
}

/**
 * `mode` names the command in errors (`vxtap vxlan`); `field` what set a
 * config field (`--user` for `user`); `file` is the config file of `vxtap run`,
 * which SIGHUP and `vxtap reload` read again.
 */
async function runDataplane(config: Config, mode: string, field = (name: string) => `--${name}`, file?: string): Promise<void> {
  const userField = field('user');
  const log = createLogger();
  const privileges = dataplanePrivileges(config);
  const user = config.user === undefined ? undefined : lookupUser(config.user, userField);
  const specs = toSpecs(config);
  checkPrivileges(privileges, user, mode, userField);
  const queues = specs.vtep && await VtepQueues.warm(specs.vtep);
  const vtep = queues?.leader; // queue 0: the FDB view, capture and devices
  // One capture hub per process: the VTEP's, which the udp overlay mirrors through too, or the overlay's own.
  const udp = specs.udp && new UdpOverlay(specs.udp, vtep?.capture);
  const hub = vtep?.capture ?? udp?.capture;
  for (const p of [vtep, udp]) if (p) p.rxErrors.onError = rxErrorLogger(log);
  const reloader = file === undefined ? undefined : new Reloader(file, config, queues);
  /** Reads the file again and applies it; logged either way, `via` says what asked. */
  const reload = (r: Reloader, via: string, t0 = performance.now()) => r.reload().then(
    (reply) => {
      log.info({ via, file, changes: reply.changes, ms: Math.round(performance.now() - t0) }, `vxtap reloaded ${file}: ${reply.changes.length} change(s)`);
      return reply;
    },
    (e: unknown) => {
      log.error({ via, file, err: (e as Error).message }, `vxtap: reload refused: ${(e as Error).message}`);
      throw e;
    },
  );
  const control = new ControlServer(controlPathOf(config), {
    stats: () => stats(queues, udp),
    fdb: () => vtep?.fdbRows() ?? [],
    'fdb-update': (req) => fdbUpdate(req.args, queues),
    neigh: (req) => neighShow(req.dev, vtep),
    'neigh-update': (req) => neighUpdate(req.args, queues),
    routes: () => udp?.routeRows() ?? [],
    reload: () => (reloader ? reload(reloader, 'vxtap reload') : Promise.reject(new VxtapError('E_USAGE', `reload: this instance was not started with --config FILE (it runs ${mode}): there is no file to read again`))),
  }, hub ? { capture: (req, sock) => hub.attach(req, sock) } : {}, { group: config.controlGroup });
  await control.listen();
  let started = false;
  let metricsPort: number | undefined;
  const health = config.metrics === undefined ? undefined : metricsServer(config.metrics, field('metrics'), () => stats(queues, udp), () => started);
  const close = () => {
    queues?.close();
    udp?.close();
    control.close();
    void health?.close();
  };
  try {
    metricsPort = await health?.listen(); // before privileges are dropped: a port below 1024 needs them
    await queues?.start();
    udp?.start();
    started = true;
  } catch (e) {
    close();
    throw e;
  }
  let stopping = false;
  /** Stops on a signal, or when a queue failed (`failure`): then, or if a queue does not answer, the exit code is 1. */
  const stop = async (why: { signal?: string; failure?: Error }) => {
    if (stopping) return;
    stopping = true;
    if (why.failure) log.error({ err: why.failure.message }, `vxtap: ${why.failure.message}; stopping`);
    let final: object | undefined;
    let statsError: string | undefined;
    try {
      final = await stats(queues, udp); // bounded: a queue that does not answer is given up on
    } catch (e) {
      statsError = (e as Error).message;
    }
    close();
    const failed = why.failure !== undefined || statsError !== undefined;
    const fields = { ...(why.signal && { signal: why.signal }), ...(final && { stats: final }), ...(statsError && { statsError }) };
    if (failed) log.error(fields, 'vxtap stopped after a failure; devices removed');
    else log.info(fields, 'vxtap stopped; devices removed');
    log.flush();
    process.exitCode = failed ? 1 : 0;
  };
  process.on('SIGINT', () => void stop({ signal: 'SIGINT' }));
  process.on('SIGTERM', () => void stop({ signal: 'SIGTERM' }));
  if (reloader) {
    process.on('SIGHUP', () => void reload(reloader, 'SIGHUP').catch(() => {}));
  }
  if (queues) {
    queues.onFailure = (failure) => void stop({ failure });
    if (queues.failure) void stop({ failure: queues.failure });
  }
  let dropped;
  try {
    dropped = dropPrivileges(privileges, user, userField);
  } catch (e) {
    close();
    throw e;
  }
  log.info({
    devices: [...(vtep?.portNames() ?? []), ...(udp ? [udp.devName] : [])],
    ...(vtep && { vnis: config.networks.map((n) => n.vni), dstport: config.dstport, vxlanOffloads: vtep.offloads, queues: queues!.count, queueThreads: queues!.threadIds }),
    ...(udp && { udpPort: specs.udp!.port, mtu: specs.udp!.mtu, udpOffloads: udp.offloads }),
    local: config.local,
    control: control.path,
    ...(metricsPort !== undefined && { metrics: `${config.metrics!.split(':')[0]}:${metricsPort}` }),
    ...(dropped && { uid: dropped.uid, gid: dropped.gid, capabilities: dropped.capabilities }),
  }, 'vxtap ready');
}

function controlPath(argv: string[], extra: Record<string, FlagSpec> = {}) {
  const p = parseFlags(argv, { dev: { arity: 1 }, control: { arity: 1 }, json: { arity: 0 }, ...extra });
  const path = controlPathOr(one<string>(p, 'control'), () => required<string>(p, 'dev', 'the device of the running instance'));
  return { path, json: has(p, 'json'), positionals: p.positionals };
}

function formatFdb(rows: FdbRow[]): string {
  return rows.map((r) => {
    const where = r.dev !== undefined ? `dev ${r.dev}` : `dst ${r.dst}`;
    const state = r.static ? 'static' : `age ${r.ageSec}s`;
    return `${r.mac} ${where} vni ${r.vni} ${state}`;
  }).join('\n');
}

function formatNeigh(rows: NeighRow[]): string {
  return rows.map((r) => `${r.ip} dev ${r.dev} lladdr ${r.lladdr} vni ${r.vni} PERMANENT`).join('\n');
}

/** `vxtap neigh show [dev DEV]` or `vxtap neigh add|replace|change|del ...`. */
async function neighCommand(rest: string[]): Promise<void> {
  const p = parseFlags(rest, { dev: { arity: 1 }, control: { arity: 1 }, json: { arity: 0 } });
  const words = p.positionals;
  if (words[0] !== 'show') {
    const dev = parseNeighWords(words).dev; // refused here, before a connection, when it does not parse
    const path = controlPathOr(one<string>(p, 'control'), () => one<string>(p, 'dev') ?? dev);
    const reply = (await request(path, 'neigh-update', 3000, { args: words })) as NeighReply;
    if (!reply.changed) process.stderr.write('vxtap: neigh: nothing changed (the entry is as given already)\n');
    return;
  }
  const filter = words.length === 3 && words[1] === 'dev' ? words[2] : undefined;
  if (words.length !== 1 && filter === undefined) throw new VxtapError('E_USAGE', `neigh: expected 'neigh show' or 'neigh show dev DEV', got '${words.join(' ')}'`);
  const path = controlPathOr(one<string>(p, 'control'), () => one<string>(p, 'dev') ?? filter ?? required<string>(p, 'dev', 'the device of the running instance'));
  const rows = (await request(path, 'neigh', 3000, filter === undefined ? {} : { dev: filter })) as NeighRow[];
  console.log(has(p, 'json') ? JSON.stringify(rows) : formatNeigh(rows));
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'vxlan':
      return runDataplane(vxlanConfig(rest), 'vxtap vxlan');
    case 'udp':
      return runDataplane(udpConfig(rest), 'vxtap udp');
    case 'flannel':
      return runFlannel(rest);
    case 'docker-plugin':
      return runDockerPlugin(rest);
    case 'run': {
      const p = parseFlags(rest, { config: { arity: 1 } });
      const file = required<string>(p, 'config', 'the JSON config file');
      return runDataplane(loadConfigFile(file), 'vxtap run', (name) => `${file}: ${name}`, file);
    }
    case 'reload': {
      const c = controlPath(rest);
      if (c.positionals.length > 0) throw new VxtapError('E_USAGE', `reload: unexpected argument '${c.positionals[0]}': the instance reads its own --config FILE again (see: vxtap help)`);
      const reply = (await request(c.path, 'reload', 30_000)) as ReloadReply;
      console.log(reply.changes.length === 0 ? 'vxtap: reload: nothing changed' : reply.changes.join('\n'));
      return;
    }
    case 'stats': {
      const c = controlPath(rest);
      console.log(JSON.stringify(await request(c.path, 'stats'), null, 2));
      return;
    }
    case 'fdb': {
      const words = parseFlags(rest, { dev: { arity: 1 }, control: { arity: 1 }, json: { arity: 0 } }).positionals;
      if (words.length > 0 && words[0] !== 'show') {
        const p = parseFlags(rest, { dev: { arity: 1 }, control: { arity: 1 } });
        const dev = parseFdbWords(words).dev; // refused here, before a connection, when it does not parse
        const path = controlPathOr(one<string>(p, 'control'), () => one<string>(p, 'dev') ?? dev);
        const reply = (await request(path, 'fdb-update', 3000, { args: words })) as FdbReply;
        if (!reply.changed) process.stderr.write('vxtap: fdb: nothing changed (the destination is listed already)\n');
        return;
      }
      const c = controlPath(rest);
      if (c.positionals.length !== 1) throw new VxtapError('E_USAGE', "fdb: expected 'fdb show' or 'fdb add|append|replace|del ...' (see: vxtap help)");
      const rows = (await request(c.path, 'fdb')) as FdbRow[];
      console.log(c.json ? JSON.stringify(rows) : formatFdb(rows));
      return;
    }
    case 'neigh':
      return neighCommand(rest);
    case 'capture':
      return captureCommand(rest);
    case 'decode':
      return decodeCommand(rest);
    case 'sniff':
      return sniffCommand(rest);
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(HELP);
      return;
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return;
    }
    default:
      throw new VxtapError('E_USAGE', `unknown command '${cmd}' (see: vxtap help)`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof VxtapError) {
    process.stderr.write(`vxtap: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`vxtap: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
