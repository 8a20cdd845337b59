// Where a ping's time goes, hop by hop (issue 12): two hosts in lab
// namespaces, joined by VXLAN (two vxtaps, or the kernel's), one dumpcap per
// namespace on its underlay veth and its overlay device. Each ICMP request and
// reply is found in both captures, and the medians of the gaps between
// them are printed: the encapsulating hop, the wire, the decapsulating hop,
// and the kernel's echo.
//
//   npm run bench:hops -- [--kernel] [--warm N] [--count N]
//
// --warm N first sends a flood ping of N packets, so that V8 has optimized
// vxtap's data path before the timed pings (0.2 s apart, as idle as the
// bench:e2e ping line). Root only; traffic stays inside the lab.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Lab, OVERLAY, type Host } from '../src/lab/netns.js';
import { kernelVxlan } from '../test/helpers/peers.js';

const VNI = 42;
/** [from, to, what]: events are host (a/b), interface (U: ul0, T: overlay) and q (request) or r (reply). */
const HOPS = [
  ['aTq', 'aUq', 'a: TAP -> wire (request, after idle)'],
  ['aUq', 'bUq', 'wire'],
  ['bUq', 'bTq', 'b: wire -> TAP (request, after idle)'],
  ['bTq', 'bTr', "b: the kernel's ICMP echo"],
  ['bTr', 'bUr', 'b: TAP -> wire (reply, awake)'],
  ['bUr', 'aUr', 'wire'],
  ['aUr', 'aTr', 'a: wire -> TAP (reply, awake)'],
] as const;

const { values: opt } = parseArgs({
  options: { kernel: { type: 'boolean', default: false }, warm: { type: 'string', default: '0' }, count: { type: 'string', default: '20' } },
});

async function main(): Promise<void> {
  const lab = new Lab('hops');
  const files: string[] = [];
  try {
    const [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500);
    const ends: Array<[Host, string, string, number]> = [[a, ipA, ipB, 1], [b, ipB, ipA, 2]];
    let dev = 'vx0';
    for (const [h, local, remote, n] of ends) {
      if (opt.kernel) {
        kernelVxlan(h, { vni: VNI, local, remotes: [remote], address: `${OVERLAY}.${n}/24`, learning: true });
        continue;
      }
      dev = 'vxt0';
      await h.vxtap(['vxlan', '--dev', dev, '--vni', String(VNI), '--local', local, '--remote', remote,
        '--address', `${OVERLAY}.${n}/24`, '--mtu', '1450', '--control', `/run/vxtap/${lab.id}-${h.name}.sock`]);
    }
    const dst = `${OVERLAY}.2`;
    await a.ping(dst, 3, 0.2);
    if (Number(opt.warm) > 0) await a.exec('ping', ['-f', '-q', '-c', opt.warm, dst]);
    const caps = [a, b].map((h) => {
      const file = `/tmp/${lab.id}-${h.name}.pcapng`;
      files.push(file);
      return { h, file, p: h.spawn('dumpcap', ['-q', '-i', 'ul0', '-i', dev, '-w', file]) };
    });
    await sleep(1500); // dumpcap is capturing
    const rtt = await a.ping(dst, Number(opt.count), 0.2);
    for (const c of caps) c.p.kill('SIGINT');
    await Promise.all(caps.map((c) => (c.p.exitCode === null ? once(c.p, 'exit') : null)));
    const seen = new Map<string, Map<string, number>>();
    for (const { h, file } of caps) {
      const out = execFileSync('tshark', ['-r', file, '-Y', 'icmp', '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.interface_id',
        '-e', 'icmp.type', '-e', 'icmp.seq'], { encoding: 'utf8' });
      for (const line of out.trim().split('\n')) {
        const [t, ifc, type, seq] = line.split('\t');
        const key = `${h.name}${ifc === '0' ? 'U' : 'T'}${type === '8' ? 'q' : 'r'}`;
        const s = seq.split(',')[0];
        if (!seen.has(s)) seen.set(s, new Map());
        seen.get(s)!.set(key, Number(t));
      }
    }
    console.log(`${opt.kernel ? 'kernel VXLAN' : 'vxtap VXLAN'}, warm-up ${opt.warm} packets: ping average ${(rtt * 1e3).toFixed(0)} µs`);
    for (const [from, to, what] of HOPS) {
      const gaps: number[] = [];
      for (const ev of seen.values()) {
        const [x, y] = [ev.get(from), ev.get(to)];
        if (x !== undefined && y !== undefined) gaps.push((y - x) * 1e6);
      }
      gaps.sort((p, q) => p - q);
      const med = gaps.length > 0 ? gaps[gaps.length >> 1].toFixed(0) : '-';
      console.log(`  ${what.padEnd(40)} median ${med.padStart(5)} µs  (${gaps.length} pings)`);
    }
  } finally {
    await lab.cleanup();
    for (const f of files) rmSync(f, { force: true });
  }
}

await main();
