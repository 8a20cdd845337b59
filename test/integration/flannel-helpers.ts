// The bench for the flannel node tests: one lab whose underlay LAN joins a
// 'store' host, where a real etcd listens on 198.51.100.1:2379, and the node
// hosts. The test process reaches etcd only from inside the store's
// namespace (etcdctl, or a small node script for bulk writes), and each
// node's health server only from inside its own; control sockets are files,
// reachable from anywhere.
//
// Also here: a flanneld-style kernel VXLAN node, programmed from the leases
// exactly as flanneld's vxlan backend programs the kernel, and a pod address
// per node (a bridge `cni0` holding FLANNEL_SUBNET, as flannel's CNI plugin
// sets it up from subnet.env).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from '../../src/control/server.js';
import { encodeAttrs, type LeaseAttrs, vxlanAttrs } from '../../src/flannel/lease.js';
import { CLI, type Host, Lab, sh, UNDERLAY, Vxtap } from '../../src/lab/netns.js';
import { eventually, macOf } from '../helpers/peers.js';
import { EtcdServer, type EtcdServerOptions } from '../flannel/etcd-server.js';

/** test/integration (or dist/test/integration, for bench:flannel) -> the package root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
/** The overlay every test uses, as the brief and DESIGN.md give it. */
export const NETWORK = '198.18.0.0/16';
export const VXLAN_CONFIG = `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"vxlan"}}`;
export const UDP_CONFIG = `{"Network":"${NETWORK}","SubnetLen":24,"Backend":{"Type":"udp"}}`;
/** For clusters of up to 1023 other nodes: 1000 /24s do not fit in a /16, /26s do. */
export const SCALE_CONFIG = `{"Network":"${NETWORK}","SubnetLen":26,"Backend":{"Type":"vxlan"}}`;
const HEALTHZ_PORT = 9476;

/**
 * `count` vxlan leases of simulated nodes under SCALE_CONFIG, skipping the
 * key `own` (the real node's). Their PublicIPs are in 198.19.0.0/16
 * (benchmark range); no traffic goes to them.
 */
