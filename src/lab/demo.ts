// `npm run demo`: vxtap between hosts in network namespaces, with nothing
// from outside the machine, then everything removed again. Needs root.
//  1. Two hosts joined by a veth underlay, each running `vxtap vxlan`: ping
//     and a TCP transfer checked by SHA-256 across the overlay.
//  2. Two flannel nodes (`vxtap flannel`) sharing the embedded lease file
//     instead of etcd: each takes a subnet lease, programs the other, writes
//     subnet.env; pods on each node's subnet reach each other.
import { readFileSync, rmSync } from 'node:fs';
import { type Host, Lab, OVERLAY, transfer } from './netns.js';

const BYTES = 200 << 20;
const FLANNEL_NETWORK = { Network: '198.18.0.0/16', Backend: { Type: 'vxlan' } };

function readSubnetEnv(path: string): Record<string, string> {
  return Object.fromEntries(readFileSync(path, 'utf8').trim().split('\n').map((l) => l.split('=') as [string, string]));
}

async function vxlanPair(lab: Lab): Promise<boolean> {
  const [a, b] = [lab.host('a'), lab.host('b')];
  const [ipA, ipB] = lab.underlay([a, b]);
  console.log(`1. hosts ${a.ns} (${ipA}) and ${b.ns} (${ipB}), veth underlay ${ipA.replace(/\.\d+$/, '.0')}/24`);
  const va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', `${OVERLAY}.1/24`, '--control', `/run/vxtap/${lab.id}-a.sock`]);
  const vb = await b.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipB, '--remote', ipA, '--address', `${OVERLAY}.2/24`, '--control', `/run/vxtap/${lab.id}-b.sock`]);
  console.log(`   vxtap up in both: TAP vxt0, VNI 42, overlay ${OVERLAY}.1 <-> ${OVERLAY}.2 over UDP 4789`);
  const rtt = await a.ping(`${OVERLAY}.2`, 10, 0.1);
  console.log(`   ping ${OVERLAY}.1 -> ${OVERLAY}.2: 10/10 replies, avg RTT ${rtt.toFixed(3)} ms`);
  const { sent, received } = await transfer(a, b, `${OVERLAY}.2`, BYTES);
  const ok = sent.sha256 === received.sha256 && sent.bytes === received.bytes;
  const gbps = (received.bytes * 8) / received.seconds / 1e9;
  console.log(`   TCP ${(received.bytes / 2 ** 20).toFixed(0)} MiB a -> b: ${gbps.toFixed(2)} Gbit/s, sha256 ${ok ? 'matches' : 'DIFFERS'}`);
  const fdb = await va.fdb();
  console.log(`   a's FDB:\n${fdb.map((r) => `     ${r.mac} ${r.dev ? `dev ${r.dev}` : `dst ${r.dst}`}${r.static ? ' static' : ''}`).join('\n')}`);
  const drops = Object.entries((await vb.stats()).drops).filter(([, n]) => n > 0);
  console.log(`   b's drops: ${drops.length === 0 ? 'none' : drops.map(([k, n]) => `${k}=${n}`).join(' ')}`);
  await Promise.all([va.stop(), vb.stop()]);
  return ok;
}

async function flannelPair(lab: Lab): Promise<boolean> {
  const hosts = [lab.host('n1'), lab.host('n2')];
  const ips = lab.underlay(hosts);
  const leases = `/run/vxtap/${lab.id}-leases.json`;
  console.log(`2. flannel nodes ${hosts.map((h, i) => `${h.ns} (${ips[i]})`).join(' and ')}, leases in ${leases} (no etcd)`);
  try {
    const envs: Array<Record<string, string>> = [];
    const nodes = [];
    for (const [i, h] of hosts.entries()) {
      const envFile = `/run/vxtap/${lab.id}-${h.name}.env`;
      const control = `/run/vxtap/${lab.id}-${h.name}.sock`;
      nodes.push(await h.vxtap(['flannel', '--lease-file', leases, '--network-config', JSON.stringify(FLANNEL_NETWORK),
        '--public-ip', ips[i], '--subnet-file', envFile, '--control', control], control));
      envs.push(readSubnetEnv(envFile));
      console.log(`   ${h.name}: ${Object.entries(envs[i]).map(([k, v]) => `${k}=${v}`).join(' ')}`);
    }
    // A pod address on each node, as flannel's CNI plugin sets it up from subnet.env.
    const pods = hosts.map((h: Host, i) => {
      h.ip('link add cni0 type bridge', `address add ${envs[i].FLANNEL_SUBNET} dev cni0`, 'link set cni0 up');
      return envs[i].FLANNEL_SUBNET.split('/')[0];
    });
    const rtt = await hosts[0].ping(pods[1], 10, 0.1);
    console.log(`   ping pod ${pods[1]} on n2 from n1 over flannel.1: 10/10 replies, avg RTT ${rtt.toFixed(3)} ms`);
    const { sent, received } = await transfer(hosts[0], hosts[1], pods[1], BYTES / 4);
    const ok = sent.sha256 === received.sha256;
    console.log(`   TCP ${(received.bytes / 2 ** 20).toFixed(0)} MiB n1 -> n2: ${((received.bytes * 8) / received.seconds / 1e9).toFixed(2)} Gbit/s, sha256 ${ok ? 'matches' : 'DIFFERS'}`);
    const keys = Object.keys((JSON.parse(readFileSync(leases, 'utf8')) as { leases?: object }).leases ?? {});
    console.log(`   leases in the file: ${keys.join(', ')}`);
    await Promise.all(nodes.map((n) => n.stop()));
    return ok;
  } finally {
    for (const f of [leases, `${leases}.lock`, ...hosts.map((h) => `/run/vxtap/${lab.id}-${h.name}.env`)]) rmSync(f, { force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('demo: needs root (it creates network namespaces and TAP devices): sudo npm run demo');
    process.exit(2);
  }
  const lab = new Lab('demo');
  try {
    const ok = (await vxlanPair(lab)) && (await flannelPair(lab));
    if (!ok) process.exitCode = 1;
  } finally {
    await lab.cleanup();
    console.log('cleaned up: namespaces, devices and processes removed');
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
