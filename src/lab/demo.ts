// `npm run demo`: two hosts in network namespaces, joined by a veth underlay,
// each running vxtap; then ping and a checked TCP transfer across the
// overlay, and everything removed again. Needs root.
import { Lab, OVERLAY, transfer } from './netns.js';

const BYTES = 200 << 20;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('demo: needs root (it creates network namespaces and TAP devices): sudo npm run demo');
    process.exit(2);
  }
  const lab = new Lab('demo');
  try {
    const [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b]);
    console.log(`hosts ${a.ns} (${ipA}) and ${b.ns} (${ipB}), veth underlay ${ipA.replace(/\.\d+$/, '.0')}/24`);
    const va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', `${OVERLAY}.1/24`, '--control', `/run/vxtap/${lab.id}-a.sock`]);
    const vb = await b.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipB, '--remote', ipA, '--address', `${OVERLAY}.2/24`, '--control', `/run/vxtap/${lab.id}-b.sock`]);
    console.log(`vxtap up in both: TAP vxt0, VNI 42, overlay ${OVERLAY}.1 <-> ${OVERLAY}.2 over UDP 4789`);

    const rtt = await a.ping(`${OVERLAY}.2`, 10, 0.1);
    console.log(`ping ${OVERLAY}.1 -> ${OVERLAY}.2: 10/10 replies, avg RTT ${rtt.toFixed(3)} ms`);
    const { sent, received } = await transfer(a, b, `${OVERLAY}.2`, BYTES);
    const ok = sent.sha256 === received.sha256 && sent.bytes === received.bytes;
    const gbps = (received.bytes * 8) / received.seconds / 1e9;
    console.log(`TCP ${(received.bytes / 2 ** 20).toFixed(0)} MiB a -> b: ${gbps.toFixed(2)} Gbit/s, sha256 ${ok ? 'matches' : 'DIFFERS'}`);
    const fdb = await va.fdb();
    console.log(`a's FDB:\n${fdb.map((r) => `  ${r.mac} ${r.dev ? `dev ${r.dev}` : `dst ${r.dst}`}${r.static ? ' static' : ''}`).join('\n')}`);
    const drops = Object.entries((await vb.stats()).drops).filter(([, n]) => n > 0);
    console.log(`b's drops: ${drops.length === 0 ? 'none' : drops.map(([k, n]) => `${k}=${n}`).join(' ')}`);
    await Promise.all([va.stop(), vb.stop()]);
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