export function simulatedLeases(count: number, own: string): Array<[key: string, attrs: LeaseAttrs]> {
  const leases: Array<[string, LeaseAttrs]> = [];
  for (let i = 0, addr = 64; leases.length < count; addr += 64) {
    const key = `198.18.${addr >> 8}.${addr & 0xff}-26`;
    if (key === own) continue;
    const mac = `02:00:5e:01:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    leases.push([key, vxlanAttrs(`198.19.${i >> 8}.${i & 0xff}`, { vni: 1, vtepMac: mac })]);
    i++;
  }
  return leases;
}

export interface SubnetEnvFile {
  network: string;
  /** FLANNEL_SUBNET: the first host address with the lease's length. */
  subnet: string;
  mtu: number;
  ipMasq: string;
}

/** A `vxtap flannel` process on a host. */
export interface FlannelNode {
  host: Host;
  v: Vxtap;
  /** Its underlay address (what it publishes, unless told otherwise). */
  ip: string;
  subnetFile: string;
  control: string;
}

export class FlannelBench {
  readonly lab: Lab;
  readonly store: Host;
  readonly nodes: Host[];
  readonly ips = new Map<Host, string>();
  readonly dir = mkdtempSync(join(tmpdir(), 'vxtap-flannel-'));
  etcd!: EtcdServer;
  private running: FlannelNode[] = [];
  private prefixes = 0;

  /**
   * `txChecksum: false`: the underlay variant with tx checksum offload off (see Lab.underlay).
   * `routed`: the last node sits on a second underlay subnet behind a router
   * (see routeLastNode); the others share the first.
   */
  constructor(nodes: number, { txChecksum = true, routed = false } = {}) {
    this.lab = new Lab(routed ? 'flr' : txChecksum ? 'fl' : 'flx');
    this.store = this.lab.host('store');
    this.nodes = Array.from({ length: nodes }, (_, i) => this.lab.host(`n${i + 1}`));
    if (routed) {
      this.routeLastNode(txChecksum);
      return;
    }
    const addrs = this.lab.underlay([this.store, ...this.nodes], 1500, { txChecksum });
    [this.store, ...this.nodes].forEach((h, i) => this.ips.set(h, addrs[i]));
  }

  /**
   * Two underlay subnets inside 198.51.100.0/24 joined by a router host:
   * the store and all nodes but the last on 198.51.100.0/25 (.1, .2, ...,
   * the router after them), the last node alone on 198.51.100.128/25 (.130,
   * the router .129). Each side routes the other /25 via the router.
   */
  private routeLastNode(txChecksum: boolean): void {
    const far = this.nodes[this.nodes.length - 1];
    const lan = [this.store, ...this.nodes.slice(0, -1)];
    const router = this.lab.host('rt');
    const addrs = this.lab.underlay([...lan, router], 1500, { txChecksum, len: 25 });
    lan.forEach((h, i) => this.ips.set(h, addrs[i]));
    const rtLan = addrs[addrs.length - 1];
    sh('ip', ['link', 'add', 'ul1', 'netns', router.ns, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', far.ns]);
    router.ip(`address add ${UNDERLAY}.129/25 dev ul1`, 'link set ul1 up');
    router.run('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    far.ip(`address add ${UNDERLAY}.130/25 dev ul0`, 'link set ul0 up', `route add ${UNDERLAY}.0/25 via ${UNDERLAY}.129`);
    if (!txChecksum) far.run('ethtool', '-K', 'ul0', 'tx', 'off');
    for (const h of lan) h.ip(`route add ${UNDERLAY}.128/25 via ${rtLan}`);
    this.ips.set(far, `${UNDERLAY}.130`);
  }

  /** Starts etcd on the store host; `etcd` gives it TLS. */
  async start(etcd: EtcdServerOptions = {}): Promise<void> {
    this.etcd = await EtcdServer.create(this.ips.get(this.store)!, this.store.ns, etcd);
  }

  get endpoint(): string {
    return this.etcd.endpoint;
  }

  /** A fresh etcd prefix holding `config` (raw text, stored as given). */
  prefix(config: string | null): string {
    const p = `/vxtap-fl${this.prefixes++}/network`;
    if (config !== null) this.etcd.etcdctl('put', `${p}/config`, config);
    return p;
  }

  /** The flags every node gets: this etcd, its underlay, its own subnet file, control socket and health port. */
  nodeArgs(h: Host, prefix: string | null): string[] {
    return [
      ...(prefix === null ? [] : ['--etcd-endpoints', this.endpoint, '--etcd-prefix', prefix]),
      '--subnet-file', join(this.dir, `${h.name}.env`),
      '--control', this.controlOf(h),
      '--healthz-ip', '127.0.0.1', '--healthz-port', String(HEALTHZ_PORT),
    ];
  }

  controlOf(h: Host): string {
    return `/run/vxtap/${this.lab.id}-${h.name}.sock`;
  }

  /**
   * Starts `vxtap flannel` on h and waits for `vxtap ready`. `args` come
   * after the common ones (add --iface/--public-ip, or set env for FLANNELD_*).
   */
  async startNode(h: Host, prefix: string | null, args: string[] = ['--iface', 'ul0'], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<FlannelNode> {
    const p = h.spawn('env', [...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, 'flannel', ...this.nodeArgs(h, prefix), ...args]);
    const v = new Vxtap(p, this.controlOf(h));
    await v.ready(timeoutMs);
    const n: FlannelNode = { host: h, v, ip: this.ips.get(h)!, subnetFile: join(this.dir, `${h.name}.env`), control: this.controlOf(h) };
    this.running.push(n);
    return n;
  }

  /** Runs `vxtap flannel` on h to its exit; its exit code and stderr. */
  async runToExit(h: Host, prefix: string | null, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stderr: string }> {
    const p = h.spawn(process.execPath, [CLI, 'flannel', ...this.nodeArgs(h, prefix), ...args]);
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [code] = (await once(p, 'exit')) as [number | null];
    clearTimeout(timer);
    return { code, stderr };
  }

  /** Stops every node still running and removes what tests added to the hosts. */
  async reset(): Promise<void> {
    await Promise.all(this.running.map((n) => n.v.stop()));
    this.running = [];
    for (const h of this.nodes) {
      for (const c of h.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const dev of ['flannel.1', 'flannel0', 'cni0']) {
        try {
          h.run('ip', 'link', 'del', dev);
        } catch {
          // not there
        }
      }
      try {
        h.run('ip', 'route', 'del', 'default');
      } catch {
        // none
      }
      // What --ip-masq left behind if a test failed before its node stopped.
      h.run('iptables', '-t', 'nat', '-F');
      h.run('iptables', '-t', 'nat', '-X');
    }
  }

  async destroy(): Promise<void> {
    await this.reset().catch(() => undefined);
    await this.etcd?.destroy();
    await this.lab.cleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ---- etcd -----------------------------------------------------------------

  /** All leases under the prefix: key suffix -> value. */
  leases(prefix: string): Map<string, LeaseAttrs> {
    const out = this.etcd.etcdctl('get', '--prefix', `${prefix}/subnets/`, '-w', 'json');
    const kvs = (JSON.parse(out) as { kvs?: Array<{ key: string; value: string }> }).kvs ?? [];
    return new Map(kvs.map((kv) => [
      Buffer.from(kv.key, 'base64').toString().slice(`${prefix}/subnets/`.length),
      JSON.parse(Buffer.from(kv.value, 'base64').toString()) as LeaseAttrs,
    ]));
  }

  /** The raw value and etcd lease ID (hex) of one key; null if absent. */
  raw(key: string): { value: string; lease: string } | null {
    const out = this.etcd.etcdctl('get', key, '-w', 'json');
    const kv = (JSON.parse(out) as { kvs?: Array<{ value: string }> }).kvs?.[0];
    if (kv === undefined) return null;
    // Lease IDs are 64-bit: read the digits, not a JSON number.
    const lease = /"lease":(\d+)/.exec(out)?.[1] ?? '0';
    return { value: Buffer.from(kv.value, 'base64').toString(), lease: BigInt(lease).toString(16) };
  }

  /** The lease key a node holds, found by its PublicIP. */
  leaseOf(prefix: string, publicIp: string): { key: string; attrs: LeaseAttrs } {
    for (const [key, attrs] of this.leases(prefix)) if (attrs.PublicIP === publicIp) return { key, attrs };
    throw new Error(`no lease for ${publicIp} under ${prefix}`);
  }

  /** Publishes a lease as flanneld does: its value bound to an etcd lease with a TTL. */
  putLease(prefix: string, key: string, attrs: LeaseAttrs, ttlSec = 600): void {
    const id = /lease ([0-9a-f]+) granted/.exec(this.etcd.etcdctl('lease', 'grant', String(ttlSec)))![1];
    this.etcd.etcdctl('put', `--lease=${id}`, `${prefix}/subnets/${key}`, encodeAttrs(attrs));
  }

  deleteLease(prefix: string, key: string): void {
    this.etcd.etcdctl('del', `${prefix}/subnets/${key}`);
  }

  /**
   * Writes many leases at once from inside the store's namespace, with etcd3
   * from this package, on one etcd lease (TTL ttlSec): what etcdctl would
   * need a process per key for.
   */
  async putLeases(prefix: string, leases: Array<[key: string, attrs: LeaseAttrs]>, ttlSec = 600): Promise<void> {
    const file = join(this.dir, `leases-${Date.now()}.json`);
    writeFileSync(file, JSON.stringify(leases.map(([k, a]) => [`${prefix}/subnets/${k}`, encodeAttrs(a)])));
    const script = `
      const { Etcd3 } = require(process.argv[1]);
      const kvs = JSON.parse(require('node:fs').readFileSync(process.argv[3], 'utf8'));
      const c = new Etcd3({ hosts: process.argv[2] });
      (async () => {
        const { ID } = await c.leaseClient.leaseGrant({ TTL: Number(process.argv[4]) });
        for (let i = 0; i < kvs.length; i += 200) {
          await Promise.all(kvs.slice(i, i + 200).map(([key, value]) =>
            c.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: ID })));
        }
        c.close();
      })().catch((e) => { console.error(e.message); process.exit(1); });`;
    await this.store.exec(process.execPath, ['-e', script, join(ROOT, 'node_modules', 'etcd3'), this.endpoint, file, String(ttlSec)]);
    rmSync(file);
  }

  // ---- nodes --------------------------------------------------------------

  /** The lease key (`198.18.7.0-24`) a node holds, from its subnet.env. */
  keyOf(n: { subnetFile: string }): string {
    const { subnet } = this.subnetEnv(n);
    return `${netAddr(subnet)}-${subnet.split('/')[1]}`;
  }

  subnetEnv(n: { subnetFile: string }): SubnetEnvFile {
    const kv = Object.fromEntries(readFileSync(n.subnetFile, 'utf8').trim().split('\n').map((l) => l.split('=') as [string, string]));
    return { network: kv.FLANNEL_NETWORK, subnet: kv.FLANNEL_SUBNET, mtu: Number(kv.FLANNEL_MTU), ipMasq: kv.FLANNEL_IPMASQ };
  }
}

/** `vxtap stats` of a node: its flannel view and the data path's counters. */
export async function nodeStats(n: FlannelNode): Promise<{ flannel: { subnet: string; storeUp: boolean; remoteLeases: number; notReady: string[]; kernel: { failures: number } } } & Record<string, unknown>> {
  return request(n.control, 'stats') as never;
}

/** The userspace FDB entries that point at remote VTEPs, MAC -> underlay address. */
export async function remoteFdb(n: FlannelNode): Promise<Map<string, string>> {
  const rows = (await request(n.control, 'fdb')) as Array<{ mac: string; dst?: string }>;
  return new Map(rows.filter((r) => r.dst !== undefined).map((r) => [r.mac, r.dst!]));
}

/** GETs a path of the node's health server from inside its namespace. */
export async function healthz(n: FlannelNode, path: string): Promise<{ status: number; body: string }> {
  const script = `fetch(process.argv[1]).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })))`;
  return JSON.parse(await n.host.exec(process.execPath, ['-e', script, `http://127.0.0.1:${HEALTHZ_PORT}${path}`])) as { status: number; body: string };
}

