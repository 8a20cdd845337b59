import { afterEach, describe, expect, it } from 'vitest';
import { DataPathMetrics, HealthServer, statsOfTree } from './metrics.js';
import { udpDrops } from './kernel-drops.js';

describe('health server', () => {
  let server: HealthServer | null = null;
  afterEach(() => server?.close());

  async function start(notReady: () => string[], metrics = new DataPathMetrics(), beforeScrape?: () => Promise<void>): Promise<string> {
    server = new HealthServer({ host: '127.0.0.1', port: 0, where: '--metrics 127.0.0.1:0', fix: 'port in --metrics', notReady, metrics, beforeScrape });
    return `http://127.0.0.1:${await server.listen()}`;
  }

  it('answers /healthz, and /readyz only once nothing is missing', async () => {
    let missing = ['lease', 'dataplane', 'subnet.env'];
    const url = await start(() => missing);
    expect(await (await fetch(`${url}/healthz`)).text()).toBe('ok\n');
    let r = await fetch(`${url}/readyz`);
    expect([r.status, await r.text()]).toEqual([503, 'not ready: lease, dataplane, subnet.env\n']);
    missing = [];
    r = await fetch(`${url}/readyz`);
    expect([r.status, await r.text()]).toEqual([200, 'ready\n']);
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('serves the data path\'s counters in Prometheus format', async () => {
    const metrics = new DataPathMetrics();
    const url = await start(() => [], metrics);
    expect(await (await fetch(`${url}/metrics`)).text()).not.toMatch(/^vxtap_rx_packets_total\{/m); // no data path yet

    let rx = 10;
    metrics.setDataPath({
      vnis: () => [{ vni: 1, rxPackets: rx, rxBytes: rx * 100, txPackets: 3, txBytes: 300 }],
      drops: () => [['reserved_bits', 2], ['tx_too_big', 0]],
      fdbEntries: () => [[1, 5]],
      neighEntries: () => [[1, 2]],
      proxy: () => [[1, 'arp', 'replies', 6], [1, 'nd', 'invalid', 1]],
      routeEntries: () => 4,
      learning: () => [['learned', 7]],
      kernelDrops: () => 9,
    });
    rx = 12;
    const r = await fetch(`${url}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    for (const line of [
      '# TYPE vxtap_rx_packets_total counter', 'vxtap_rx_packets_total{vni="1"} 12', 'vxtap_rx_bytes_total{vni="1"} 1200',
      'vxtap_tx_packets_total{vni="1"} 3', 'vxtap_tx_bytes_total{vni="1"} 300', 'vxtap_drops_total{reason="reserved_bits"} 2',
      'vxtap_drops_total{reason="tx_too_big"} 0', 'vxtap_fdb_entries{vni="1"} 5', 'vxtap_route_entries 4',
      'vxtap_learning_total{outcome="learned"} 7', 'vxtap_kernel_drops_total 9', 'vxtap_neigh_entries{vni="1"} 2',
      'vxtap_proxy_total{vni="1",proto="arp",outcome="replies"} 6', 'vxtap_proxy_total{vni="1",proto="nd",outcome="invalid"} 1',
    ]) expect(text).toContain(`${line}\n`);
  });

  it('reads the tree of `vxtap stats`, refreshed before each scrape; the udp overlay is VNI 0', async () => {
    const metrics = new DataPathMetrics();
    let tree: Record<string, unknown> = {};
    let n = 0;
    metrics.setDataPath(statsOfTree(() => tree));
    const url = await start(() => [], metrics, async () => {
      n++;
      tree = {
        vnis: { 42: { rx_packets: n, rx_bytes: 2, tx_packets: 3, tx_bytes: 4, fdb_entries: 5, neigh_entries: 1, proxy: { arp_misses: 4, nd_replies: 2 } } },
        udp: { rx_packets: 6, rx_bytes: 7, tx_packets: 8, tx_bytes: 9, routes: 2 },
        drops: { no_route: 1 }, learning: { moved: 3 }, kernel_drops: 11,
      };
    });
    await fetch(`${url}/metrics`);
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of [
      'vxtap_rx_packets_total{vni="42"} 2', 'vxtap_fdb_entries{vni="42"} 5', 'vxtap_rx_packets_total{vni="0"} 6', 'vxtap_tx_bytes_total{vni="0"} 9',
      'vxtap_neigh_entries{vni="42"} 1', 'vxtap_proxy_total{vni="42",proto="arp",outcome="misses"} 4', 'vxtap_proxy_total{vni="42",proto="nd",outcome="replies"} 2',
      'vxtap_route_entries 2', 'vxtap_drops_total{reason="no_route"} 1', 'vxtap_learning_total{outcome="moved"} 3', 'vxtap_kernel_drops_total 11',
    ]) expect(text).toContain(`${line}\n`);
  });

  it('says which flag to change when the port is taken', async () => {
    const url = await start(() => []);
    const port = Number(new URL(url).port);
    const second = new HealthServer({ host: '127.0.0.1', port, where: `--metrics 127.0.0.1:${port}`, fix: 'port in --metrics', notReady: () => [], metrics: new DataPathMetrics() });
    await expect(second.listen()).rejects.toThrow(`--metrics 127.0.0.1:${port}: the port is in use: pick another port in --metrics`);
  });
});

describe('kernel drops', () => {
  const table = [
    '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops',
    '  120: 0164336C:12B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5001 2 0000000000000000 150000',
    '  121: 0164336C:2118 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5002 2 0000000000000000 7',
    '  122: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9999 2 0000000000000000 40',
    '  bad line',
  ].join('\n');

  it('sums the drops column over our sockets\' inodes only', () => {
    expect(udpDrops(table, new Set(['5001', '5002']))).toBe(150007);
    expect(udpDrops(table, new Set(['1']))).toBe(0);
    expect(udpDrops('', new Set(['5001']))).toBe(0);
  });
});
