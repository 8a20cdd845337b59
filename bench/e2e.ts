// `npm run bench:e2e` (root): the overlays of issue 3 side by side, measured
// in one run on one namespace bench (DESIGN.md: compare ratios from one run,
// not absolute times), with the userspace peers of issue 12 from Debian's
// packages: Open vSwitch's netdev datapath with a VXLAN port, tinc 1.0 in
// switch mode without cipher, n2n 1.3 and wireguard-go (encrypted). A peer
// whose commands are not installed is reported as such and skipped.
//
// Each path gets fresh namespaces a and b joined by a veth underlay
// (198.51.100.0/24, MTU 1500, the veth's default offloads, as a NIC has
// them: the kernel keeps TSO/GSO across it), then, from a to b:
//   - ping RTT (20 pings, 50 ms apart, before any load);
//   - iperf3 TCP, 1 and 4 streams, 5 s each;
//   - iperf3 UDP with 64-byte payloads and no rate limit, 5 s: the packet rate
//     the far end received, next to what the generator sent and the share
//     lost (see generatorLines for why that proves the generator kept up).
// Paths run one after the other, each in fresh namespaces, and the whole
// sequence is repeated (3 rounds by default, --rounds N): on a 2-core machine
// one 5-second figure moves by a third when anything else wakes up, and
// interleaving the rounds spreads such noise over all paths instead of
// landing on one. Each figure reported is the round with the median value.
// `--tx-offload off` runs the same over the tests' underlay instead, with the
// veth's tx checksum offload off (see Lab.underlay): the kernel then
// segments and checksums every path's traffic in software at the veth.
// Output: a table with ratios to kernel VXLAN, bench/results/e2e.json and
// bench/results/e2e.svg (e2e-txoff.* with --tx-offload off).
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, OVERLAY, sh, type Host, type Vxtap } from '../src/lab/netns.js';
import { eventually, kernelVxlan } from '../test/helpers/peers.js';
import { BUSY_WARN_PCT, fmt, machine, machineLine, quiet, table, writeResult, type Machine } from './report.js';

const SECONDS = 5;
/** Longest wait for a quiet machine before each path; bounds the run at about 6 minutes on a busy one. */
const QUIET_WAIT_MS = 5000;
const IPERF_PORT = 5201;
const VNI = 42;
/** Overlay addresses of a and b on the L3 (UDP) paths, in 198.18.0.0/15 as in the UDP tests. */
const UDP_A = '198.18.1.1';
const UDP_B = '198.18.2.1';
/** flannel's udp backend port, which socat also uses. */
const FLANNEL_UDP_PORT = 8285;

export interface Overlay {
  /** b's address on this path: where a aims the traffic. */
  dst: string;
  /** a's device on this path, whose MTU is recorded. */
  dev: string;
  /** vxtap instances by host, whose drop counters are recorded after the run. */
  vxtaps: { a?: Vxtap; b?: Vxtap };
}

/** What a path's set-up may hold beyond the lab: a temporary folder, and clean-ups run after the lab's. */
export interface Scratch {
  /** A fresh folder of this path's own (configs, keys, sockets), removed after the round. */
  dir: string;
  /** Registers a clean-up, run after the round even if the set-up failed. */
  defer(fn: () => void): void;
}

export interface PathSpec {
  key: string;
  label: string;
  color: string;
  /** Commands the path needs; a missing one skips the path as "not installed". */
  tools?: string[];
  setup(lab: Lab, a: Host, b: Host, ipA: string, ipB: string, scratch: Scratch): Promise<Overlay>;
}

const control = (lab: Lab, h: Host): string[] => ['--control', `/run/vxtap/${lab.id}-${h.name}.sock`];

/** Underlay tx checksum offload: on, the veth's default, unless --tx-offload off. */
let txOffload = true;

/** vxtap vxlan at both ends, with extra flags (queues, offloads off). */
function vxtapVxlanPath(key: string, label: string, color: string, extra: string[]): PathSpec {
  return {
    key,
    label,
    color,
    async setup(lab, a, b, ipA, ipB) {
      const vxlan = (h: Host, local: string, remote: string, n: number): Promise<Vxtap> => h.vxtap([
        'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', local, '--remote', remote,
        '--address', `${OVERLAY}.${n}/24`, '--mtu', '1450', ...extra, ...control(lab, h),
      ]);
      const vxtaps = { a: await vxlan(a, ipA, ipB, 1), b: await vxlan(b, ipB, ipA, 2) };
      return { dst: `${OVERLAY}.2`, dev: 'vxt0', vxtaps };
    },
  };
}

