// The data path's warm-up (src/vxlan/warmup.ts): its frames cross loopback
// and never the underlay; the VTEP that starts after it has none of its
// state; where loopback is down it is skipped and the VTEP starts as before.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { eventually, overlay } from '../helpers/peers.js';

/** The warm-up hosts' MACs (warmup.ts), as tshark's `frame contains` takes bytes. */
const WARM_MACS = ['02:76:78:77:00:01', '02:76:78:77:00:02'];
const PROBE_PORT = 47801;
/** The end probe's port: a late start probe must not pass for it. */
const END_PORT = PROBE_PORT + 1;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Counts the frames carrying a warm-up MAC that tshark sees on each device
 * of `host` while `action` runs. Probe datagrams to PROBE_PORT go until each
 * capture has seen one (tshark says "Capturing on" before it captures), and
 * one to END_PORT after the action marks the end.
 */
async function warmFramesDuring(host: Host, devs: Array<{ dev: string; probeTo: string }>, action: () => Promise<void>): Promise<number[]> {
  const filter = [...WARM_MACS.map((m) => `frame contains ${m}`), `udp.dstport == ${PROBE_PORT}`, `udp.dstport == ${END_PORT}`].join(' or ');
  const caps = devs.map(({ dev }) => {
    const p = host.spawn('tshark', ['-i', dev, '-l', '-n', '-Y', filter, '-T', 'fields', '-e', 'udp.dstport', '-e', 'frame.number']);
    const c = { probes: 0, ends: 0, warm: 0, partial: '', proc: p };
    p.stdout!.on('data', (d: Buffer) => {
      const rows = (c.partial + d.toString()).split('\n');
      c.partial = rows.pop()!;
      for (const r of rows) {
        const port = r.split('\t')[0];
        if (port === String(PROBE_PORT)) c.probes++;
        else if (port === String(END_PORT)) c.ends++;
        else c.warm++;
      }
    });
    return c;
  });
  const probe = (to: string, port = PROBE_PORT) => host.exec(process.execPath, ['-e',
    `const s = require('node:dgram').createSocket('udp4'); s.send('probe', ${port}, '${to}', () => s.close());`]);
  try {
    await eventually('tshark to capture', async () => caps.every((c) => c.probes > 0) || void (await Promise.all(devs.map((d) => probe(d.probeTo)))), 15_000);
    await action();
    await eventually('tshark to see the end probe', async () => caps.every((c) => c.ends > 0) || void (await Promise.all(devs.map((d) => probe(d.probeTo, END_PORT)))));
    return caps.map((c) => c.warm);
  } finally {
    for (const c of caps) c.proc.kill('SIGINT');
  }
}

describe.each([{ offload: true }, { offload: false }])('warm-up (offload: $offload)', ({ offload }) => {
  const lab = new Lab(`warm${offload ? '' : 'nooff'}`);
  afterAll(() => lab.cleanup());

  it('crosses loopback only, leaves the VTEP no state of its own, and the overlay works after it', async () => {
    const [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500);
    const args = (local: string, remote: string, n: number, name: string) => [
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', local, '--remote', remote, '--address', overlay(n),
      '--control', `/run/vxtap/${lab.id}-${name}.sock`, ...(offload ? [] : ['--no-offload']),
    ];
    let va: Vxtap | undefined;
    const [onLo, onWire] = await warmFramesDuring(a, [{ dev: 'lo', probeTo: '127.0.0.1' }, { dev: 'ul0', probeTo: ipB }], async () => {
      va = await a.vxtap(args(ipA, ipB, 1, 'a'));
    });
    // The capture can see them: on loopback, each round trip's frames twice (VXLAN there and back).
    expect(onLo).toBeGreaterThan(100);
    expect(onWire).toBe(0);
    const vb = await b.vxtap(args(ipB, ipA, 2, 'b'));
    for (const v of [va!, vb]) {
      const s = await v.stats() as unknown as { warm_up: { rounds: number }; vnis: Record<string, { rx_packets: number; tx_packets: number; fdb_entries: number }>; drops: Record<string, number>; learning: Record<string, number> };
      expect(s.warm_up.rounds).toBeGreaterThan(0);
      expect(s.vnis['42']).toMatchObject({ rx_packets: 0, tx_packets: 0, fdb_entries: 0 });
      expect(Object.values(s.drops).every((n) => n === 0), JSON.stringify(s.drops)).toBe(true);
      expect(Object.values(s.learning).every((n) => n === 0)).toBe(true);
    }
    await a.ping(`${OVERLAY}.2`, 3, 0.2);
    const macs = (await va!.fdb()).map((e) => e.mac);
    expect(macs.filter((m) => m.startsWith('02:76:78:77:'))).toEqual([]);
  });
});

describe('warm-up without loopback', () => {
  it('is skipped, and says so, in a namespace whose lo is down', () => {
    const script = [
      `import { warmUp } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'vxlan', 'warmup.js'))};`,
      `const spec = { local: 0, dstPort: 4789, srcPortMin: 32768, srcPortMax: 60999, ignoreReserved: false, offload: true,`,
      `  networks: [{ vni: 42, remotes: [], learning: true, stickyLocal: true, ageingSec: 300, maxAddress: 0, allowInnerVlan: false, statics: [], ports: [{ dev: 'x', mtu: 1450 }] }] };`,
      `for (const lo of ['down', 'up']) {`,
      `  if (lo === 'up') (await import('node:child_process')).execFileSync('ip', ['link', 'set', 'lo', 'up']);`,
      `  console.log(JSON.stringify(await warmUp(spec, 50)));`,
      `}`,
    ].join('\n');
    const r = spawnSync('unshare', ['-n', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    const [down, up] = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { rounds: number; note?: string });
    expect(down.rounds).toBe(0);
    expect(down.note).toMatch(/lo/);
    expect(up).toMatchObject({ rounds: 50 });
    expect(up.note).toBeUndefined();
  });
});
