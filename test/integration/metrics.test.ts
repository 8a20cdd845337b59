// --metrics ADDR:PORT in every mode: /metrics, scraped from inside the
// namespace (node's fetch on the host's loopback), shows the counters `vxtap stats`
// shows; and the kernel's drops on the UDP socket (receive buffer full, which
// vxtap never sees) are counted, as /proc/net/udp reports them.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { eventually, kernelVxlan, overlay } from '../helpers/peers.js';

const METRICS = '127.0.0.1:9100';

/** GETs a path of the metrics server with node's fetch, from a process inside h's namespace; fails on a status other than 200. */
function scrape(h: Host, path = '/metrics'): string {
  const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(async (r) => {
    const body = await r.text();
    if (r.status !== 200) { process.stderr.write(r.status + ' ' + body); process.exit(1); }
    process.stdout.write(body);
  })`;
  return h.run(process.execPath, '-e', script, `http://${METRICS}${path}`);
}

/** One sample of `name{labels}` from Prometheus text; undefined if absent. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

type Tree = Record<string, unknown> & {
  vnis?: Record<string, { rx_packets: number; rx_bytes: number; tx_packets: number; tx_bytes: number; fdb_entries: number; neigh_entries: number; proxy: Record<string, number> }>;
  udp?: { rx_packets: number; rx_bytes: number; tx_packets: number; tx_bytes: number; routes: number };
  drops: Record<string, number>;
  learning?: Record<string, number>;
  kernel_drops: number;
};

/** What /metrics shows of a stats tree (process memory and the like move on their own). */
function counters(s: object): string {
  const t = s as Tree;
  return JSON.stringify([t.vnis, t.udp && [t.udp.rx_packets, t.udp.rx_bytes, t.udp.tx_packets, t.udp.tx_bytes, t.udp.routes], t.drops, t.learning, t.kernel_drops]);
}

/**
 * Scrapes between two reads of `vxtap stats` until both reads agree (no
 * packet moved meanwhile), then checks every data-path metric against them.
 */
async function checkAgainstStats(h: Host, v: Vxtap): Promise<{ text: string; stats: Tree }> {
  const { text, stats } = await eventually('stats that hold still across a scrape', async () => {
    const before = counters(await v.stats());
    const t = scrape(h);
    const after = await v.stats();
    return before === counters(after) && { text: t, stats: after as unknown as Tree };
  });
  for (const [vni, c] of Object.entries(stats.vnis ?? {})) {
    const l = `vni="${vni}"`;
    expect([sample(text, 'vxtap_rx_packets_total', l), sample(text, 'vxtap_rx_bytes_total', l), sample(text, 'vxtap_tx_packets_total', l),
      sample(text, 'vxtap_tx_bytes_total', l), sample(text, 'vxtap_fdb_entries', l)], `VNI ${vni}`)
      .toEqual([c.rx_packets, c.rx_bytes, c.tx_packets, c.tx_bytes, c.fdb_entries]);
    expect(sample(text, 'vxtap_neigh_entries', l), `VNI ${vni} neighbours`).toBe(c.neigh_entries);
    expect(Object.keys(c.proxy)).toHaveLength(5);
    for (const [name, n] of Object.entries(c.proxy)) {
      const [proto, outcome] = name.split('_');
      expect(sample(text, 'vxtap_proxy_total', `${l},proto="${proto}",outcome="${outcome}"`), `VNI ${vni} ${name}`).toBe(n);
    }
  }
  if (stats.udp) {
    const u = stats.udp;
    expect([sample(text, 'vxtap_rx_packets_total', 'vni="0"'), sample(text, 'vxtap_rx_bytes_total', 'vni="0"'), sample(text, 'vxtap_tx_packets_total', 'vni="0"'),
      sample(text, 'vxtap_tx_bytes_total', 'vni="0"'), sample(text, 'vxtap_route_entries')], 'the udp overlay (VNI 0)')
      .toEqual([u.rx_packets, u.rx_bytes, u.tx_packets, u.tx_bytes, u.routes]);
  }
  for (const [reason, n] of Object.entries(stats.drops)) expect(sample(text, 'vxtap_drops_total', `reason="${reason}"`), reason).toBe(n);
  for (const [outcome, n] of Object.entries(stats.learning ?? {})) expect(sample(text, 'vxtap_learning_total', `outcome="${outcome}"`), outcome).toBe(n);
  expect(sample(text, 'vxtap_kernel_drops_total')).toBe(stats.kernel_drops);
  expect(scrape(h, '/healthz')).toBe('ok\n');
  expect(scrape(h, '/readyz')).toBe('ready\n');
  return { text, stats };
}