export const PATHS: PathSpec[] = [
  {
    key: 'veth',
    label: 'plain veth',
    color: '#8c8c8c',
    async setup(_lab, _a, _b, _ipA, ipB) {
      return { dst: ipB, dev: 'ul0', vxtaps: {} };
    },
  },
  {
    key: 'kernel-vxlan',
    label: 'kernel VXLAN',
    color: '#1f77b4',
    async setup(_lab, a, b, ipA, ipB) {
      kernelVxlan(a, { vni: VNI, local: ipA, remotes: [ipB], address: `${OVERLAY}.1/24`, learning: true });
      kernelVxlan(b, { vni: VNI, local: ipB, remotes: [ipA], address: `${OVERLAY}.2/24`, learning: true });
      return { dst: `${OVERLAY}.2`, dev: 'vx0', vxtaps: {} };
    },
  },
  vxtapVxlanPath('vxtap-vxlan', 'vxtap VXLAN', '#ff7f0e', []),
  {
    // The mixed cluster: a kernel VTEP sends to vxtap (and takes its ACKs),
    // the interop users have with flanneld and kernel nodes.
    key: 'kernel-vxtap',
    label: 'kernel VXLAN -> vxtap',
    color: '#9467bd',
    async setup(lab, a, b, ipA, ipB) {
      kernelVxlan(a, { vni: VNI, local: ipA, remotes: [ipB], address: `${OVERLAY}.1/24`, learning: true });
      const vxtaps = { b: await b.vxtap([
        'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', ipB, '--remote', ipA,
        '--address', `${OVERLAY}.2/24`, '--mtu', '1450', ...control(lab, b),
      ]) };
      return { dst: `${OVERLAY}.2`, dev: 'vx0', vxtaps };
    },
  },
  vxtapVxlanPath('vxtap-vxlan-noff', 'vxtap VXLAN, no offload', '#ffbb78', ['--no-offload']),
  vxtapVxlanPath('vxtap-vxlan-q2', 'vxtap VXLAN, 2 queues', '#e377c2', ['--queues', '2']),
  {
    key: 'vxtap-udp',
    label: 'vxtap UDP',
    color: '#2ca02c',
    async setup(lab, a, b, ipA, ipB) {
      const udp = (h: Host, local: string, address: string, route: string): Promise<Vxtap> => h.vxtap([
        'udp', '--dev', 'tun0', '--local', local, '--address', `${address}/16`, '--route', route, '--mtu', '1472',
        ...control(lab, h),
      ]);
      const vxtaps = { a: await udp(a, ipA, UDP_A, `198.18.2.0/24=${ipB}`), b: await udp(b, ipB, UDP_B, `198.18.1.0/24=${ipA}`) };
      return { dst: UDP_B, dev: 'tun0', vxtaps };
    },
  },
  {
    key: 'socat',
    label: 'socat TUN<->UDP',
    color: '#d62728',
    async setup(_lab, a, b, ipA, ipB) {
      await socatTun(a, `${UDP_A}/16`, ipA, ipB);
      await socatTun(b, `${UDP_B}/16`, ipB, ipA);
      return { dst: UDP_B, dev: 'tun0', vxtaps: {} };
    },
  },
  {
    key: 'ovs-netdev',
    label: 'Open vSwitch netdev VXLAN',
    color: '#17becf',
    tools: ['ovsdb-tool', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl'],
    async setup(_lab, a, b, ipA, ipB, scratch) {
      await ovsNetdev(a, 1, ipA, ipB, scratch);
      await ovsNetdev(b, 2, ipB, ipA, scratch);
      await eventually('the underlay through br-phy', () => a.ping(ipB, 1, 0.2).then(() => true, () => false));
      return { dst: `${OVERLAY}.2`, dev: 'br-int', vxtaps: {} };
    },
  },
  {
    key: 'tinc',
    label: 'tinc 1.0 switch, no cipher',
    color: '#bcbd22',
    tools: ['tincd'],
    async setup(_lab, a, b, ipA, ipB, scratch) {
      const dirs = [tincConfig(a, ipA, 'b', scratch), tincConfig(b, ipB, undefined, scratch)];
      // Each side's host file (address, cipher, public key) goes to the other.
      for (const [from, to, name] of [[dirs[0], dirs[1], 'a'], [dirs[1], dirs[0], 'b']] as const) {
        writeFileSync(join(to, 'hosts', name), readFileSync(join(from, 'hosts', name)));
      }
      await tincd(b, dirs[1], 2);
      await tincd(a, dirs[0], 1);
      return { dst: `${OVERLAY}.2`, dev: 'tinc0', vxtaps: {} };
    },
  },
  {
    key: 'n2n',
    label: 'n2n 1.3 (Twofish)',
    color: '#7f7f7f',
    tools: ['supernode', 'edge'],
    async setup(_lab, a, b, ipA) {
      // The supernode on a, where both edges register; the edges then talk directly.
      const sn = a.spawn('supernode', ['-l', String(N2N_SUPERNODE_PORT)]);
      drain(sn);
      await eventually('n2n supernode to listen', () => {
        if (sn.exitCode !== null) throw new Error(`supernode exited ${sn.exitCode}`);
        return a.run('ss', '-Hlun', `sport = :${N2N_SUPERNODE_PORT}`).trim() !== '';
      });
      for (const [h, n] of [[a, 1], [b, 2]] as const) {
        // n2n 1.3 always encrypts with Twofish: without -k, edge prints its usage and exits.
        const e = h.spawn('edge', ['-d', 'n2n0', '-a', `${OVERLAY}.${n}`, '-s', '255.255.255.0', '-c', 'vxtapbench',
          '-k', 'vxtapbench', '-M', String(N2N_MTU), '-l', `${ipA}:${N2N_SUPERNODE_PORT}`]);
        drain(e);
        await deviceUp(h, 'n2n0', e, 'edge');
      }
      return { dst: `${OVERLAY}.2`, dev: 'n2n0', vxtaps: {} };
    },
  },
  {
    key: 'wireguard-go',
    label: 'wireguard-go (encrypted)',
    color: '#8c564b',
    tools: ['wireguard-go', 'wg'],
    async setup(lab, a, b, ipA, ipB, scratch) {
      const keys = [wgKey(), wgKey()];
      const devs = [`${lab.id.split('-')[0]}a`, `${lab.id.split('-')[0]}b`];
      await wireguardGo(a, devs[0], `${UDP_A}/16`, keys[0].priv, keys[1].pub, ipB, scratch);
      await wireguardGo(b, devs[1], `${UDP_B}/16`, keys[1].priv, keys[0].pub, ipA, scratch);
      return { dst: UDP_B, dev: devs[0], vxtaps: {} };
    },
  },
];

/** The supernode's port, n2n's customary one. */
const N2N_SUPERNODE_PORT = 7654;
/**
 * n2n's TAP MTU. Its default, 1400, makes 1508-byte datagrams (94 bytes of
 * header and Twofish over the frame) that the 1500-byte underlay fragments;
 * 1360 fits them in one packet.
 */
const N2N_MTU = 1360;
const WG_PORT = 51820;
const TINC_PORT = 655;

/** Drained so a chatty daemon (or a long run's iperf3 -s) can never fill its pipe and stall. */
function drain(p: ChildProcess): void {
  p.stdout!.resume();
  p.stderr!.resume();
}

/** Waits for a daemon's device to appear, then gives it its address (if any) and brings it up. */
async function deviceUp(h: Host, dev: string, p: ChildProcess, what: string, address?: string, mtu?: number): Promise<void> {
  await eventually(`${what}'s ${dev} in ${h.name}`, () => {
    if (p.exitCode !== null) throw new Error(`${what} in ${h.name} exited ${p.exitCode}`);
    try {
      h.run('ip', 'link', 'show', 'dev', dev);
      return true;
    } catch {
      return false;
    }
  });
  h.ip(...(mtu === undefined ? [] : [`link set dev ${dev} mtu ${mtu}`]), ...(address === undefined ? [] : [`address add ${address} dev ${dev}`]), `link set dev ${dev} up`);
}

/**
 * Open vSwitch's userspace datapath as its userspace-tunnelling guide sets it
 * up: a private ovsdb-server and ovs-vswitchd in the host's namespace, a
 * netdev bridge br-phy holding the underlay veth (whose address moves to
 * br-phy, where the datapath sends the tunnel's packets from), and a netdev
 * bridge br-int whose internal port (a TAP) carries the overlay address,
 * with a VXLAN port to the peer. MTU 1450, as on the kernel's VXLAN device.
 */
async function ovsNetdev(h: Host, n: number, self: string, peer: string, scratch: Scratch): Promise<void> {
  const dir = join(scratch.dir, h.name);
  mkdirSync(dir);
  const env = [`OVS_RUNDIR=${dir}`, `OVS_DBDIR=${dir}`, `OVS_LOGDIR=${dir}`, `OVS_SYSCONFDIR=${dir}`];
  const db = `unix:${dir}/db.sock`;
  sh('ovsdb-tool', ['create', join(dir, 'conf.db'), '/usr/share/openvswitch/vswitch.ovsschema']);
  const server = h.spawn('env', [...env, 'ovsdb-server', join(dir, 'conf.db'), `--remote=p${db}`, `--unixctl=${dir}/ovsdb.ctl`,
    `--pidfile=${dir}/ovsdb.pid`, '--no-chdir', `--log-file=${dir}/ovsdb.log`, '-vconsole:off']);
  drain(server);
  await eventually(`ovsdb-server in ${h.name}`, () => {
    if (server.exitCode !== null) throw new Error(`ovsdb-server in ${h.name} exited ${server.exitCode}`);
    return existsSync(join(dir, 'db.sock'));
  });
  const vsctl = (...args: string[]): string => h.run('env', ...env, 'ovs-vsctl', `--db=${db}`, '--timeout=10', ...args);
  vsctl('--no-wait', 'init');
  const vswitchd = h.spawn('env', [...env, 'ovs-vswitchd', db, `--unixctl=${dir}/vswitchd.ctl`, `--pidfile=${dir}/vswitchd.pid`,
    '--no-chdir', `--log-file=${dir}/vswitchd.log`, '-vconsole:off']);
  drain(vswitchd);
  vsctl(
    'add-br', 'br-phy', '--', 'set', 'bridge', 'br-phy', 'datapath_type=netdev', '--', 'add-port', 'br-phy', 'ul0',
    '--', 'add-br', 'br-int', '--', 'set', 'bridge', 'br-int', 'datapath_type=netdev', '--', 'set', 'interface', 'br-int', 'mtu_request=1450',
    '--', 'add-port', 'br-int', 'vxlan0', '--', 'set', 'interface', 'vxlan0', 'type=vxlan', `options:remote_ip=${peer}`, `options:key=${VNI}`,
  );
  await deviceUp(h, 'br-int', vswitchd, 'ovs-vswitchd', `${OVERLAY}.${n}/24`);
  await deviceUp(h, 'br-phy', vswitchd, 'ovs-vswitchd');
  h.ip(`address del ${self}/24 dev ul0`, `address add ${self}/24 dev br-phy`);
}

/**
 * tinc 1.0 in switch mode (a virtual Ethernet switch over its TAP) with
 * neither cipher nor MAC on the data packets (Cipher = none, Digest = none
 * in both host files), a fresh 2048-bit RSA key per run. The meta
 * connection (TCP) still authenticates with RSA; the frames travel over UDP
 * in the clear. The TAP gets MTU 1450, as the kernel's VXLAN device.
 */
function tincConfig(h: Host, self: string, connectTo: string | undefined, scratch: Scratch): string {
  const dir = join(scratch.dir, h.name);
  mkdirSync(join(dir, 'hosts'), { recursive: true });
  writeFileSync(join(dir, 'tinc.conf'), [`Name = ${h.name}`, 'Mode = switch', 'DeviceType = tap', 'Interface = tinc0',
    'AddressFamily = ipv4', `BindToAddress = ${self}`, ...(connectTo ? [`ConnectTo = ${connectTo}`] : []), ''].join('\n'));
  writeFileSync(join(dir, 'hosts', h.name), [`Address = ${self}`, `Port = ${TINC_PORT}`, 'Cipher = none', 'Digest = none', ''].join('\n'));
  // -K appends the public key to hosts/NAME; stdin closed takes the default file names.
  sh('tincd', ['-n', 'bench', '--config', dir, '-K', '2048'], '');
  return dir;
}

async function tincd(h: Host, dir: string, n: number): Promise<void> {
  const p = h.spawn('tincd', ['-D', '-d', '0', '-n', 'bench', '--config', dir, `--pidfile=${join(dir, 'tinc.pid')}`]);
  drain(p);
  await deviceUp(h, 'tinc0', p, 'tincd', `${OVERLAY}.${n}/24`, 1450);
}

function wgKey(): { priv: string; pub: string } {
  const priv = sh('wg', ['genkey']).trim();
  return { priv, pub: sh('wg', ['pubkey'], priv + '\n').trim() };
}

/**
 * wireguard-go's userspace device (a TUN, MTU 1420 by default), configured
 * with wg: one peer, its whole /16 routed to it. Encrypted
 * (ChaCha20-Poly1305), unlike the other peers. The device name is unique to
 * the lab because wireguard-go's control socket, /var/run/wireguard/DEV.sock,
 * is shared by all namespaces.
 */
async function wireguardGo(h: Host, dev: string, address: string, priv: string, peerPub: string, peer: string, scratch: Scratch): Promise<void> {
  const p = h.spawn('env', ['WG_PROCESS_FOREGROUND=1', 'wireguard-go', '-f', dev]);
  drain(p);
  scratch.defer(() => rmSync(`/var/run/wireguard/${dev}.sock`, { force: true }));
  await eventually(`wireguard-go's ${dev} in ${h.name}`, () => {
    if (p.exitCode !== null) throw new Error(`wireguard-go in ${h.name} exited ${p.exitCode}`);
    return existsSync(`/var/run/wireguard/${dev}.sock`);
  });
  const key = join(scratch.dir, `${h.name}.key`);
  writeFileSync(key, priv + '\n', { mode: 0o600 });
  h.run('wg', 'set', dev, 'listen-port', String(WG_PORT), 'private-key', key,
    'peer', peerPub, 'endpoint', `${peer}:${WG_PORT}`, 'allowed-ips', '198.18.0.0/16');
  h.ip(`address add ${address} dev ${dev}`, `link set dev ${dev} up`);
}

/** The tools of `tools` not found on PATH. */
function missingTools(tools: string[]): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return tools.filter((t) => !dirs.some((d) => existsSync(join(d, t))));
}

