// A lab of hosts on one machine: network namespaces joined by veth pairs (or
// a bridge in a switch namespace for more than two hosts). The demo, the
// integration tests and the benchmarks build their benches with it.
//
// Every namespace gets a name unique to this process and lab, traffic stays
// inside namespaces the lab made, and cleanup() (also run on process exit)
// kills what runs inside them and deletes them.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { rmdirSync } from 'node:fs';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONTROL_DIR, defaultControlPath } from '../control/control-path.js';
import { request } from '../control/server.js';

/** dist/src/lab -> the package root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');
export const TCPXFER = join(ROOT, 'dist', 'src', 'lab', 'tcpxfer.js');

/** The documentation range for underlays (RFC 5737). */
export const UNDERLAY = '198.51.100';
/** The documentation range for overlays (RFC 5737). */
export const OVERLAY = '203.0.113';
/** The IPv6 documentation prefix (RFC 3849) for inner IPv6 traffic: host n is `${OVERLAY6}n`, a /64. */
export const OVERLAY6 = '2001:db8::';

let labs = 0;
const live = new Set<Lab>();
process.on('exit', () => {
  for (const lab of live) lab.cleanupSync();
});

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export class Host {
  readonly children: ChildProcess[] = [];

  constructor(readonly ns: string, readonly name: string) {}

  /** Runs a command inside the namespace and returns its stdout. */
  run(cmd: string, ...args: string[]): string {
    return sh('ip', ['netns', 'exec', this.ns, cmd, ...args]);
  }

  /** Runs `ip -batch` inside the namespace. */
  ip(...cmds: string[]): void {
    sh('ip', ['-n', this.ns, '-batch', '-'], cmds.join('\n') + '\n');
  }

  /** Starts a long-running command inside the namespace. */
  spawn(cmd: string, args: string[]): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(p);
    return p;
  }

  /** Runs a command to completion inside the namespace, asynchronously. */
  async exec(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
    const p = this.spawn(cmd, args);
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [code] = (await once(p, 'exit')) as [number | null];
    clearTimeout(timer);
    if (code !== 0) throw new Error(`${this.name}: ${cmd} ${args.join(' ')} exited ${code}: ${err.trim() || out.trim()}`);
    return out;
  }

  /**
   * Starts vxtap inside the namespace and waits until it reports ready.
   * `control` is its control socket: the --control argument, or without one
   * the default vxtap derives for --dev in this (named) namespace. `cli`
   * is the build to run (bench:rtt compares builds).
   */
  async vxtap(args: string[], control = controlOf(args, this.ns), cli = CLI): Promise<Vxtap> {
    const p = this.spawn(process.execPath, [cli, ...args]);
    const v = new Vxtap(p, control);
    await v.ready();
    return v;
  }

  /**
   * Adds an IPv6 address to dev without duplicate address detection, so it
   * is usable at once (the lab's links hold no other host with it).
   */
  address6(dev: string, cidr: string): void {
    this.ip(`address add ${cidr} dev ${dev} nodad`);
  }

  /** Pings from this host (IPv4 or IPv6) with `size` bytes of ICMP payload; returns the average RTT in ms. Throws on loss. */
  async ping(dst: string, count = 3, intervalS = 0.2, size = 56): Promise<number> {
    const out = await this.exec('ping', ['-c', String(count), '-i', String(intervalS), '-W', '2', '-s', String(size), dst]);
    const m = /= [\d.]+\/([\d.]+)\//.exec(out);
    if (!m || !/ 0% packet loss/.test(out)) throw new Error(`${this.name}: ping ${dst} lost packets:\n${out}`);
    return Number(m[1]);
  }

  /** Interface counters as `ip -s -j link show` reports them. */
  linkStats(dev: string): { rx_packets: number; tx_packets: number } {
    const j = JSON.parse(this.run('ip', '-s', '-j', 'link', 'show', 'dev', dev)) as Array<{
      stats64: { rx: { packets: number }; tx: { packets: number } };
    }>;
    return { rx_packets: j[0].stats64.rx.packets, tx_packets: j[0].stats64.tx.packets };
  }
}

function controlOf(args: string[], ns: string): string {
  const i = args.indexOf('--control');
  if (i >= 0) return args[i + 1];
  const dev = args.indexOf('--dev');
  if (dev < 0) throw new Error('lab: give vxtap --control or --dev (or pass the control path to Host.vxtap) so the lab can reach it');
  return defaultControlPath(args[dev + 1], ns);
}

/** A vxtap process started by a Host. */
export class Vxtap {
  stderr = '';
  private exited: Promise<number | null>;

  constructor(readonly proc: ChildProcess, readonly control: string) {
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = once(proc, 'exit').then(([code]) => code as number | null);
  }

