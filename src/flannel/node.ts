// The flannel node, `vxtap flannel`: what flanneld does on a host, with
// vxtap's data path in place of the kernel's vxlan driver (or of flanneld's
// udp proxy), so that etcd, the other nodes and the CNI plugin cannot tell
// it from flanneld.
//
//   flags -> external interface and PublicIP -> store (etcd, or the lease file)
//     -> network config -> our lease (SubnetManager) -> device and data path
//     -> --ip-masq rules (ipmasq.ts) -> subnet.env -> list + watch the other
//     leases -> refuse hostile ones (lease-guard.ts) -> program each batch
//
// Per remote lease, the vxlan backend programs what flanneld programs
// (backend/vxlan/vxlan_network.go), the FDB entry in userspace instead of the
// kernel:
//   1. ip neigh replace <subnet addr> lladdr <VtepMAC> dev flannel.<VNI> nud permanent,
//      and the same entry in vxtap's neighbour table, whose ARP proxy answers
//      for it should the kernel's entry go (flushed by hand, or its command failed)
//   2. vtep.addStatic(VNI, VtepMAC -> PublicIP), and PublicIP trusted
//   3. ip route replace <subnet> via <subnet addr> dev flannel.<VNI> onlink
// With DirectRouting, a lease whose PublicIP is reachable without a gateway
// gets only `ip route replace <subnet> via <PublicIP>` (direct-routing.ts).
// The udp backend only sets a userspace route, subnet -> PublicIP:port; the
// kernel has one route for the whole Network into flannel0.
//
// Kernel changes go through one `ip -force -batch` per lease batch (batches
// that arrive while one runs are merged into the next), off the event loop:
// joining a cluster of 1000 nodes costs one exec of 2000 commands (well under
// a second on the test machine), and the data path never waits on iproute2.
// With -force one bad command does not stop the rest; each failure is logged
// with its command and counted (vxtap_flannel_kernel_failures_total).
// The userspace half (FDB, trust, routes) changes at once, in the event.
//
// The data path does not depend on the store: while etcd is unreachable the
// SubnetManager keeps the last known leases and retries, and nothing here is
// undone; when etcd returns, the manager emits what changed meanwhile.
//
// On SIGINT/SIGTERM everything closes; the TAP/TUN disappears and with it
// every neighbour and route on it. The lease stays in the store, as
// flanneld leaves it, so that a restart gets the same subnet.
import { execFileSync, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { DEFAULT_AGEING, DEFAULT_SRCPORT } from '../control/config.js';
import { controlPathOr } from '../control/control-path.js';
import { VxtapError } from '../core/errors.js';
import { createLogger, rxErrorLogger } from '../control/log.js';
import { checkPrivileges, dropPrivileges, flannelPrivileges, lookupUser, userCanWrite, type Dropped, type Privileges, type User } from '../control/privilege.js';
import { processStats } from '../control/process-stats.js';
import { ControlServer, type StreamHandlers } from '../control/server.js';
import { ipBatch } from '../io/device.js';
import { NO_PORT } from '../switch/fdb.js';
import { FAMILY_IPV4 } from '../switch/neigh.js';
import { UdpOverlay } from '../udp/overlay.js';
import { Vtep, type VtepSpec } from '../vxlan/vtep.js';
import { warmUp, type WarmUpResult } from '../vxlan/warmup.js';
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac, randomLocalMac } from '../wire/mac.js';
import { parseNetworkConfig, type BackendConfig, type FlannelConfig } from './config.js';
import { directlyReachable } from './direct-routing.js';
import { EtcdStore } from './etcd-store.js';
import { FileStore } from './file-store.js';
import { parseFlannelFlags, type FlannelFlags } from './flags.js';
import { HealthServer, statsOfTree, type DataPathStats } from '../control/metrics.js';
import { kernelDrops } from '../control/kernel-drops.js';
import { FlannelMetrics } from './health.js';
import { findExternalInterface, type ExternalInterface } from './iface.js';
import { MasqRules, withMasq } from './ipmasq.js';
import { LeaseGuard } from './lease-guard.js';
import { subnetKey, udpAttrs, vxlanAttrs, vxlanData, type Lease, type LeaseAttrs } from './lease.js';
import type { LeaseStore } from './store.js';
import { prepareSubnetFile, readPreviousNetwork, readPreviousSubnet, writeSubnetEnv } from './subnet-env.js';
import { SubnetManager, type HeldLease, type LeaseEvent } from './subnet-manager.js';
import { formatSubnet, type Subnet } from './subnet.js';