/**
 * The naive userspace tunnel, as DESIGN.md gives the flannel-udp-style peer:
 * one read and one write per packet. Its TUN gets the UDP paths' MTU
 * (underlay - 28), as flanneld sets on flannel0.
 */
async function socatTun(h: Host, address: string, self: string, peer: string): Promise<void> {
  const p = h.spawn('socat', [
    `TUN:${address},tun-type=tun,iff-up,iff-no-pi,tun-name=tun0`,
    `UDP-DATAGRAM:${peer}:${FLANNEL_UDP_PORT},bind=${self}:${FLANNEL_UDP_PORT}`,
  ]);
  await deviceUp(h, 'tun0', p, 'socat', undefined, 1472);
}

// ---- measurements ---------------------------------------------------------

interface Failed {
  error: string;
}
type Outcome<T extends object> = T | Failed;

interface Ping {
  avgMs: number;
}
interface Tcp {
  gbps: number;
  retransmits: number;
  /** CPU use of the iperf3 processes, percent of one core, as iperf3 reports it. */
  senderCpu: number;
  receiverCpu: number;
}
interface Udp {
  sentPps: number;
  receivedPps: number;
  lostPct: number;
  senderCpu: number;
  receiverCpu: number;
}

/** A path's figures: from one round, or the median round of each. */
const FIGURES = ['ping', 'tcp1', 'tcp4', 'udp64'] as const;
interface Figures {
  ping?: Outcome<Ping>;
  tcp1?: Outcome<Tcp>;
  tcp4?: Outcome<Tcp>;
  udp64?: Outcome<Udp>;
}

