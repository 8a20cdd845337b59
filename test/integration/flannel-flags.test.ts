// flanneld's other command-line choices on real nodes in namespaces: the
// external interface by --iface-regex and by --iface-can-reach, the vxlan
// backend's Port, VNI and MTU, --kube-subnet-mgr refused, and a restart that
// takes subnet.env's subnet back and leaves no stale lease with its PublicIP.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vxlanAttrs } from '../../src/flannel/lease.js';
import { type Host } from '../../src/lab/netns.js';
import { macOf } from '../helpers/peers.js';
import { addPod, FlannelBench, netAddr, routesOn } from './flannel-helpers.js';

let bench: FlannelBench;
let n1: Host, n2: Host;

beforeAll(async () => {
  bench = new FlannelBench(2);
  [n1, n2] = bench.nodes;
  await bench.start();
});
afterAll(() => bench?.destroy());
afterEach(() => bench.reset());

interface Link {
  mtu: number;
  linkinfo?: { info_data?: { id?: number; port?: number } };
}

function link(h: Host, dev: string): Link {
  return (JSON.parse(h.run('ip', '-j', '-d', 'link', 'show', 'dev', dev)) as Link[])[0];
}

describe('flanneld\'s flags and backend options', () => {
  it('finds the interface by --iface-regex (an address) and by --iface-can-reach; honours VNI, Port and MTU; pods ping across', async () => {
    const storeIp = bench.ips.get(bench.store)!;
    const prefix = bench.prefix('{"Network":"198.18.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":7,"Port":4789,"MTU":1400}}');
    // A regex that matches only n1's underlay address; a name that does not exist first.
    const a = await bench.startNode(n1, prefix, ['--iface', 'eth9', '--iface-regex', `^${bench.ips.get(n1)!.replace(/\./g, '\\.')}$`]);
    const b = await bench.startNode(n2, prefix, ['--iface-can-reach', storeIp]);
    for (const [n, ip] of [[a, bench.ips.get(n1)!], [b, bench.ips.get(n2)!]] as const) {
      const l = bench.leaseOf(prefix, ip);
      expect(l.attrs).toEqual(vxlanAttrs(ip, { vni: 7, vtepMac: macOf(n.host, 'flannel.7') }));
      // MTU is the underlay's, as newer flannel reads it: the device gets 50 less.
      expect(link(n.host, 'flannel.7').mtu).toBe(1350);
      expect(bench.subnetEnv(n).mtu).toBe(1350);
    }
    for (const n of [a, b]) {
      const deadline = Date.now() + 10_000;
      while (routesOn(n.host, 'flannel.7').length !== 1) {
        if (Date.now() > deadline) throw new Error(`${n.host.name} did not route the other node`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const podB = addPod(n2, bench.subnetEnv(b));
    addPod(n1, bench.subnetEnv(a));
    // n2's VTEP listens on Port 4789 and nothing on 8472, so the ping crossed on 4789.
    await n1.ping(podB, 3, 0.2);
    const udp = n2.run('ss', '-u', '-a', '-n');
    expect([/:4789\b/.test(udp), /:8472\b/.test(udp)]).toEqual([true, false]);
  });

  it('refuses --kube-subnet-mgr, and a regex that matches nothing, in one line with exit 2', async () => {
    const prefix = bench.prefix('{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan"}}');
    const kube = await bench.runToExit(n1, prefix, ['--kube-subnet-mgr', '--iface', 'ul0']);
    expect([kube.code, kube.stderr.trim().split('\n')]).toEqual([2, [
      'vxtap: --kube-subnet-mgr (a flanneld flag) is not supported: vxtap has no kube-apiserver support built: run it with etcd (--etcd-endpoints), or run flanneld where the Kubernetes subnet manager is needed (see: vxtap help)',
    ]]);
    const none = await bench.runToExit(n1, prefix, ['--iface-regex', '^wlan']);
    expect([none.code, none.stderr.trim().split('\n')]).toEqual([2, [expect.stringMatching(/^vxtap: no interface with an IPv4 address matches --iface-regex \^wlan \(this host has .*ul0:\[198\.51\.100\.2\]/)]]);
  });

  it('restarts on the subnet its subnet.env names, though another lease carries its PublicIP, and deletes that one', async () => {
    const prefix = bench.prefix('{"Network":"198.18.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}');
    const first = await bench.startNode(n1, prefix, ['--iface', 'ul0']);
    const subnet = bench.subnetEnv(first).subnet;
    await first.v.stop();
    // A leftover lease with n1's PublicIP (an older run's), on a subnet sorted before ours.
    const leftover = '198.18.1.0-24' === `${netAddr(subnet)}-24` ? '198.18.2.0-24' : '198.18.1.0-24';
    bench.putLease(prefix, leftover, vxlanAttrs(first.ip, { vni: 1, vtepMac: '02:00:00:00:00:77' }));
    const again = await bench.startNode(n1, prefix, ['--iface', 'ul0']);
    expect(bench.subnetEnv(again).subnet).toBe(subnet);
    expect([...bench.leases(prefix).entries()].map(([k, l]) => `${k} ${l.PublicIP}`)).toEqual([`${netAddr(subnet)}-24 ${first.ip}`]);
  });
});
