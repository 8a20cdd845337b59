// Least privilege, on real processes: vxtap started as root with --user
// nobody, and started as nobody with only ambient capabilities (setpriv, as
// systemd's AmbientCapabilities= does it), forwards across the overlay, runs
// as nobody with no capability left, and answers `vxtap stats` on its
// control socket. Missing capabilities and users are one line and exit 2.
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, transfer, Vxtap } from '../../src/lab/netns.js';
import { kernelVxlan, overlay } from '../helpers/peers.js';
import { asNobody, ids, NET_ADMIN, NO_CAPS, NOBODY, status, threads } from '../helpers/privilege.js';

const TRANSFER = 5_000_000;

/** How each start gets vxtap to nobody. */
const STARTS = [
  { start: '--user nobody, started as root', prefix: [] as string[], flags: ['--user', 'nobody'] },
  { start: 'nobody with ambient CAP_NET_ADMIN', prefix: asNobody(['net_admin']), flags: [] as string[] },
];

const MODES = [
  {
    mode: 'vxlan',
    dev: 'vxp0',
    // Two queues: the worker's thread drops its capabilities too.
    args: (local: string, remote: string) => ['vxlan', '--dev', 'vxp0', '--vni', '42', '--local', local, '--remote', remote, '--address', overlay(1), '--queues', '2'],
    peer: (b: Host, ipB: string, ipA: string) => void kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true }),
    far: `${OVERLAY}.2`,
    rx: (s: Record<string, unknown>) => (s as { vnis: Record<string, { rx_packets: number }> }).vnis['42'].rx_packets,
  },
  {
    mode: 'udp',
    dev: 'tunp0',
    args: (local: string, remote: string) => ['udp', '--dev', 'tunp0', '--local', local, '--address', '198.18.1.1/16', '--route', `198.18.2.0/24=${remote}`],
    peer: (b: Host, ipB: string, ipA: string, lab: Lab) => b.vxtap(['udp', '--dev', 'tunp0', '--local', ipB, '--address', '198.18.2.1/16', '--route', `198.18.1.0/24=${ipA}`, '--control', join(tmpdir(), `${lab.id}-b.sock`)]),
    far: '198.18.2.1',
    rx: (s: Record<string, unknown>) => (s as { udp: { rx_packets: number } }).udp.rx_packets,
  },
];

describe.each(STARTS.flatMap((s) => MODES.map((m) => ({ ...s, ...m }))))('vxtap $mode as $start', ({ start, prefix, flags, mode, dev, args, peer, far, rx }) => {
  const lab = new Lab(`priv${mode}${prefix.length > 0 ? 'amb' : 'usr'}`);
  // A folder nobody may write, for the control socket of the ambient start.
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-priv-'));
  chownSync(dir, NOBODY.uid, NOBODY.gid);
  const control = join(dir, `${dev}.sock`);
  let a: Host, b: Host, va: Vxtap;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b]);
    await peer(b, ipB, ipA, lab);
    const cmd = [...prefix, process.execPath, CLI, ...args(ipA, ipB), '--control', control, ...flags];
    va = new Vxtap(a.spawn(cmd[0], cmd.slice(1)), control);
    await va.ready();
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards across the overlay: ping, and 5 MB over TCP intact', async () => {
    await a.ping(far);
    const { sent, received } = await transfer(b, a, `${mode === 'vxlan' ? `${OVERLAY}.1` : '198.18.1.1'}`, TRANSFER);
    expect(received.bytes).toBe(TRANSFER);
    expect(received.sha256).toBe(sent.sha256);
  });

  it('runs as nobody with no capability left, on every thread, and can gain none', () => {
    const pid = va.proc.pid!;
    const s = status(`/proc/${pid}/status`);
    expect(s.Uid).toBe(ids(NOBODY.uid));
    expect(s.Gid).toBe(ids(NOBODY.gid));
    expect(s.Groups).toBe(start.startsWith('--user') ? String(NOBODY.gid) : '');
    for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb']) expect(s[set], set).toBe(NO_CAPS);
    expect(s.NoNewPrivs).toBe('1');
    // The uid switch reaches every thread and empties their sets. Started
    // unprivileged, Node's own threads (V8's, libuv's: there before any
    // JavaScript runs) keep the set they started with (README: Privileges).
    const allowed = start.startsWith('--user') ? [NO_CAPS] : [NO_CAPS, NET_ADMIN];
    for (const t of threads(pid)) {
      expect(t.Uid).toBe(ids(NOBODY.uid));
      expect(allowed, `thread ${t.Name}: CapEff ${t.CapEff}`).toContain(t.CapEff);
      expect(allowed, `thread ${t.Name}: CapPrm ${t.CapPrm}`).toContain(t.CapPrm);
    }
    const ready = JSON.parse(va.stderr.split('\n').find((l) => l.includes('vxtap ready'))!) as { queueThreads?: number[] };
    expect(ready).toMatchObject({ uid: NOBODY.uid, gid: NOBODY.gid, capabilities: [] });
    // A queue worker runs the pipeline on wire input: it keeps nothing, however vxtap was started.
    expect(ready.queueThreads?.length ?? 0).toBe(mode === 'vxlan' ? 1 : 0);
    for (const tid of ready.queueThreads ?? []) {
      const t = status(`/proc/${pid}/task/${tid}/status`);
      for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb']) expect(t[set], `queue thread ${tid} ${set}`).toBe(NO_CAPS);
    }
  });

  it('answers vxtap stats on its control socket', async () => {
    const out = JSON.parse(await a.exec(process.execPath, [CLI, 'stats', '--control', control])) as Record<string, unknown>;
    expect(rx(out)).toBeGreaterThan(0);
  });

  it('removes its device on SIGTERM and exits 0', async () => {
    expect(await va.stop()).toBe(0);
    expect(a.run('ip', '-j', 'link', 'show').includes(`"${dev}"`)).toBe(false);
    // In a folder of its own user's, the socket goes too.
    expect(existsSync(control)).toBe(false);
  });
});