/** One round of one path. */
interface PathRun extends Figures {
  /**
   * CPU use of the whole machine in the second before the path was built:
   * other people's load. The bench waits up to QUIET_WAIT_MS for it to drop.
   */
  othersBusyPct: number;
  mtu?: number;
  /** Offload state of a's underlay veth, as `ethtool -k ul0` reports it. */
  underlay?: Record<string, string>;
  /** Set when the path could not be built; the figures are then missing. */
  error?: string;
  /** The path's tools that are not installed: the path was skipped. */
  notInstalled?: string[];
  /** vxtap's nonzero drop counters after the round, per host. */
  drops?: Record<string, Record<string, number>>;
  /** Frames with a checksum a kernel sender left partial that vxtap delivered, per host (stats partial_csums). */
  partialCsums?: Record<string, number>;
}

interface PathResult extends Figures {
  key: string;
  label: string;
  mtu?: number;
  /** The tools missing on this machine, when the path was skipped. */
  notInstalled?: string[];
  runs: PathRun[];
}

function failed<T extends object>(o: Outcome<T> | undefined): o is Failed | undefined {
  return o === undefined || 'error' in o;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function attempt<T extends object>(what: string, key: string, fn: () => Promise<T>, show: (v: T) => string): Promise<Outcome<T>> {
  try {
    const v = await fn();
    process.stderr.write(`  [${key}] ${what}: ${show(v)}\n`);
    return v;
  } catch (e) {
    process.stderr.write(`  [${key}] ${what}: FAILED: ${message(e)}\n`);
    return { error: message(e) };
  }
}

/** The end-of-test summary of `iperf3 -J`, as much of it as the bench reads. */
interface IperfEnd {
  sum_sent: { seconds: number; bytes: number; packets?: number; retransmits?: number };
  sum_received: { seconds: number; bytes: number; bits_per_second: number };
  cpu_utilization_percent: { host_total: number; remote_total: number };
}

async function iperf(a: Host, dst: string, args: string[]): Promise<IperfEnd> {
  let out: string;
  try {
    out = await a.exec('iperf3', ['-c', dst, '-p', String(IPERF_PORT), '-t', String(SECONDS), '-J', ...args], (SECONDS + 25) * 1000);
  } catch (e) {
    // With -J, iperf3 puts its error in the JSON on stdout, which exec's message carries.
    const m = /"error":\s*"([^"]*)"/.exec(message(e));
    throw new Error(m ? `iperf3: ${m[1]}` : message(e));
  }
  return (JSON.parse(out) as { end: IperfEnd }).end;
}