describe('--metrics in vxtap vxlan and vxtap run, against a kernel VTEP', () => {
  const lab = new Lab('metrics');
  let a: Host, b: Host, c: Host, ipA: string, ipB: string, ipC: string;

  let macB: string;

  beforeAll(() => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB, ipC] = lab.underlay([a, b, c]);
    macB = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA, ipC], address: overlay(2), learning: true }).mac;
  });
  afterAll(() => lab.cleanup());

  it('vxlan (two queues, gathered at each scrape): rx/tx per VNI, FDB entries, drops and learning match vxtap stats after a ping', async () => {
    const v = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1),
      '--control', `/run/vxtap/${lab.id}-a.sock`, '--metrics', METRICS, '--queues', '2',
    ]);
    await a.ping(`${OVERLAY}.2`);
    const { text, stats } = await checkAgainstStats(a, v);
    expect(stats.vnis!['42'].rx_packets).toBeGreaterThanOrEqual(3);
    expect(Object.values(stats.learning!).reduce((x, y) => x + y, 0)).toBeGreaterThan(0);
    expect(text).toContain('# TYPE vxtap_drops_total counter');
    expect(await v.stop()).toBe(0);
  });

  it('run: the config\'s "metrics" serves the same, the ARP proxy\'s counters and neighbour entries included', async () => {
    const file = join(tmpdir(), `${lab.id}-run.json`);
    writeFileSync(file, JSON.stringify({
      local: ipC, control: `/run/vxtap/${lab.id}-c.sock`, metrics: METRICS,
      networks: [{ vni: 42, remotes: [ipB], proxy: true, ports: [{ dev: 'vxt1', address: overlay(3) }] }],
    }));
    const v = await c.vxtap(['run', '--config', file], `/run/vxtap/${lab.id}-c.sock`);
    await c.exec(process.execPath, [CLI, 'neigh', 'add', `${OVERLAY}.2`, 'lladdr', macB, 'dev', 'vxt1', '--control', v.control]);
    await c.ping(`${OVERLAY}.2`);
    const { stats } = await checkAgainstStats(c, v);
    expect(stats.vnis!['42'].tx_packets).toBeGreaterThanOrEqual(3);
    expect([stats.vnis!['42'].neigh_entries, stats.vnis!['42'].proxy.arp_replies]).toEqual([1, 1]);
    expect(await v.stop()).toBe(0);
  });
});

describe('--metrics in vxtap udp, and the kernel\'s socket drops', () => {
  const lab = new Lab('metricsudp');
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap(['udp', '--dev', 'tun0', '--local', ipA, '--address', '198.18.1.1/16', '--route', `198.18.2.0/24=${ipB}`,
      '--control', `/run/vxtap/${lab.id}-a.sock`, '--metrics', METRICS]);
    await b.vxtap(['udp', '--dev', 'tun0', '--local', ipB, '--address', '198.18.2.1/16', '--route', `198.18.1.0/24=${ipA}`,
      '--control', `/run/vxtap/${lab.id}-b.sock`]);
  });
  afterAll(() => lab.cleanup());

  it('udp: rx/tx (VNI 0), routes and drops match vxtap stats after a ping', async () => {
    await a.ping('198.18.2.1');
    const { stats } = await checkAgainstStats(a, va);
    expect(stats.udp!.rx_packets).toBeGreaterThanOrEqual(3);
    expect(stats.udp!.routes).toBe(1);
    expect(stats.kernel_drops).toBe(0);
  });

  it('refuses a --metrics port in use in one line, exit 2, and removes what it made', async () => {
    const p = a.spawn(process.execPath, [CLI, 'udp', '--dev', 'tun1', '--local', ipA, '--port', '8286', '--address', '198.18.3.1/16',
      '--control', `/run/vxtap/${lab.id}-a2.sock`, '--metrics', METRICS]);
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const [code] = await once(p, 'exit');
    expect([code, err]).toEqual([2, `vxtap: --metrics ${METRICS}: the port is in use: pick another port in --metrics\n`]);
    expect(() => a.run('ip', 'link', 'show', 'dev', 'tun1')).toThrow();
    expect(scrape(a, '/healthz')).toBe('ok\n'); // the first instance still serves
  });

  it('counts the datagrams the kernel dropped while vxtap was stopped, as /proc/net/udp does', async () => {
    // Stopped, vxtap reads nothing: 60,000 datagrams of 1,400 bytes overflow
    // its 8 MiB receive buffer, and the kernel drops the rest.
    va.proc.kill('SIGSTOP');
    try {
      await b.exec(process.execPath, ['-e', `
        const s = require('node:dgram').createSocket('udp4');
        const payload = Buffer.alloc(1400, 0x45);
        let left = 60000;
        const next = () => (left-- > 0 ? s.send(payload, 8285, process.argv[1], next) : s.close());
        next();`, ipA]);
    } finally {
      va.proc.kill('SIGCONT');
    }
    const stats = (await va.stats()) as unknown as Tree;
    // The socket bound to port 8285 (0x205D): its drops column, the last.
    const row = a.run('cat', '/proc/net/udp').split('\n').find((l) => / [0-9A-F]{8}:205D /.test(l));
    const procDrops = Number(row!.trim().split(/\s+/)[12]);
    expect(procDrops).toBeGreaterThan(0);
    expect(stats.kernel_drops).toBe(procDrops);
    expect(sample(scrape(a), 'vxtap_kernel_drops_total')).toBe(procDrops);
  });
});
