// Least privilege for a flannel node: started as root with --user nobody, or
// as nobody with ambient CAP_NET_ADMIN (systemd's vxtap-flannel.service), a
// vxlan node keeps CAP_NET_ADMIN alone, on its main thread, and with it still
// programs the neighbour and route of a node that joins after the switch; a
// udp node keeps nothing. A lease file the user cannot write is refused in
// one line.
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Vxtap } from '../../src/lab/netns.js';
import { eventually } from '../helpers/peers.js';
import { asNobody, ids, NET_ADMIN, NO_CAPS, NOBODY, status, threads } from '../helpers/privilege.js';
import { addPod, FlannelBench, netAddr, neighsOn, routesOn, UDP_CONFIG, VXLAN_CONFIG } from './flannel-helpers.js';

let bench: FlannelBench;
let n1: Host, n2: Host;
// Where nobody may write: subnet.env and the control socket of the ambient start.
const dir = mkdtempSync(join(tmpdir(), 'vxtap-flpriv-'));
chownSync(dir, NOBODY.uid, NOBODY.gid);

beforeAll(async () => {
  bench = new FlannelBench(2);
  [n1, n2] = bench.nodes;
  await bench.start();
});
afterAll(async () => {
  await bench?.destroy();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => bench.reset());

/** True once `h` routes `key`'s subnet via its address onlink, with the permanent neighbour for it. */
function programmed(h: Host, key: string): boolean {
  const addr = netAddr(key);
  return routesOn(h, 'flannel.1').some((r) => r.dst === key.replace('-', '/') && r.gateway === addr)
    && neighsOn(h, 'flannel.1').some((n) => n.dst === addr && (n.state ?? []).includes('PERMANENT'));
}

describe.each([
  { start: '--user nobody, started as root', ambient: false, backend: 'vxlan' as const },
  { start: 'nobody with ambient CAP_NET_ADMIN', ambient: true, backend: 'vxlan' as const },
  { start: 'nobody with ambient CAP_NET_ADMIN', ambient: true, backend: 'udp' as const },
])('vxtap flannel ($backend backend) as $start', ({ ambient, backend }) => {
  // vxlan programs later leases with ip and keeps CAP_NET_ADMIN; udp routes them in userspace and keeps nothing.
  const kept = backend === 'vxlan' ? NET_ADMIN : NO_CAPS;
  it(`keeps ${backend === 'vxlan' ? 'CAP_NET_ADMIN alone' : 'no capability'} and reaches a node that joins later; pods ping across`, async () => {
    const prefix = bench.prefix(backend === 'vxlan' ? VXLAN_CONFIG : UDP_CONFIG);
    const name = `n1-${backend}-${ambient ? 'amb' : 'usr'}`;
    const subnetFile = join(dir, `${name}.env`);
    const control = join(dir, `${name}.sock`);
    const args = ['flannel', '--etcd-endpoints', bench.endpoint, '--etcd-prefix', prefix, '--iface', 'ul0', '--subnet-file', subnetFile, '--control', control];
    const cmd = ambient ? [...asNobody(['net_admin']), process.execPath, CLI, ...args] : [process.execPath, CLI, ...args, '--user', 'nobody'];
    const v = new Vxtap(n1.spawn(cmd[0], cmd.slice(1)), control);
    try {
      await v.ready(20_000);
      const pid = v.proc.pid!;
      const s = status(`/proc/${pid}/status`);
      expect(s.Uid).toBe(ids(NOBODY.uid));
      for (const set of ['CapEff', 'CapPrm', 'CapInh', 'CapAmb']) expect(s[set], set).toBe(kept);
      expect(s.NoNewPrivs).toBe('1');
      // The switch from root empties the other threads; started unprivileged, Node's own keep what they started with.
      const others = threads(pid).filter((t) => t.Pid !== String(pid));
      expect(others.length).toBeGreaterThan(0);
      for (const t of others) expect(ambient ? [NO_CAPS, NET_ADMIN] : [NO_CAPS], `thread ${t.Pid}`).toContain(t.CapEff);

      // n2 joins after n1 dropped its privileges.
      const b = await bench.startNode(n2, prefix);
      const key = bench.leaseOf(prefix, bench.ips.get(n2)!).key;
      if (backend === 'vxlan') await eventually('n1 to program n2', () => programmed(n1, key));
      const podA = addPod(n1, bench.subnetEnv({ subnetFile }));
      const podB = addPod(n2, bench.subnetEnv(b));
      await eventually('a pod on n2 to answer', () => n1.ping(podB, 1).then(() => true, () => false));
      await n1.ping(podB);
      await n2.ping(podA);
      const stats = JSON.parse(await n1.exec(process.execPath, [CLI, 'stats', '--control', control])) as { flannel: { kernel: { failures: number; commands: number } } };
      expect(stats.flannel.kernel.failures).toBe(0);
      if (backend === 'vxlan') expect(stats.flannel.kernel.commands).toBeGreaterThan(0);
    } finally {
      await v.stop();
    }
  });
});

it('--user with a lease file its user cannot write: one line naming --lease-file, exit 2, before anything is made', async () => {
  // bench.dir is root's (0700): nobody cannot rewrite a lease file there at renewal.
  const file = join(bench.dir, 'leases.json');
  const r = await bench.runToExit(n1, null, ['--iface', 'ul0', '--lease-file', file, '--network-config', VXLAN_CONFIG, '--user', 'nobody']);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe(`vxtap: --lease-file ${file}: user nobody cannot write its directory ${bench.dir}, as every renewal does: give a lease file in a directory that user can write`);
  expect(n1.run('ip', '-j', 'link', 'show').includes('"flannel.1"')).toBe(false);
  expect(existsSync(file)).toBe(false);
  expect(existsSync(bench.controlOf(n1))).toBe(false);
});