async function tcp(a: Host, dst: string, streams: number): Promise<Tcp> {
  const end = await iperf(a, dst, ['-P', String(streams)]);
  return {
    gbps: end.sum_received.bits_per_second / 1e9,
    retransmits: end.sum_sent.retransmits ?? 0,
    senderCpu: end.cpu_utilization_percent.host_total,
    receiverCpu: end.cpu_utilization_percent.remote_total,
  };
}

const UDP_PAYLOAD = 64;

/** 64-byte datagrams as fast as one iperf3 thread sends them (-b 0: no rate limit). */
async function udp64(a: Host, dst: string): Promise<Udp> {
  const end = await iperf(a, dst, ['-u', '-l', String(UDP_PAYLOAD), '-b', '0']);
  const sent = end.sum_sent.packets ?? 0;
  // sum_received.packets is the highest sequence number seen; bytes / payload counts what arrived.
  const received = end.sum_received.bytes / UDP_PAYLOAD;
  return {
    sentPps: sent / end.sum_sent.seconds,
    receivedPps: received / end.sum_received.seconds,
    lostPct: sent > 0 ? (100 * (sent - received)) / sent : 0,
    senderCpu: end.cpu_utilization_percent.host_total,
    receiverCpu: end.cpu_utilization_percent.remote_total,
  };
}

async function startIperfServer(b: Host): Promise<void> {
  const srv = b.spawn('iperf3', ['-s', '-p', String(IPERF_PORT)]);
  drain(srv);
  await eventually('iperf3 -s to listen', () => {
    if (srv.exitCode !== null) throw new Error(`iperf3 -s exited ${srv.exitCode}`);
    return b.run('ss', '-Hltn', `sport = :${IPERF_PORT}`).trim() !== '';
  });
}

/**
 * The features that decide how much segmentation and checksumming the
 * kernel does in software. The sub-feature tx-tcp-segmentation, not the
 * tcp-segmentation-offload summary line, says whether TCP TSO is on.
 */
const OFFLOADS = ['tx-checksumming', 'tx-tcp-segmentation', 'tx-udp_tnl-segmentation', 'generic-segmentation-offload', 'generic-receive-offload'];

function offloads(h: Host): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of h.run('ethtool', '-k', 'ul0').split('\n')) {
    const m = /^\s*([a-z_-]+): (on|off)/.exec(line);
    if (m && OFFLOADS.includes(m[1])) out[m[1]] = m[2];
  }
  return out;
}

function mtuOf(h: Host, dev: string): number {
  return (JSON.parse(h.run('ip', '-j', 'link', 'show', 'dev', dev)) as Array<{ mtu: number }>)[0].mtu;
}