/** One metric's value from /metrics text, or undefined. */
export function metric(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

export interface KernelRoute {
  dst: string;
  gateway?: string;
  flags?: string[];
}

export function routesOn(h: Host, dev: string): KernelRoute[] {
  return JSON.parse(h.run('ip', '-j', '-4', 'route', 'show', 'dev', dev)) as KernelRoute[];
}

export function neighsOn(h: Host, dev: string): Array<{ dst: string; lladdr?: string; state?: string[] }> {
  return JSON.parse(h.run('ip', '-j', '-4', 'neigh', 'show', 'dev', dev)) as Array<{ dst: string; lladdr?: string; state?: string[] }>;
}

/**
 * The network address of a lease key (`198.18.7.0-24` -> 198.18.7.0) or of
 * a FLANNEL_SUBNET, which holds the first host address (`198.18.7.1/24`).
 */
export function netAddr(keyOrSubnet: string): string {
  if (keyOrSubnet.includes('-')) return keyOrSubnet.split('-')[0];
  const o = keyOrSubnet.split('/')[0].split('.').map(Number);
  return `${o[0]}.${o[1]}.${o[2]}.${o[3] - 1}`;
}

/** A pod address as flannel's CNI plugin would give the node: a bridge cni0 holding FLANNEL_SUBNET. Returns its address. */
export function addPod(h: Host, env: SubnetEnvFile): string {
  h.ip('link add cni0 type bridge', `address add ${env.subnet} dev cni0`, 'link set cni0 up');
  return env.subnet.split('/')[0];
}

/**
 * A flanneld vxlan node in the kernel: flannel.1 as flanneld creates it, and
 * its lease published in flanneld's format.
 */
export function kernelFlannelNode(b: FlannelBench, h: Host, prefix: string, key: string): { mac: string; attrs: LeaseAttrs } {
  const ip = b.ips.get(h)!;
  h.ip(
    `link add flannel.1 type vxlan id 1 local ${ip} dev ul0 dstport 8472 nolearning`,
    'link set flannel.1 mtu 1450',
    `address add ${netAddr(key)}/32 dev flannel.1`,
    'link set flannel.1 up',
  );
  const mac = macOf(h, 'flannel.1');
  const attrs: LeaseAttrs = { PublicIP: ip, PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac } };
  b.putLease(prefix, key, attrs);
  return { mac, attrs };
}

