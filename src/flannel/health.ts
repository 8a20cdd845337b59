// Observability for the flannel node: Prometheus metrics mirrored from the
// data path's own counters, and an HTTP server (flanneld's --healthz-ip and
// --healthz-port) for /healthz, /readyz and /metrics.
//
// The data path counts in typed arrays and is never asked to touch
// prom-client: each metric reads its source when scraped (prom-client's
// collect hook), so the hot path pays nothing for metrics.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { VxtapError } from '../core/errors.js';
import type { SubnetManager } from './subnet-manager.js';

export interface VniCounters {
  readonly vni: number;
  readonly rxPackets: number;
  readonly rxBytes: number;
  readonly txPackets: number;
  readonly txBytes: number;
}

/** What the data path reports; each call returns current totals. */
export interface DataPathStats {
  vnis(): Iterable<VniCounters>;
  /** Drops by reason name (src/core/drops.ts). */
  drops(): Iterable<readonly [reason: string, count: number]>;
  fdbEntries(): Iterable<readonly [vni: number, entries: number]>;
  routeEntries(): number;
}

type Labels = Record<string, string | number>;

export class FlannelMetrics {
  /** Also open to the data path for metrics of its own. */
  readonly registry = new Registry();
  private dataPath: DataPathStats | null = null;

  constructor(leases: Pick<SubnetManager, 'lease' | 'storeUp' | 'remoteLeases'>) {
    const dp = (): DataPathStats | null => this.dataPath;
    const perVni = (field: Exclude<keyof VniCounters, 'vni'>) => function* (): Iterable<[Labels, number]> {
      for (const c of dp()?.vnis() ?? []) yield [{ vni: c.vni }, c[field]];
    };
    this.counter('vxtap_rx_packets_total', 'Packets received from the overlay, per VNI.', ['vni'], perVni('rxPackets'));
    this.counter('vxtap_rx_bytes_total', 'Bytes received from the overlay, per VNI.', ['vni'], perVni('rxBytes'));
    this.counter('vxtap_tx_packets_total', 'Packets sent into the overlay, per VNI.', ['vni'], perVni('txPackets'));
    this.counter('vxtap_tx_bytes_total', 'Bytes sent into the overlay, per VNI.', ['vni'], perVni('txBytes'));
    this.counter('vxtap_drops_total', 'Packets dropped, per reason.', ['reason'], function* () {
      for (const [reason, n] of dp()?.drops() ?? []) yield [{ reason }, n];
    });
    this.gauge('vxtap_fdb_entries', 'Forwarding database entries, per VNI.', ['vni'], function* () {
      for (const [vni, n] of dp()?.fdbEntries() ?? []) yield [{ vni }, n];
    });
    this.gauge('vxtap_route_entries', 'Routes to other nodes\' subnets.', [], function* () {
      const d = dp();
      if (d) yield [{}, d.routeEntries()];
    });
    this.gauge('vxtap_flannel_lease_expiry_timestamp_seconds', 'When our subnet lease expires unless renewed (absent for a reservation).', [], function* () {
      const l = leases.lease;
      if (l && Number.isFinite(l.expires)) yield [{}, l.expires / 1000];
    });
    this.gauge('vxtap_flannel_remote_leases', 'Other nodes\' leases known to this node.', [], function* () {
      yield [{}, leases.remoteLeases().length];
    });
    this.gauge('vxtap_flannel_store_up', '1 when the lease store (etcd or the lease file) was reachable at the last try.', [], function* () {
      yield [{}, leases.storeUp ? 1 : 0];
    });
  }

  /** Connects the data path's counters; until then its metrics have no samples. */
  setDataPath(s: DataPathStats): void {
    this.dataPath = s;
  }

  private counter(name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
    new Counter({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.inc(labels, v);
      },
    });
  }

  private gauge(name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
    new Gauge({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.set(labels, v);
      },
    });
  }
}

export interface HealthServerOptions {
  /** flanneld's --healthz-ip. */
  host: string;
  /** flanneld's --healthz-port; 0 picks a free port (tests). */
  port: number;
  /**
   * What keeps the node from being ready; empty when ready. The node reports
   * 'lease' until it holds one, 'dataplane' until its devices and routes are
   * programmed, 'subnet.env' until the file is written.
   */
  notReady: () => readonly string[];
  registry: Registry;
}

export class HealthServer {
  private server: Server | null = null;

  constructor(private readonly o: HealthServerOptions) {}

  /** Starts listening; returns the port. */
  async listen(): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
        res.writeHead(code, { 'content-type': type });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'only GET and HEAD\n');
      if (path === '/healthz') return send(200, 'ok\n');
      if (path === '/readyz') {
        const missing = this.o.notReady();
        return missing.length === 0 ? send(200, 'ready\n') : send(503, `not ready: ${missing.join(', ')}\n`);
      }
      if (path === '/metrics') {
        this.o.registry.metrics().then((text) => send(200, text, this.o.registry.contentType), (e: Error) => send(500, `${e.message}\n`));
        return;
      }
      send(404, 'try /healthz, /readyz or /metrics\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        const where = `--healthz-ip ${this.o.host} --healthz-port ${this.o.port}`;
        reject(e.code === 'EADDRINUSE'
          ? new VxtapError('E_ADDRESS', `${where}: the port is in use: pick another --healthz-port`)
          : new VxtapError('E_ADDRESS', `${where}: cannot listen (${e.code ?? e.message}): give an address of this host`));
      });
      server.listen(this.o.port, this.o.host, resolve);
    });
    return (server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections(); // keep-alive clients would hold close() open
    });
  }
}