async function runPath(p: PathSpec, round: string): Promise<PathRun> {
  const missing = missingTools(p.tools ?? []);
  if (missing.length > 0) {
    process.stderr.write(`${round} ${p.label}: not installed (${missing.join(', ')}), skipped\n`);
    return { othersBusyPct: 0, notInstalled: missing };
  }
  const q = await quiet(QUIET_WAIT_MS);
  const r: PathRun = { othersBusyPct: q.busyPct };
  const lab = new Lab(`e2e-${p.key}`);
  const deferred: Array<() => void> = [];
  const scratch: Scratch = { dir: mkdtempSync(join(tmpdir(), 'vxtap-e2e-')), defer: (fn) => deferred.push(fn) };
  // After the lab's own exit handler (registered first), also on Ctrl-C mid-path.
  const removeScratch = (): void => {
    for (const fn of deferred.splice(0)) fn();
    rmSync(scratch.dir, { recursive: true, force: true });
  };
  process.on('exit', removeScratch);
  const waited = q.waitedMs > 1500 ? `, after waiting ${Math.round(q.waitedMs / 1000)} s for quiet` : '';
  process.stderr.write(`${round} ${p.label} (machine ${r.othersBusyPct.toFixed(0)}% busy before it${waited}):\n`);
  try {
    const [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500, { txChecksum: txOffload });
    const o = await p.setup(lab, a, b, ipA, ipB, scratch);
    r.mtu = mtuOf(a, o.dev);
    r.underlay = offloads(a);
    await startIperfServer(b);
    // The path is up once a ping crosses it (ARP resolved, FDB learned).
    await eventually(`a ping across ${p.label}`, () => a.ping(o.dst, 1, 0.2).then(() => true, () => false), 10_000);
    r.ping = await attempt('ping', p.key, async () => ({ avgMs: await a.ping(o.dst, 20, 0.05) }), (v) => `${fmt(v.avgMs * 1e3)} µs`);
    for (const [k, n] of [['tcp1', 1], ['tcp4', 4]] as const) {
      r[k] = await attempt(`TCP x${n}`, p.key, () => tcp(a, o.dst, n), (v) => `${fmt(v.gbps)} Gbit/s, ${v.retransmits} retransmits`);
    }
    r.udp64 = await attempt('64-byte UDP', p.key, () => udp64(a, o.dst),
      (v) => `received ${fmt(v.receivedPps / 1e3)} kpps of ${fmt(v.sentPps / 1e3)} kpps sent`);
    if (o.vxtaps.a !== undefined || o.vxtaps.b !== undefined) {
      r.drops = {};
      r.partialCsums = {};
      for (const [h, v] of Object.entries(o.vxtaps)) {
        const st = await v.stats();
        r.drops[h] = Object.fromEntries(Object.entries(st.drops).filter(([, n]) => n > 0));
        r.partialCsums[h] = st.partial_csums ?? st.udp?.partial_csums ?? 0;
      }
      if (Object.values(r.partialCsums).some((n) => n > 0)) {
        process.stderr.write(`  [${p.key}] partial checksums finished: ${Object.entries(r.partialCsums).map(([h, n]) => `${h} ${n}`).join(', ')}\n`);
      }
    }
  } catch (e) {
    r.error = message(e);
    process.stderr.write(`  [${p.key}] FAILED: ${r.error}\n`);
  } finally {
    await lab.cleanup();
    removeScratch();
    process.off('exit', removeScratch);
  }
  return r;
}

/**
 * The round whose headline value is the median (the lower middle for an
 * even count), whole, so that a figure's parts (sent, received, lost) stay
 * from one measurement. With no successful round, the first failure.
 */
function medianRun<T extends object>(outs: Array<Outcome<T> | undefined>, headline: (v: T) => number): Outcome<T> | undefined {
  const ok = outs.filter((o): o is T => !failed(o)).sort((x, y) => headline(x) - headline(y));
  return ok.length > 0 ? ok[(ok.length - 1) >> 1] : outs.find((o) => o !== undefined);
}

function combine(p: PathSpec, runs: PathRun[]): PathResult {
  return {
    key: p.key,
    label: p.label,
    mtu: runs.find((r) => r.mtu !== undefined)?.mtu,
    notInstalled: runs.find((r) => r.notInstalled)?.notInstalled,
    ping: medianRun(runs.map((r) => r.ping), (v) => v.avgMs),
    tcp1: medianRun(runs.map((r) => r.tcp1), (v) => v.gbps),
    tcp4: medianRun(runs.map((r) => r.tcp4), (v) => v.gbps),
    udp64: medianRun(runs.map((r) => r.udp64), (v) => v.receivedPps),
    runs,
  };
}

// ---- report -----------------------------------------------------------------

interface Metric {
  title: string;
  unit: string;
  value(r: Figures): number | undefined;
}

const METRICS: Metric[] = [
  { title: 'TCP, 1 stream', unit: 'Gbit/s', value: (r) => (failed(r.tcp1) ? undefined : r.tcp1.gbps) },
  { title: 'TCP, 4 streams', unit: 'Gbit/s', value: (r) => (failed(r.tcp4) ? undefined : r.tcp4.gbps) },
  { title: '64-byte UDP received', unit: 'kpps', value: (r) => (failed(r.udp64) ? undefined : r.udp64.receivedPps / 1e3) },
  { title: 'ping RTT (lower is better)', unit: 'µs', value: (r) => (failed(r.ping) ? undefined : r.ping.avgMs * 1e3) },
];

/** A figure and its ratio to kernel VXLAN's, e.g. "1.40 (0.23x)". */
function cell(m: Metric, r: PathResult, kernel: Figures | undefined): string {
  const v = m.value(r);
  if (v === undefined) return r.notInstalled ? 'not installed' : 'failed';
  const k = kernel && m.value(kernel);
  return k ? `${fmt(v)} (${fmt(v / k, 2)}x)` : fmt(v);
}

/**
 * The proof the 64-byte figures need: the generator offered more than each
 * path delivered, so the path, not the generator, set the received rate. A
 * path that lost almost nothing may have been held back by the generator,
 * and its figure is then only a lower bound. Plain veth shows the generator
 * with no overlay behind it. Its send rate differs by path because the
 * kernel work of a send (encapsulation for kernel VXLAN, the peer's receive
 * over veth) runs in the generator's own system call.
 */