/** What flanneld's vxlan backend programs for another node's lease (neighbour, FDB, route). */
export function programLikeFlanneld(h: Host, key: string, attrs: LeaseAttrs): void {
  const addr = netAddr(key);
  const mac = (attrs.BackendData as { VtepMAC: string }).VtepMAC;
  h.ip(`neigh replace ${addr} lladdr ${mac} dev flannel.1 nud permanent`);
  h.run('bridge', 'fdb', 'replace', mac, 'dev', 'flannel.1', 'dst', attrs.PublicIP, 'self', 'permanent');
  h.ip(`route replace ${key.replace('-', '/')} via ${addr} dev flannel.1 onlink`);
}

/** socat as a flanneld udp node: flannel0 with the lease's address and the Network's prefix, as flanneld sets it. */
export async function socatFlannelNode(h: Host, self: string, peer: string, key: string): Promise<void> {
  const p = h.spawn('socat', [`TUN:${netAddr(key)}/16,tun-type=tun,iff-up,iff-no-pi,tun-name=flannel0`, `UDP-DATAGRAM:${peer}:8285,bind=${self}:8285`]);
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      h.run('ip', 'link', 'show', 'dev', 'flannel0');
      break;
    } catch {
      if (p.exitCode !== null) throw new Error(`socat exited ${p.exitCode}`);
      if (Date.now() > deadline) throw new Error('socat made no flannel0');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  h.ip('link set dev flannel0 mtu 1472');
}