/** VXLAN's outer headers: IPv4 20 + UDP 8 + VXLAN 8 + Ethernet 14. */
const VXLAN_OVERHEAD = 50;
/** The udp backend's: IPv4 20 + UDP 8. */
const UDP_OVERHEAD = 28;
/** After a clean stop, exit even if a library still holds a handle (gRPC's reconnect timers). */
const EXIT_GRACE_MS = 2000;

// ---- kernel programming ---------------------------------------------------

export interface IpFailure {
  readonly cmd: string;
  readonly error: string;
}

/**
 * Runs iproute2 commands with one `ip -force -batch -`, asynchronously.
 * Resolves with the commands that failed and why: with -force, ip reports
 * each as its error lines followed by `Command failed -:LINE`.
 */
export function ipForceBatch(cmds: readonly string[]): Promise<IpFailure[]> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (d: string) => (stderr += d));
    p.on('error', (e) => resolve(cmds.map((cmd) => ({ cmd, error: `cannot run ip: ${e.message}` }))));
    p.on('close', (code) => {
      const failed: IpFailure[] = [];
      let why: string[] = [];
      for (const line of stderr.split('\n')) {
        const m = /^Command failed -:(\d+)$/.exec(line.trim());
        if (m === null) {
          if (line.trim() !== '') why.push(line.trim());
          continue;
        }
        failed.push({ cmd: cmds[Number(m[1]) - 1] ?? `line ${m[1]}`, error: why.join('; ') || 'failed' });
        why = [];
      }
      if (code !== 0 && failed.length === 0) failed.push({ cmd: `ip -batch (${cmds.length} commands)`, error: why.join('; ') || `exit ${code}` });
      resolve(failed);
    });
    p.stdin.on('error', () => undefined); // ip died early: reported by 'close'
    p.stdin.end(cmds.join('\n') + '\n');
  });
}

/**
 * Applies kernel changes in order, one `ip -force -batch` at a time; what is
 * submitted while one runs goes into the next, so bursts of lease events
 * cost one exec each.
 */
class KernelProgrammer {
  private pending: string[] = [];
  private running = false;
  private closed = false;
  batches = 0;
  commands = 0;
  failures = 0;

  constructor(private readonly log: Logger, private readonly onIdle: () => void) {}

  get idle(): boolean {
    return !this.running && this.pending.length === 0;
  }

  submit(cmds: readonly string[]): void {
    if (this.closed || cmds.length === 0) return;
    this.pending.push(...cmds);
    if (!this.running) void this.drain();
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.pending.length > 0 && !this.closed) {
      const cmds = this.pending;
      this.pending = [];
      const t0 = performance.now();
      const failed = await ipForceBatch(cmds);
      if (this.closed) break; // the device is gone: failures mean nothing now
      this.batches++;
      this.commands += cmds.length;
      this.failures += failed.length;
      const ms = Math.round(performance.now() - t0);
      if (failed.length > 0) {
        const shown = failed.slice(0, 5).map((f) => `'${f.cmd}': ${f.error}`).join(' | ');
        this.log.warn({ failed: failed.length, of: cmds.length }, `kernel programming: ${failed.length} of ${cmds.length} ip commands failed (${ms} ms): ${shown}${failed.length > 5 ? ' | ...' : ''}`);
      } else {
        this.log.debug({ commands: cmds.length, ms }, 'kernel programmed');
      }
    }
    this.running = false;
    if (!this.closed) this.onIdle();
  }

  close(): void {
    this.closed = true;
    this.pending = [];
  }
}

// ---- backends ---------------------------------------------------------------