function generatorLines(results: PathResult[]): string[] {
  const udp = results.filter((r) => !failed(r.udp64)).map((r) => ({ label: r.label, ...(r.udp64 as Udp) }));
  const veth = results.find((r) => r.key === 'veth');
  const lines = ['"sent kpps" is what the iperf3 UDP generator (one thread, -b 0) offered.'];
  if (veth && !failed(veth.udp64)) {
    lines.push(`With no overlay (plain veth) it sends ${fmt(veth.udp64.sentPps / 1e3)} kpps at ${Math.round(veth.udp64.senderCpu)}% of a core.`);
  }
  const full = udp.filter((u) => u.lostPct >= 1);
  const bound = udp.filter((u) => u.lostPct < 1);
  if (full.length > 0) lines.push(`Offered more than delivered (>= 1% lost), so the path set the rate: ${full.map((u) => u.label).join(', ')}.`);
  if (bound.length > 0) {
    lines.push(`Lost < 1%, so the generator may have set the rate (a lower bound): ${bound.map((u) => `${u.label} (generator at ${Math.round(u.senderCpu)}% of a core)`).join(', ')}.`);
  }
  return lines;
}

function report(results: PathResult[]): string {
  const kernel = results.find((r) => r.key === 'kernel-vxlan');
  const spread = (r: PathResult): string => {
    const v = r.runs.map((x) => METRICS[0].value(x)).filter((x): x is number => x !== undefined);
    return v.length > 1 ? `${fmt(Math.min(...v))}-${fmt(Math.max(...v))}` : '-';
  };
  const rows = results.map((r) => [
    r.label,
    r.mtu === undefined ? '-' : String(r.mtu),
    cell(METRICS[0], r, kernel),
    spread(r),
    ...METRICS.slice(1, 3).map((m) => cell(m, r, kernel)),
    failed(r.udp64) ? '-' : fmt(r.udp64.sentPps / 1e3),
    failed(r.udp64) ? '-' : r.udp64.lostPct.toFixed(1),
    cell(METRICS[3], r, kernel),
  ]);
  const rounds = Math.max(...results.map((r) => r.runs.length));
  const lines = [
    table(['path', 'MTU', 'TCP x1 Gbit/s', 'x1 range', 'TCP x4 Gbit/s', '64B UDP rx kpps', 'sent kpps', 'lost %', 'ping µs'], rows),
    `Median of ${rounds} round${rounds === 1 ? '' : 's'}; (x) is the ratio to kernel VXLAN in this run; "x1 range" is the lowest and highest round.`,
    ...generatorLines(results),
  ];
  const ratio = (x: string, y: string): string => {
    const [rx, ry] = [results.find((r) => r.key === x), results.find((r) => r.key === y)];
    const [vx, vy] = [rx && METRICS[0].value(rx), ry && METRICS[0].value(ry)];
    return vx !== undefined && vy ? `${fmt(vx / vy, 2)}x` : 'not measured';
  };
  lines.push(
    `issue 3 goal, vxtap VXLAN >= 0.5x kernel VXLAN (TCP, 1 stream): ${ratio('vxtap-vxlan', 'kernel-vxlan')}`,
    `issue 3 goal, vxtap UDP >= 10x socat (TCP, 1 stream): ${ratio('vxtap-udp', 'socat')}`,
  );
  const busy = results.flatMap((r) => r.runs.map((x, i) => ({ r, x, i })).filter(({ x }) => x.othersBusyPct > BUSY_WARN_PCT));
  if (busy.length > 0) {
    lines.push(`WARNING: other load on the machine before ${busy.map(({ r, x, i }) => `${r.label} round ${i + 1} (${x.othersBusyPct.toFixed(0)}%)`).join(', ')}: figures from a busy machine are suspect.`);
  }
  for (const r of results) {
    const drops: Record<string, Record<string, number>> = {};
    r.runs.forEach((x, i) => {
      if (x.error) lines.push(`${r.label}, round ${i + 1}: not measured: ${x.error}`);
      if (x.notInstalled && i === 0) lines.push(`${r.label}: not installed (${x.notInstalled.join(', ')}), skipped`);
      for (const k of FIGURES) {
        const o = x[k];
        if (o && 'error' in o) lines.push(`${r.label}, round ${i + 1}, ${k}: ${o.error}`);
      }
      for (const [h, d] of Object.entries(x.drops ?? {})) {
        drops[h] ??= {};
        for (const [k, n] of Object.entries(d)) drops[h][k] = (drops[h][k] ?? 0) + n;
      }
    });
    for (const [h, d] of Object.entries(drops)) {
      const list = Object.entries(d).map(([k, n]) => `${k}=${n}`).join(' ');
      if (list) lines.push(`${r.label}: vxtap drops on ${h}, all rounds: ${list}`);
    }
  }
  return lines.join('\n');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One panel per metric, a bar per path, each panel on its own scale; no dependencies. */
function chart(results: PathResult[], m: Machine): string {
  const colors = new Map(PATHS.map((p) => [p.key, p.color]));
  const kernel = results.find((r) => r.key === 'kernel-vxlan');
  const [panelW, label, barMax, barH, gap, top] = [510, 160, 220, 20, 6, 64];
  const panelH = 30 + results.length * (barH + gap) + 14;
  const rounds = Math.max(...results.map((r) => r.runs.length));
  const parts: string[] = [];
  METRICS.forEach((metric, k) => {
    const x0 = 10 + (k % 2) * panelW;
    const y0 = top + Math.floor(k / 2) * panelH;
    parts.push(`<text x="${x0}" y="${y0 + 14}" font-weight="bold">${esc(`${metric.title}, ${metric.unit}`)}</text>`);
    const values = results.map((r) => metric.value(r));
    const max = Math.max(0, ...values.filter((v): v is number => v !== undefined)) || 1;
    results.forEach((r, i) => {
      const y = y0 + 26 + i * (barH + gap);
      const v = values[i];
      const w = v === undefined ? 0 : Math.max(1, (v / max) * barMax);
      const k0 = kernel && metric.value(kernel);
      const text = v === undefined ? (r.notInstalled ? 'not installed' : 'failed') : k0 ? `${fmt(v)} (${fmt(v / k0, 2)}x kernel)` : fmt(v);
      parts.push(
        `<text x="${x0 + label - 6}" y="${y + 14}" text-anchor="end">${esc(r.label)}</text>`,
        `<rect x="${x0 + label}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${colors.get(r.key) ?? '#888'}"/>`,
        `<text x="${x0 + label + w + 6}" y="${y + 14}">${esc(text)}</text>`,
      );
    });
  });
  const width = 2 * panelW + 20;
  const height = top + 2 * panelH + 24;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(`vxtap end-to-end: two network namespaces over a veth underlay (MTU 1500, tx checksum offload ${txOffload ? 'on' : 'off'})`)}</text>`,
    `<text x="10" y="42" fill="#444">${esc(`${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Linux ${m.kernel}; Node ${m.node}; vxtap ${m.commit}; ${m.date.slice(0, 10)}`)}</text>`,
    ...parts,
    `<text x="10" y="${height - 10}" fill="#444">${esc(`sudo npm run bench:e2e${txOffload ? '' : ' -- --tx-offload off'}; iperf3 -t ${SECONDS}, a -> b; median of ${rounds} rounds; ratios are to kernel VXLAN in the same run`)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

function toolVersion(cmd: string, args: string[], pattern: RegExp): string {
  try {
    return pattern.exec(sh(cmd, args))?.[1] ?? 'unknown';
  } catch {
    return 'missing';
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench:e2e: needs root (it creates network namespaces, TAP/TUN and vxlan devices): sudo npm run bench:e2e');
    process.exit(2);
  }
  // The lab removes its namespaces on 'exit', which a signal's default action skips.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const only = flag('--only')?.split(',') ?? PATHS.map((p) => p.key);
  const unknown = only.filter((k) => !PATHS.some((p) => p.key === k));
  const rounds = Number(flag('--rounds') ?? 3);
  const tx = flag('--tx-offload') ?? 'on';
  if (tx !== 'on' && tx !== 'off') {
    console.error(`bench:e2e: --tx-offload: give on or off (default on), not '${tx}'`);
    process.exit(2);
  }
  txOffload = tx === 'on';
  if (unknown.length > 0 || only.length === 0) {
    console.error(`bench:e2e: --only: unknown path ${unknown.join(', ')}; choose from ${PATHS.map((p) => p.key).join(', ')}`);
    process.exit(2);
  }
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error('bench:e2e: --rounds: give a whole number of rounds, 1 or more (default 3)');
    process.exit(2);
  }
  const paths = PATHS.filter((p) => only.includes(p.key));

  const m = machine();
  const tools = {
    iperf3: toolVersion('iperf3', ['--version'], /^iperf (\S+)/),
    socat: toolVersion('socat', ['-V'], /socat version (\S+)/),
    'open vswitch': toolVersion('ovs-vswitchd', ['--version'], /Open vSwitch\) (\S+)/),
    tinc: toolVersion('tincd', ['--version'], /tinc version (\S+)/),
    n2n: toolVersion('edge', ['-h'], /n2n v\.(\S+)/),
    'wireguard-go': toolVersion('wireguard-go', ['--version'], /wireguard-go v(\S+)/),
  };
  console.log(machineLine(m));
  console.log(`tools: ${Object.entries(tools).map(([k, v]) => `${k} ${v}`).join(', ')}; each iperf3 test ${SECONDS} s; ${rounds} round(s)`);
  const started = Date.now();
  const runs = new Map<string, PathRun[]>(paths.map((p) => [p.key, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const p of paths) runs.get(p.key)!.push(await runPath(p, `[${round}/${rounds}]`));
  }
  const results = paths.map((p) => combine(p, runs.get(p.key)!));

  const ul = results.flatMap((r) => r.runs).find((r) => r.underlay)?.underlay;
  console.log(`underlay: veth pair, MTU 1500, ${ul ? Object.entries(ul).map(([k, v]) => `${k} ${v}`).join(', ') : 'not built'}`);
  console.log(report(results));
  const name = txOffload ? 'e2e' : 'e2e-txoff';
  const json = writeResult(`${name}.json`, JSON.stringify({ machine: m, tools, seconds: SECONDS, rounds, txOffload, paths: results }, null, 2) + '\n');
  const svg = writeResult(`${name}.svg`, chart(results, m));
  console.log(`wrote ${json} and ${svg} in ${Math.round((Date.now() - started) / 1000)} s`);
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1] ?? '';
}

// Run, unless imported for its paths (bench/rtt.ts).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    console.error(`bench:e2e failed: ${message(e)}`);
    process.exit(1);
  });
}