/** Pings continuously in the background; resolves with what ping reports when done. */
export function pingFlow(h: Host, dst: string, count: number, intervalS: number): Promise<{ sent: number; received: number; out: string }> {
  const p = spawn('ip', ['netns', 'exec', h.ns, 'ping', '-c', String(count), '-i', String(intervalS), '-W', '1', dst], { stdio: ['ignore', 'pipe', 'pipe'] });
  h.children.push(p);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return once(p, 'exit').then(() => {
    const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
    return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), out };
  });
}

/** A running tshark on one device of a host, printing chosen fields per packet. */
export interface Capture {
  /** The packets so far, one array of field values each. */
  rows(): string[][];
  /** Stops tshark; the packets it printed. */
  stop(): Promise<string[][]>;
}

/**
 * Starts tshark on `dev` of `h` with a capture filter, printing `fields`
 * per packet as it sees it; a field in several headers (an encapsulated
 * packet's ip.src) lists them all, outer first, joined by commas.
 */
export async function capture(h: Host, dev: string, filter: string, fields: string[], decodeAs: string[] = []): Promise<Capture> {
  const p = h.spawn('tshark', ['-i', dev, '-f', filter, '-l', '-n', ...decodeAs, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,', ...fields.flatMap((f) => ['-e', f])]);
  let out = '';
  let err = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 15_000;
  while (!err.includes('Capturing on')) {
    if (p.exitCode !== null) throw new Error(`tshark on ${h.name} ${dev} exited ${p.exitCode}: ${err}`);
    if (Date.now() > deadline) throw new Error(`tshark on ${h.name} ${dev} did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const rows = (): string[][] => out.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  return {
    rows,
    stop: async () => {
      if (p.exitCode === null) {
        p.kill('SIGINT');
        await once(p, 'exit');
      }
      return rows();
    },
  };
}

/** `iptables -t nat -S` of a host, one rule a line. */
export function natRules(h: Host): string[] {
  return h.run('iptables', '-t', 'nat', '-S').trim().split('\n');
}

/** Pings dst from address src on h, one at a time, until the capture holds `n` packets. */
export async function pingUntilCaptured(h: Host, src: string, dst: string, cap: Capture, n = 3): Promise<void> {
  await eventually(`${n} packets captured for ${src} -> ${dst}`, async () => {
    await h.exec('ping', ['-c', '1', '-W', '2', '-I', src, dst]);
    return cap.rows().length >= n;
  }, 20_000);
}
