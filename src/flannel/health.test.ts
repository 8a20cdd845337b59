import { afterEach, describe, expect, it } from 'vitest';
import { FlannelMetrics, HealthServer } from './health.js';
import { udpAttrs } from './lease.js';
import type { HeldLease } from './subnet-manager.js';
import { parseSubnet } from './subnet.js';

const lease: HeldLease = { subnet: parseSubnet('198.18.52.0/24'), attrs: udpAttrs('198.51.100.1'), reservation: false, expires: 1_700_000_000_000 };

describe('health server', () => {
  let server: HealthServer | null = null;
  afterEach(() => server?.close());

  async function start(notReady: () => string[], metrics = new FlannelMetrics({ lease: null, storeUp: false, remoteLeases: () => [] })): Promise<string> {
    server = new HealthServer({ host: '127.0.0.1', port: 0, notReady, registry: metrics.registry });
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

  it('serves the data path\'s counters and the lease state in Prometheus format', async () => {
    const metrics = new FlannelMetrics({ lease, storeUp: true, remoteLeases: () => [lease, lease] });
    const url = await start(() => [], metrics);
    const before = await (await fetch(`${url}/metrics`)).text();
    expect(before).toContain('vxtap_flannel_lease_expiry_timestamp_seconds 1700000000\n');
    expect(before).toContain('vxtap_flannel_remote_leases 2\n');
    expect(before).toContain('vxtap_flannel_store_up 1\n');
    expect(before).not.toMatch(/^vxtap_rx_packets_total\{/m); // no data path yet

    let rx = 10;
    metrics.setDataPath({
      vnis: () => [{ vni: 1, rxPackets: rx, rxBytes: rx * 100, txPackets: 3, txBytes: 300 }],
      drops: () => [['reserved_bits', 2], ['tx_too_big', 0]],
      fdbEntries: () => [[1, 5]],
      routeEntries: () => 4,
    });
    rx = 12;
    const r = await fetch(`${url}/metrics`);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await r.text();
    for (const line of [
      '# TYPE vxtap_rx_packets_total counter', 'vxtap_rx_packets_total{vni="1"} 12', 'vxtap_rx_bytes_total{vni="1"} 1200',
      'vxtap_tx_packets_total{vni="1"} 3', 'vxtap_tx_bytes_total{vni="1"} 300', 'vxtap_drops_total{reason="reserved_bits"} 2',
      'vxtap_drops_total{reason="tx_too_big"} 0', 'vxtap_fdb_entries{vni="1"} 5', 'vxtap_route_entries 4',
    ]) expect(text).toContain(`${line}\n`);
  });

  it('says which flag to change when the port is taken', async () => {
    const url = await start(() => []);
    const port = Number(new URL(url).port);
    const second = new HealthServer({ host: '127.0.0.1', port, notReady: () => [], registry: new FlannelMetrics({ lease: null, storeUp: false, remoteLeases: () => [] }).registry });
    await expect(second.listen()).rejects.toThrow(`--healthz-ip 127.0.0.1 --healthz-port ${port}: the port is in use: pick another --healthz-port`);
  });
});