  async ready(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.stderr.includes('vxtap ready')) {
      if (this.proc.exitCode !== null) throw new Error(`vxtap exited ${this.proc.exitCode}: ${this.stderr.trim()}`);
      if (Date.now() > deadline) throw new Error(`vxtap not ready after ${timeoutMs} ms: ${this.stderr.trim()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  stats(): Promise<VxtapStats> {
    return request(this.control, 'stats') as Promise<VxtapStats>;
  }

  fdb(): Promise<Array<{ vni: number; mac: string; dev?: string; dst?: string; static: boolean }>> {
    return request(this.control, 'fdb') as Promise<Array<{ vni: number; mac: string; dev?: string; dst?: string; static: boolean }>>;
  }

  /** SIGTERM, then waits for a clean exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.alive) this.proc.kill('SIGTERM');
    return this.exited;
  }
}

export interface VxtapStats {
  vnis: Record<string, { rx_packets: number; rx_bytes: number; tx_packets: number; tx_bytes: number; flooded: number; fdb_entries: number }>;
  ports: Record<string, { vni: number; rx_packets: number; rx_bytes: number; tx_packets: number; partial_csums: number }>;
  drops: Record<string, number>;
  /** Frames for the TAPs whose TCP/UDP checksum a kernel sender left partial, finished or handed on with NEEDS_CSUM. */
  partial_csums?: number;
  udp?: { partial_csums: number };
  learning: Record<string, number>;
  /** The VXLAN pipeline's offloads as probed at start-up. */
  offloads: Record<string, boolean | number | string>;
}

export class Lab {
  readonly id: string;
  readonly hosts: Host[] = [];
  private readonly namespaces: string[] = [];

  constructor(tag = 'lab') {
    this.id = `vxt${process.pid.toString(36)}${(labs++).toString(36)}-${tag}`;
    live.add(this);
  }

  private addNamespace(name: string): string {
    const ns = `${this.id}-${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    // Loopback up. IPv6 is on, but devices make no addresses of their own
    // (addr_gen_mode 1: no link-local address, so no duplicate address
    // detection, router solicitations or MLD reports for it): the IPv6
    // frames on a lab's links are the ones its tests send, from addresses
    // they add with `nodad` (Host.address6), which are usable at once.
    sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.addr_gen_mode=1', 'net.ipv6.conf.default.addr_gen_mode=1']);
    sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A new host: its own namespace. */
  host(name: string): Host {
    const h = new Host(this.addNamespace(name), name);
    this.hosts.push(h);
    return h;
  }

  /**
   * Joins hosts into one underlay LAN, host i getting 198.51.100.(i+1)/24 on
   * device `ul0` with the given MTU: a veth pair for two hosts, a bridge in
   * its own namespace for more. The veths keep the offloads `ip link add
   * type veth` gives them, as containers and VMs on one host have them: a
   * kernel sender's TCP/UDP checksums then cross unfinished
   * (CHECKSUM_PARTIAL), and vxtap has to deliver them so. `txChecksum: false`
   * is the variant with tx checksum offload off, where the veth finishes
   * every checksum (and segments every GSO packet) in software. `len` is the
   * prefix length (a /25 leaves room for a routed second subnet).
   */
  underlay(hosts: Host[], mtu = 1500, { txChecksum = true, len = 24 } = {}): string[] {
    const addrs = hosts.map((_, i) => `${UNDERLAY}.${i + 1}`);
    if (hosts.length === 2) {
      sh('ip', ['link', 'add', 'ul0', 'netns', hosts[0].ns, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'ul0', 'netns', hosts[1].ns, 'mtu', String(mtu)]);
    } else {
      const sw = this.addNamespace('sw');
      sh('ip', ['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
      sh('ip', ['-n', sw, 'link', 'set', 'br0', 'up']);
      hosts.forEach((h, i) => {
        sh('ip', ['link', 'add', 'ul0', 'netns', h.ns, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw, 'mtu', String(mtu)]);
        sh('ip', ['-n', sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
      });
    }
    hosts.forEach((h, i) => {
      h.ip(`address add ${addrs[i]}/${len} dev ul0`, 'link set ul0 up');
      if (!txChecksum) h.run('ethtool', '-K', 'ul0', 'tx', 'off');
    });
    return addrs;
  }

  /** Kills what runs in the lab's namespaces and deletes them. */
  async cleanup(): Promise<void> {
    for (const h of this.hosts) for (const c of h.children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    this.cleanupSync();
  }

  cleanupSync(): void {
    for (const ns of this.namespaces.reverse()) {
      try {
        const pids = sh('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean);
        if (pids.length > 0) sh('kill', ['-9', ...pids]);
      } catch {
        // already gone
      }
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        // already gone
      }
      try {
        rmdirSync(`${CONTROL_DIR}/${ns}`); // the default control sockets' folder, once empty
      } catch {
        // never made, or still holds a socket given by --control
      }
    }
    this.namespaces.length = 0;
    live.delete(this);
  }
}

export interface Transfer {
  bytes: number;
  sha256: string;
  seconds: number;
}

/**
 * Sends `bytes` random bytes over TCP from `from` to `to` (listening on
 * dst:port), at `rate` bytes a second (0: as fast as it goes), and returns
 * what each end saw; equal hashes mean an intact stream.
 */
export async function transfer(from: Host, to: Host, dst: string, bytes: number, port = 5201, rate = 0): Promise<{ sent: Transfer; received: Transfer }> {
  const sink = to.spawn(process.execPath, [TCPXFER, 'sink', String(port)]);
  let out = '';
  let err = '';
  sink.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    sink.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('listening')) resolve();
    });
    sink.once('exit', () => reject(new Error(`tcp sink exited: ${err}`)));
  });
  const sent = JSON.parse(await from.exec(process.execPath, [TCPXFER, 'source', dst, String(port), String(bytes), String(rate)], 120_000)) as Transfer;
  if (sink.exitCode === null) await once(sink, 'exit');
  return { sent, received: JSON.parse(out) as Transfer };
}
