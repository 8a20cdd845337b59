// Observability in every mode: Prometheus metrics mirrored from the data
// path's own counters, and an HTTP server for /healthz, /readyz and /metrics
// (`--metrics ADDR:PORT` of vxlan, udp and run; flanneld's --healthz-ip and
// --healthz-port for the flannel node, which adds its lease metrics).
//
// The data path counts in typed arrays and is never asked to touch
// prom-client: each metric reads its source when scraped (prom-client's
// collect hook), so the hot path pays nothing for metrics.
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import { VxtapError } from '../core/errors.js';

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
  /** Neighbour table entries per VNI (`vxtap neigh`). */
  neighEntries(): Iterable<readonly [vni: number, entries: number]>;
  /** ARP/ND proxy outcomes per VNI: proto arp or nd, outcome replies, misses or invalid (src/switch/proxy.ts). */
  proxy(): Iterable<readonly [vni: number, proto: string, outcome: string, count: number]>;
  routeEntries(): number;
  /** Learning outcomes by name (src/switch/fdb.ts). */
  learning(): Iterable<readonly [outcome: string, count: number]>;
  /** Datagrams the kernel dropped on the UDP sockets (receive buffer full). */
  kernelDrops(): number;
}

type Tree = Record<string, unknown>;
type Totals = { rx_packets: number; rx_bytes: number; tx_packets: number; tx_bytes: number };

/**
 * Reads DataPathStats from the tree `vxtap stats` prints, so both show the
 * same counters. The udp overlay has no VNI: its counters are VNI 0.
 * `routes` overrides the route count (the flannel vxlan node's remotes).
 */
export function statsOfTree(tree: () => Tree, routes?: () => number): DataPathStats {
  const vnis = () => (tree().vnis ?? {}) as Record<string, Totals & { fdb_entries: number; neigh_entries?: number; proxy?: Record<string, number> }>;
  const udp = () => tree().udp as (Totals & { routes: number }) | undefined;
  return {
    vnis: () => {
      const u = udp();
      const rows: VniCounters[] = Object.entries(vnis()).map(([vni, c]) => ({ vni: Number(vni), rxPackets: c.rx_packets, rxBytes: c.rx_bytes, txPackets: c.tx_packets, txBytes: c.tx_bytes }));
      if (u) rows.push({ vni: 0, rxPackets: u.rx_packets, rxBytes: u.rx_bytes, txPackets: u.tx_packets, txBytes: u.tx_bytes });
      return rows;
    },
    drops: () => Object.entries((tree().drops ?? {}) as Record<string, number>),
    fdbEntries: () => Object.entries(vnis()).map(([vni, c]) => [Number(vni), c.fdb_entries] as const),
    neighEntries: () => Object.entries(vnis()).map(([vni, c]) => [Number(vni), c.neigh_entries ?? 0] as const),
    proxy: () => Object.entries(vnis()).flatMap(([vni, c]) => Object.entries(c.proxy ?? {}).map(([name, n]) => {
      const [proto, outcome] = name.split('_');
      return [Number(vni), proto, outcome, n] as const;
    })),
    routeEntries: () => routes?.() ?? udp()?.routes ?? 0,
    learning: () => Object.entries((tree().learning ?? {}) as Record<string, number>),
    kernelDrops: () => (tree().kernel_drops as number | undefined) ?? 0,
  };
}

export type Labels = Record<string, string | number>;

export class DataPathMetrics {
  /** Also open to subclasses for metrics of their own. */
  readonly registry = new Registry();
  private dataPath: DataPathStats | null = null;

  constructor() {
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
    this.counter('vxtap_learning_total', 'Source MAC learning outcomes, per outcome.', ['outcome'], function* () {
      for (const [outcome, n] of dp()?.learning() ?? []) yield [{ outcome }, n];
    });
    this.counter('vxtap_kernel_drops_total', 'Datagrams the kernel dropped on vxtap\'s UDP sockets (receive buffer full).', [], function* () {
      const d = dp();
      if (d) yield [{}, d.kernelDrops()];
    });
    this.gauge('vxtap_fdb_entries', 'Forwarding database entries, per VNI.', ['vni'], function* () {
      for (const [vni, n] of dp()?.fdbEntries() ?? []) yield [{ vni }, n];
    });
    this.counter('vxtap_proxy_total', 'ARP requests and neighbour solicitations the proxy answered (replies), did not find (misses) or refused as malformed (invalid), per VNI.', ['vni', 'proto', 'outcome'], function* () {
      for (const [vni, proto, outcome, n] of dp()?.proxy() ?? []) yield [{ vni, proto, outcome }, n];
    });
    this.gauge('vxtap_neigh_entries', 'Neighbour table entries, per VNI.', ['vni'], function* () {
      for (const [vni, n] of dp()?.neighEntries() ?? []) yield [{ vni }, n];
    });
    this.gauge('vxtap_route_entries', 'Routes to other nodes\' subnets.', [], function* () {
      const d = dp();
      if (d) yield [{}, d.routeEntries()];
    });
  }

  /** Connects the data path's counters; until then its metrics have no samples. */
  setDataPath(s: DataPathStats): void {
    this.dataPath = s;
  }

  protected counter(name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
    new Counter({
      name, help, labelNames, registers: [this.registry],
      collect() {
        this.reset();
        for (const [labels, v] of read()) this.inc(labels, v);
      },
    });
  }

  protected gauge(name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>): void {
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
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** The flags that set host and port, named in errors: `--metrics 127.0.0.1:9100`. */
  where: string;
  /** What to change when the port is in use: `--metrics`. */
  fix: string;
  /** What keeps the instance from being ready; empty when ready. */
  notReady: () => readonly string[];
  metrics: DataPathMetrics;
  /** Runs before each scrape (a multi-queue VTEP gathers its queues' counters). */
  beforeScrape?: () => Promise<void>;
}

export class HealthServer {
  private server: Server | null = null;

  constructor(private readonly o: HealthServerOptions) {}

  /** Starts listening; returns the port. */
  async listen(): Promise<number> {
    const registry = this.o.metrics.registry;
    const scrape = async (): Promise<string> => {
      await this.o.beforeScrape?.();
      return registry.metrics();
    };
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
        scrape().then((text) => send(200, text, registry.contentType), (e: Error) => send(500, `${e.message}\n`));
        return;
      }
      send(404, 'try /healthz, /readyz or /metrics\n');
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => {
        reject(e.code === 'EADDRINUSE'
          ? new VxtapError('E_ADDRESS', `${this.o.where}: the port is in use: pick another ${this.o.fix}`)
          : new VxtapError('E_ADDRESS', `${this.o.where}: cannot listen (${e.code ?? e.message}): give an address of this host`));
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

/** The /metrics server of `--metrics ADDR:PORT`: each scrape reads the counters `vxtap stats` prints. */
export function metricsServer(addr: string, field: string, read: () => Promise<object>, started: () => boolean): HealthServer {
  const [host, port] = addr.split(':');
  const metrics = new DataPathMetrics();
  let tree: Record<string, unknown> = {};
  metrics.setDataPath(statsOfTree(() => tree));
  return new HealthServer({
    host, port: Number(port), where: `${field} ${addr}`, fix: `port in ${field}`,
    notReady: () => (started() ? [] : ['dataplane']), metrics,
    beforeScrape: async () => {
      tree = (await read()) as Record<string, unknown>;
    },
  });
}