describe('missing privileges: one line naming what is missing and the fix, exit 2', () => {
  const lab = new Lab('privmiss');
  let a: Host, b: Host;
  let ip: string;
  beforeAll(() => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ip] = lab.underlay([a, b]);
  });
  afterAll(() => lab.cleanup());

  function run(prefix: string[], ...args: string[]) {
    const r = spawnSync('ip', ['netns', 'exec', a.ns, ...prefix, process.execPath, CLI, ...args], { encoding: 'utf8' });
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    return { code: r.status, stderr: r.stderr.trim() };
  }
  const vxlan = () => ['vxlan', '--dev', 'vxm0', '--vni', '42', '--local', ip, '--control', join(tmpdir(), `${lab.id}.sock`)];

  it('nobody without capabilities: CAP_NET_ADMIN, and how to grant it', () => {
    const r = run(asNobody([]), ...vxlan());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxtap: vxtap vxlan needs CAP_NET_ADMIN to create TAP\/TUN devices and set their links and routes: run it as root, or grant CAP_NET_ADMIN \(systemd: AmbientCapabilities=CAP_NET_ADMIN; setpriv --inh-caps \+net_admin --ambient-caps \+net_admin\)$/);
    expect(a.run('ip', '-j', 'link', 'show').includes('"vxm0"')).toBe(false);
  });

  it('VXLAN without offloads: CAP_NET_RAW too', () => {
    const r = run(asNobody(['net_admin']), ...vxlan(), '--no-offload');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxtap: vxtap vxlan needs CAP_NET_RAW for the raw IPv4 socket VXLAN sends through without offloads: .*AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW;/);
  });

  it('a port under 1024: CAP_NET_BIND_SERVICE, naming the port', () => {
    const r = run(asNobody(['net_admin']), ...vxlan(), '--dstport', '789');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs CAP_NET_BIND_SERVICE to bind UDP port 789 \(below 1024\): .*setpriv --inh-caps \+net_admin,\+net_bind_service --ambient-caps \+net_admin,\+net_bind_service\)$/);
  });

  it('--user from an unprivileged start: switching needs root', () => {
    const r = run(asNobody(['net_admin']), ...vxlan(), '--user', 'root');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxtap: --user root: switching to another user needs CAP_SETUID and CAP_SETGID: start vxtap as root, or start it as root with ambient capabilities and without --user$/);
  });

  it('sniff: CAP_NET_RAW, and with it alone it captures', async () => {
    const r = run(asNobody([]), 'sniff', '-i', 'ul0', '-c', '1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxtap: -i ul0: .*: sniffing needs CAP_NET_RAW: run it as root, or grant CAP_NET_RAW/);
    let done = false;
    const [setpriv, ...rest] = asNobody(['net_raw']);
    const sniff = a.exec(setpriv, [...rest, process.execPath, CLI, 'sniff', '-i', 'ul0', '-c', '1', 'icmp']).finally(() => (done = true));
    while (!done) await b.exec('sh', ['-c', `ping -c 1 -W 1 ${ip} || true`]);
    expect(await sniff).toMatch(new RegExp(`> ${ip.replace(/\./g, '\\.')}: ICMP echo request`));
  });

  it('an unknown --user, before anything is created', () => {
    const r = run([], ...vxlan(), '--user', 'vxtap-no-such-user');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("vxtap: --user: no user 'vxtap-no-such-user' on this host: create it (useradd --system vxtap-no-such-user) or name an existing one");
    expect(a.run('ip', '-j', 'link', 'show').includes('"vxm0"')).toBe(false);
  });
});