/** The data path of one flannel backend. */
interface NodeBackend {
  /** The device flanneld would create: flannel.<VNI> or flannel0. */
  readonly dev: string;
  readonly mtu: number;
  /** What our lease publishes. */
  readonly attrs: LeaseAttrs;
  /** Our VtepMAC (vxlan), or null. */
  readonly vtepMac: number | null;
  /** Warms the data path for our lease (the vxlan backend: vxlan/warmup.ts), before start. */
  warmUp?(lease: HeldLease): Promise<void>;
  /** Opens the device and data path for our lease; programs the device's own kernel state. */
  start(lease: HeldLease): void;
  /** Applies other nodes' lease changes to the data path; returns the kernel commands they need. */
  apply(batch: readonly LeaseEvent[]): string[];
  /** Routes to other nodes' subnets, as programmed. */
  routeRows(): object[];
  stats(): DataPathStats;
  /** The counters of `vxtap stats`. */
  statsView(): object;
  fdbRows(): object[];
  /** The rows of `vxtap neigh show`: the vxlan backend's gateway entries. */
  neighRows(): object[];
  streams(): StreamHandlers;
  close(): void;
}

/** Fails clearly when the device exists already (flanneld's kernel device, or another node). */
function checkDeviceFree(dev: string): void {
  let out: string;
  try {
    out = execFileSync('ip', ['-j', '-d', 'link', 'show', 'dev', dev], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return; // no such device
  }
  const kind = (JSON.parse(out) as Array<{ linkinfo?: { info_kind?: string } }>)[0]?.linkinfo?.info_kind ?? 'device';
  throw new VxtapError('E_DEVICE', `${dev} already exists (a ${kind}: flanneld's, or another vxtap's): stop what owns it, or remove it with: ip link del ${dev}`);
}

interface RemoteVtep {
  readonly subnet: Subnet;
  readonly mac: number;
  readonly publicIp: number;
  /** DirectRouting: routed straight to publicIp, no neighbour or FDB entry. */
  readonly direct: boolean;
}

class VxlanBackend implements NodeBackend {
  readonly dev: string;
  readonly mtu: number;
  readonly attrs: LeaseAttrs;
  private readonly mac = randomLocalMac();
  readonly vtepMac = this.mac;
  private vtep: Vtep | null = null;
  private warmed: WarmUpResult | null = null;
  /** Remote leases programmed, by subnet key. */
  private readonly remotes = new Map<string, RemoteVtep>();
  /** Which lease (subnet key) each VtepMAC's FDB entry belongs to. */
  private readonly macOwner = new Map<number, string>();
  /** Subnet keys whose route (and neighbour) were submitted to the kernel: the gateway of a direct route, or null. */
  private readonly inKernel = new Map<string, string | null>();

  constructor(private readonly be: Extract<BackendConfig, { type: 'vxlan' }>, private readonly ext: ExternalInterface, private readonly log: Logger) {
    this.dev = `flannel.${be.vni}`;
    this.mtu = (be.mtu ?? ext.mtu) - VXLAN_OVERHEAD;
    this.attrs = vxlanAttrs(ext.publicIp, { vni: be.vni, vtepMac: formatMac(this.mac) });
  }

  async warmUp(lease: HeldLease): Promise<void> {
    this.warmed = await warmUp(this.spec(lease));
  }

  start(lease: HeldLease): void {
    checkDeviceFree(this.dev);
    this.vtep = new Vtep(this.spec(lease));
    this.vtep.rxErrors.onError = rxErrorLogger(this.log);
    this.vtep.start();
  }

  private spec(lease: HeldLease): VtepSpec {
    return {
      local: parseIpv4Addr(this.ext.addr),
      dstPort: this.be.port,
      srcPortMin: DEFAULT_SRCPORT[0],
      srcPortMax: DEFAULT_SRCPORT[1],
      ignoreReserved: false,
      offload: true,
      // Only the PublicIPs of known leases may send to us.
      trustedOnly: true,
      networks: [{
        vni: this.be.vni,
        // No flood list: every remote MAC the kernel sends to is a permanent
        // neighbour, so there is no ARP to flood (flanneld's kernel device
        // has no all-zeros entries either). Learning is off, as flanneld's
        // `nolearning`: the FDB is what the leases say.
        remotes: [],
        learning: false,
        stickyLocal: true,
        ageingSec: DEFAULT_AGEING,
        maxAddress: 0,
        allowInnerVlan: false,
        // ARP for a peer's gateway is answered from the neighbour table (apply()).
        proxy: true,
        statics: [],
        ports: [{ dev: this.dev, address: `${formatIpv4Addr(lease.subnet.addr)}/32`, mtu: this.mtu, mac: formatMac(this.mac) }],
      }],
    };
  }

  apply(batch: readonly LeaseEvent[]): string[] {
    const vtep = this.vtep!;
    const vni = this.be.vni;
    // The kernel state each subnet ends the batch in: a lease replaced within
    // the batch (a restarted node's new VtepMAC comes as removed + added) is
    // re-programmed with `replace`, never deleted first, so its route never blinks.
    const final = new Map<string, RemoteVtep | null>();
    const direct = this.be.directRouting
      ? directlyReachable(batch.flatMap((ev) => (ev.type === 'added' ? [ev.lease.attrs.PublicIP] : [])))
      : new Set<string>();
    for (const ev of batch) {
      const key = subnetKey(ev.lease.subnet);
      if (ev.type === 'removed') {
        const r = this.remotes.get(key);
        if (r === undefined) continue; // never programmed (not a vxlan lease)
        this.remotes.delete(key);
        if (!r.direct && this.macOwner.get(r.mac) === key) {
          vtep.removeEntry(vni, r.mac);
          this.macOwner.delete(r.mac);
        }
        vtep.untrust(r.publicIp);
        final.set(key, null);
        continue;
      }
      const found = this.remoteOf(ev.lease);
      if (found === null) continue;
      const r = { ...found, direct: direct.has(ev.lease.attrs.PublicIP) };
      if (r.vni !== vni) this.log.warn(`${formatSubnet(ev.lease.subnet)} publishes VNI ${r.vni} but this network's is ${vni}: programming it anyway, as flanneld does; its traffic will not pass`);
      // Trusted either way: a peer may still encapsulate to us.
      vtep.trust(r.publicIp);
      this.remotes.set(key, r);
      final.set(key, r);
      if (r.direct) continue;
      // The lease guard passes no two leases with one VtepMAC.
      vtep.addStatic(vni, r.mac, NO_PORT, r.publicIp);
      this.macOwner.set(r.mac, key);
    }
    const cmds: string[] = [];
    for (const [key, r] of final) {
      const [addr, len] = key.split('-');
      const was = this.inKernel.get(key);
      if (r === null) {
        // A lease added and removed within one batch never reached the kernel.
        if (was === undefined) continue;
        this.forgetGateway(addr);
        this.inKernel.delete(key);
        if (was === null) cmds.push(`route del ${addr}/${len} dev ${this.dev}`, `neigh del ${addr} dev ${this.dev}`);
        else cmds.push(`route del ${addr}/${len} via ${was}`);
      } else if (r.direct) {
        this.forgetGateway(addr);
        const via = formatIpv4Addr(r.publicIp);
        this.inKernel.set(key, via);
        // `replace` swaps an onlink route for the direct one; the neighbour goes.
        cmds.push(`route replace ${addr}/${len} via ${via}`);
        if (was === null) cmds.push(`neigh del ${addr} dev ${this.dev}`);
      } else {
        this.inKernel.set(key, null);
        if (!vtep.applyNeigh({ op: 'set', vni, family: FAMILY_IPV4, addr: [parseIpv4Addr(addr)], mac: r.mac, dev: this.dev })) {
          this.log.warn(`${formatSubnet(r.subnet)}: vxtap's neighbour table is full; ARP for ${addr} is left to the kernel's permanent entry`);
        }
        cmds.push(
          `neigh replace ${addr} lladdr ${formatMac(r.mac)} dev ${this.dev} nud permanent`,
          `route replace ${formatSubnet(r.subnet)} via ${addr} dev ${this.dev} onlink`,
        );
      }
    }
    return cmds;
  }

  /** Removes the neighbour entry of a gateway (a subnet's network address), if there is one. */
  private forgetGateway(addr: string): void {
    const a = [parseIpv4Addr(addr)];
    if (this.vtep!.neighEntry(this.be.vni, FAMILY_IPV4, a) !== undefined) this.vtep!.applyNeigh({ op: 'delete', vni: this.be.vni, family: FAMILY_IPV4, addr: a });
  }

  /** A lease's VTEP, or null (logged) when it is not a usable vxlan lease. */
  private remoteOf(l: Lease): (Omit<RemoteVtep, 'direct'> & { vni: number }) | null {
    // flanneld's vxlan backend skips other backends' leases the same way.
    if (l.attrs.BackendType !== 'vxlan') {
      this.log.warn(`ignoring ${formatSubnet(l.subnet)} of ${l.attrs.PublicIP}: its backend is ${l.attrs.BackendType ?? 'udp'}, not vxlan`);
      return null;
    }
    try {
      const d = vxlanData(l.attrs);
      return { subnet: l.subnet, mac: parseMac(d.vtepMac), publicIp: parseIpv4Addr(l.attrs.PublicIP), vni: d.vni };
    } catch (e) {
      this.log.warn(`ignoring ${formatSubnet(l.subnet)} of ${l.attrs.PublicIP}: ${(e as Error).message}`);
      return null;
    }
  }

  routeRows(): object[] {
    return [...this.remotes.values()].map((r) => (r.direct
      ? { subnet: formatSubnet(r.subnet), via: formatIpv4Addr(r.publicIp), direct: true, vtepMac: formatMac(r.mac), publicIp: formatIpv4Addr(r.publicIp) }
      : { subnet: formatSubnet(r.subnet), via: formatIpv4Addr(r.subnet.addr), dev: this.dev, vtepMac: formatMac(r.mac), publicIp: formatIpv4Addr(r.publicIp) }));
  }

  stats(): DataPathStats {
    return statsOfTree(() => this.statsView() as Record<string, unknown>, () => this.remotes.size);
  }

  statsView(): object {
    return this.vtep ? { ...this.vtep.stats(), kernel_drops: kernelDrops(), warm_up: this.warmed } : {};
  }

  fdbRows(): object[] {
    return this.vtep?.fdbRows() ?? [];
  }

  neighRows(): object[] {
    return this.vtep?.neighRows() ?? [];
  }

  streams(): StreamHandlers {
    return { capture: (req, sock) => this.vtep!.capture.attach(req, sock) };
  }

  close(): void {
    this.vtep?.close();
  }
}

class UdpBackend implements NodeBackend {
  readonly dev = 'flannel0';
  readonly mtu: number;
  readonly attrs: LeaseAttrs;
  readonly vtepMac = null;
  private overlay: UdpOverlay | null = null;

  constructor(private readonly be: Extract<BackendConfig, { type: 'udp' }>, private readonly ext: ExternalInterface, private readonly network: Subnet, private readonly log: Logger) {
    this.mtu = ext.mtu - UDP_OVERHEAD;
    // flanneld's udp leases carry only the PublicIP.
    this.attrs = udpAttrs(ext.publicIp);
  }

  start(lease: HeldLease): void {
    checkDeviceFree(this.dev);
    const addr = formatIpv4Addr(lease.subnet.addr);
    this.overlay = new UdpOverlay({
      local: parseIpv4Addr(this.ext.addr),
      port: this.be.port,
      dev: this.dev,
      address: lease.subnet.addr,
      // DESIGN.md: flannel0 gets the subnet's address as a /32 plus one route
      // for the whole Network. flanneld itself gives flannel0 the Network's
      // prefix length instead (10.5.52.0/16), whose connected route is that
      // same route: either way every overlay address goes into flannel0.
      cidr: `${addr}/32`,
      mtu: this.mtu,
      routes: [],
      kernelRoutes: false,
      offload: true,
    });
    this.overlay.rxErrors.onError = rxErrorLogger(this.log);
    this.overlay.start();
    ipBatch([`route replace ${formatSubnet(this.network)} dev ${this.dev}`], `routing ${formatSubnet(this.network)} into ${this.dev}`);
  }

  apply(batch: readonly LeaseEvent[]): string[] {
    const o = this.overlay!;
    // flanneld's udp backend routes every lease, whatever its BackendType.
    for (const ev of batch) {
      const { addr, len } = ev.lease.subnet;
      if (ev.type === 'removed') o.deleteRoute(addr, len);
      else o.setRoute({ addr, len, peer: parseIpv4Addr(ev.lease.attrs.PublicIP), port: this.be.port });
    }
    return [];
  }

  routeRows(): object[] {
    return this.overlay?.routeRows() ?? [];
  }

  stats(): DataPathStats {
    return statsOfTree(() => this.statsView() as Record<string, unknown>);
  }

  statsView(): object {
    return this.overlay ? { ...this.overlay.stats(), kernel_drops: kernelDrops() } : {};
  }

  fdbRows(): object[] {
    return [];
  }

  neighRows(): object[] {
    return [];
  }

  streams(): StreamHandlers {
    return { capture: (req, sock) => this.overlay!.capture.attach(req, sock) };
  }

  close(): void {
    this.overlay?.close();
  }
}

// ---- the node ---------------------------------------------------------------

function openStore(f: FlannelFlags, log: Logger): LeaseStore {
  return f.store.kind === 'etcd'
    ? new EtcdStore({ endpoints: f.store.endpoints, prefix: f.store.prefix, tls: f.store.tls, auth: f.store.auth, log })
    : new FileStore(f.store.path, { log });
}

/**
 * --network-config: stores the config in a lease file that has none, so a
 * one-machine lab starts from an empty file. A file that holds a config
 * keeps it; a different one given here is an error rather than a silent
 * choice between the two.
 */
async function seedConfig(store: FileStore, text: string): Promise<void> {
  parseNetworkConfig(text, '--network-config'); // a bad config names the flag, not the file
  let current: string | null = null;
  try {
    current = await store.getConfig();
  } catch (e) {
    if (!(e instanceof VxtapError && e.code === 'E_CONFIG')) throw e;
  }
  if (current === null) return store.putConfig(text);
  const same = (a: string, b: string): boolean => {
    try {
      return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
    } catch {
      return false;
    }
  };
  if (!same(current, text)) {
    throw new VxtapError('E_CONFIG', `--network-config: lease file ${store.path} already holds another config (${current}): drop --network-config to use it, or edit the file's "config"`);
  }
}

export class FlannelNode {
  private store: LeaseStore | null = null;
  private manager: SubnetManager | null = null;
  private backend: NodeBackend | null = null;
  private guard: LeaseGuard | null = null;
  private masq: MasqRules | null = null;
  private config: FlannelConfig | null = null;
  private control: ControlServer | null = null;
  private health: HealthServer | null = null;
  private readonly metrics: FlannelMetrics;
  private readonly kernel: KernelProgrammer;
  private ext: ExternalInterface | null = null;
  /** Who the node runs as after set-up (null: as it was started). */
  private dropped: Dropped | null = null;
  private deviceUp = false;
  private listed = false;
  private envWritten = false;
  private announced = false;
  private stopping = false;
  private readonly t0 = performance.now();
  private finish!: (err?: VxtapError) => void;
  private readonly done: Promise<void>;

  constructor(private readonly flags: FlannelFlags, private readonly log: Logger) {
    // The metrics and /readyz exist before the manager does (they answer while
    // etcd is awaited): read it through a view.
    const self = this;
    this.metrics = new FlannelMetrics({
      get lease() {
        return self.manager?.lease ?? null;
      },
      get storeUp() {
        return self.manager?.storeUp ?? false;
      },
      remoteLeases: () => this.manager?.remoteLeases() ?? [],
    });
    this.kernel = new KernelProgrammer(log, () => this.checkReady());
    const kernel = this.kernel;
    new Counter({
      name: 'vxtap_flannel_kernel_failures_total',
      help: 'ip commands (neighbours, routes) that failed while programming other nodes\' leases.',
      registers: [this.metrics.registry],
      collect() {
        this.reset();
        this.inc(kernel.failures);
      },
    });
    this.done = new Promise<void>((resolve, reject) => {
      this.finish = (err) => (err ? reject(err) : resolve());
    });
  }

  /** What keeps the node from being ready (/readyz): what is missing, and refused leases; empty when ready. */
  notReady(): string[] {
    return [...this.missing(), ...(this.guard?.conflicts() ?? [])];
  }

  /** What the node still has to set up; refused leases do not hold up `vxtap ready`. */
  private missing(): string[] {
    const missing: string[] = [];
    if (this.manager?.lease == null) missing.push('lease');
    if (!this.deviceUp || !this.listed || !this.kernel.idle) missing.push('dataplane');
    if (!this.envWritten) missing.push('subnet.env');
    return missing;
  }

  /** Starts the node; resolves when it has stopped on a signal, rejects if the lease is revoked. */
  async run(): Promise<void> {
    const onSignal = (signal: string): void => void this.shutdown(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await this.start();
    } catch (e) {
      // A signal during start-up closes the store under it: that is a stop, not a failure.
      if (!this.stopping) {
        this.stopping = true;
        await this.close();
        throw e;
      }
    }
    return this.done;
  }

  private async start(): Promise<void> {
    const f = this.flags;
    const log = this.log;
    const user = f.user === null ? undefined : lookupUser(f.user);
    // The backend is not known yet; set-up needs the same for both.
    const privileges = (backend: 'vxlan' | 'udp'): Privileges => {
      const p = flannelPrivileges(backend, f.healthz?.port ?? null);
      return f.ipMasq ? withMasq(p) : p;
    };
    checkPrivileges(privileges('vxlan'), user, 'vxtap flannel');
    if (f.store.kind === 'file' && user !== undefined && user.uid !== process.getuid!()) checkLeaseFileWritable(f.store.path, user);
    prepareSubnetFile(f.subnetFile);
    if (f.ipMasq) {
      this.masq = new MasqRules(log);
      await this.masq.probe();
    }
    this.ext = findExternalInterface(f);
    const ext = this.ext;
    // debug: a start-up that fails (a bad config) should print its one error line and nothing else.
    log.debug({ iface: ext.name, addr: ext.addr, publicIp: ext.publicIp, mtu: ext.mtu }, 'external interface');
    if (f.healthz) {
      this.health = new HealthServer({
        host: f.healthz.ip, port: f.healthz.port, where: `--healthz-ip ${f.healthz.ip} --healthz-port ${f.healthz.port}`, fix: '--healthz-port',
        notReady: () => this.notReady(), metrics: this.metrics,
      });
      await this.health.listen();
    }
    this.store = openStore(f, log);
    if (f.networkConfig !== null && this.store instanceof FileStore) await seedConfig(this.store, f.networkConfig);

    const common = { store: this.store, ttlSec: f.leaseTtlSec, renewMarginSec: f.renewMarginSec, log };
    // The config decides the backend, and the backend what the lease publishes:
    // read it first, with a manager that publishes nothing (held, so that a
    // signal stops its retries).
    this.manager = new SubnetManager({ ...common, attrs: udpAttrs(ext.publicIp) });
    const config = await this.manager.getConfig();
    this.config = config;
    if (this.stopping) return;
    const backend: NodeBackend = config.backend.type === 'vxlan'
      ? new VxlanBackend(config.backend, ext, log)
      : new UdpBackend(config.backend, ext, config.network, log);
    this.backend = backend;
    this.control = new ControlServer(controlPathOr(f.control ?? undefined, () => backend.dev), {
      stats: () => ({ flannel: this.flannelView(), ...backend.statsView(), process: processStats() }),
      fdb: () => backend.fdbRows(),
      neigh: () => backend.neighRows(),
      routes: () => backend.routeRows(),
      leases: () => this.manager?.remoteLeases() ?? [],
    }, backend.streams(), { group: f.controlGroup ?? undefined });
    await this.control.listen();

    const manager = new SubnetManager({ ...common, attrs: backend.attrs, previousSubnet: readPreviousSubnet(f.subnetFile) });
    this.manager = manager;
    const lease = await manager.acquire(config);
    if (this.stopping) return;

    await backend.warmUp?.(lease);
    if (this.stopping) return;
    backend.start(lease);
    this.deviceUp = true;
    this.metrics.setDataPath(backend.stats());
    const guard = new LeaseGuard({
      network: config.network, subnetLen: config.subnetLen, own: lease.subnet, publicIp: ext.publicIp, vtepMac: backend.vtepMac, log, registry: this.metrics.registry,
    });
    this.guard = guard;
    if (this.masq !== null) {
      // Before subnet.env is rewritten: it holds the previous run's Network and subnet.
      await this.masq.start(config.network, lease.subnet, readPreviousNetwork(f.subnetFile));
      if (this.stopping) return;
    }
    writeSubnetEnv(f.subnetFile, { network: config.network, subnet: lease.subnet, mtu: backend.mtu, ipMasq: f.ipMasq });
    this.envWritten = true;
    this.dropped = dropPrivileges(privileges(config.backend.type), user);

    manager.on('leases', (batch) => {
      this.kernel.submit(backend.apply(guard.filter(batch)));
      this.checkReady();
    });
    manager.on('synced', () => {
      this.listed = true;
      this.checkReady();
    });
    manager.on('revoked', (err) => void this.shutdown('revoked', err));
    manager.start();
  }

  private flannelView(): object {
    const l = this.manager?.lease;
    return {
      backend: this.config?.backend,
      network: this.config && formatSubnet(this.config.network),
      subnet: l && formatSubnet(l.subnet),
      publicIp: this.ext?.publicIp,
      leaseExpires: l && (Number.isFinite(l.expires) ? new Date(l.expires).toISOString() : 'never (a reservation)'),
      storeUp: this.manager?.storeUp ?? false,
      remoteLeases: this.manager?.remoteLeases().length ?? 0,
      kernel: { batches: this.kernel.batches, commands: this.kernel.commands, failures: this.kernel.failures },
      // With the lease file: how often it was read whole (a watcher reads it only when it changed).
      leaseFileReads: this.store instanceof FileStore ? this.store.reads : undefined,
      refusedLeases: this.guard?.refusals() ?? [],
      ipMasq: this.masq !== null,
      notReady: this.notReady(),
    };
  }

  /** Logs `vxtap ready` the first time nothing is missing. */
  private checkReady(): void {
    if (this.announced || this.stopping || this.missing().length > 0) return;
    this.announced = true;
    const l = this.manager!.lease!;
    const b = this.backend!;
    this.log.info({
      backend: this.config!.backend.type,
      dev: b.dev,
      mtu: b.mtu,
      network: formatSubnet(this.config!.network),
      subnet: formatSubnet(l.subnet),
      publicIp: this.ext!.publicIp,
      iface: this.ext!.name,
      remoteLeases: this.manager!.remoteLeases().length,
      subnetFile: this.flags.subnetFile,
      control: this.control?.path,
      ...(this.dropped && { uid: this.dropped.uid, gid: this.dropped.gid, capabilities: this.dropped.capabilities }),
      readyMs: Math.round(performance.now() - this.t0),
    }, 'vxtap ready');
  }

  private async shutdown(why: string, err?: VxtapError): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.close();
    if (err) {
      this.log.flush();
      return this.finish(err);
    }
    this.log.info({ signal: why, stats: this.backend?.statsView() }, 'vxtap stopped; devices removed, lease kept');
    this.log.flush();
    setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
    this.finish();
  }

  private async close(): Promise<void> {
    this.manager?.stop();
    this.kernel.close();
    this.backend?.close();
    await this.masq?.close();
    this.control?.close();
    await this.health?.close();
    await this.store?.close();
  }
}

/**
 * Every renewal rewrites the lease file through its directory: a node that
 * will run as another user checks, before it sets anything up, that the user
 * can write there.
 */
function checkLeaseFileWritable(path: string, user: User): void {
  if (!userCanWrite(dirname(path), user)) {
    throw new VxtapError('E_PERMISSION', `--lease-file ${path}: user ${user.name} cannot write its directory ${dirname(path)}, as every renewal does: give a lease file in a directory that user can write`);
  }
}

/** `vxtap flannel [flanneld's flags]`. */
export async function runFlannel(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const flags = parseFlannelFlags(argv, env);
  const log = createLogger(env);
  return new FlannelNode(flags, log).run();
}
