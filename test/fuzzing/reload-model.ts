// A model of what a running VTEP holds (networks with their settings, ports,
// flood lists and statics), to check a reload plan against: the plan's steps,
// applied to the model of the old config, must give the model of the new one,
// refusing what the data path refuses (a port that exists, a static to a port
// of another network); the undo steps, in reverse, must give the old one back.
// Used by the `reload` fuzz target and by src/control/reload.test.ts.
import fc from 'fast-check';
import type { Config } from '../../src/control/config.js';
import { toNetworkSpec } from '../../src/control/config.js';
import type { ReloadChange, ReloadStep } from '../../src/control/reload.js';
import type { NetworkSpec } from '../../src/vxlan/vtep.js';

interface ModelNetwork {
  settings: string;
  ports: Map<string, string>;
  flood: number[];
  /** MAC -> `dev X` or `dst N`. */
  statics: Map<number, string>;
}

export type Model = Map<number, ModelNetwork>;

const portKey = (p: NetworkSpec['ports'][number]) => JSON.stringify([p.mtu, p.address ?? null, p.mac?.toLowerCase() ?? null]);
const floodOf = (remotes: number[]) => [...new Set(remotes)].sort((a, b) => a - b);

function networkOf(n: NetworkSpec): ModelNetwork {
  return {
    settings: JSON.stringify([n.learning, n.stickyLocal, n.ageingSec, n.maxAddress, n.allowInnerVlan, n.proxy]),
    ports: new Map(n.ports.map((p) => [p.dev, portKey(p)])),
    flood: floodOf(n.remotes),
    statics: new Map(n.statics.map((s) => [s.mac, s.dev !== undefined ? `dev ${s.dev}` : `dst ${s.remote}`])),
  };
}

export function modelOf(c: Config): Model {
  return new Map(c.networks.map((n) => [n.vni, networkOf(toNetworkSpec(n))]));
}

/** The model as one comparable string. */
export function render(m: Model): string {
  const nets = [...m].sort(([a], [b]) => a - b).map(([vni, n]) => [
    vni, n.settings, [...n.ports].sort(), n.flood, [...n.statics].sort(([a], [b]) => a - b),
  ]);
  return JSON.stringify(nets);
}

function owner(m: Model, dev: string): number | undefined {
  for (const [vni, n] of m) if (n.ports.has(dev)) return vni;
  return undefined;
}

function net(m: Model, vni: number): ModelNetwork {
  const n = m.get(vni);
  if (n === undefined) throw new Error(`model: VNI ${vni} is not there`);
  return n;
}

/** Applies a change as the data path does, throwing where it would refuse it. */
export function applyToModel(m: Model, c: ReloadChange): void {
  switch (c.op) {
    case 'add-network': {
      if (m.has(c.network.vni)) throw new Error(`model: VNI ${c.network.vni} exists`);
      for (const p of c.network.ports) if (owner(m, p.dev) !== undefined) throw new Error(`model: ${p.dev} exists`);
      for (const s of c.network.statics) if (s.dev !== undefined && !c.network.ports.some((p) => p.dev === s.dev)) throw new Error(`model: static to ${s.dev}`);
      m.set(c.network.vni, networkOf(c.network));
      return;
    }
    case 'remove-network':
      net(m, c.vni);
      m.delete(c.vni);
      return;
    case 'add-port':
      if (owner(m, c.port.dev) !== undefined) throw new Error(`model: ${c.port.dev} exists`);
      net(m, c.vni).ports.set(c.port.dev, portKey(c.port));
      return;
    case 'remove-port': {
      const vni = owner(m, c.dev);
      if (vni === undefined) throw new Error(`model: ${c.dev} is not there`);
      const n = net(m, vni);
      n.ports.delete(c.dev);
      for (const [mac, s] of n.statics) if (s === `dev ${c.dev}`) n.statics.delete(mac);
      return;
    }
    case 'flood':
      net(m, c.vni).flood = floodOf(c.remotes);
      return;
    case 'set': {
      const n = net(m, c.vni);
      if (c.dev !== undefined && !n.ports.has(c.dev)) throw new Error(`model: static to ${c.dev}, not a port of VNI ${c.vni}`);
      n.statics.set(c.mac, c.dev !== undefined ? `dev ${c.dev}` : `dst ${c.remote}`);
      return;
    }
    case 'delete':
      net(m, c.vni).statics.delete(c.mac);
  }
}

/** Applies the steps, then their undos in reverse; returns the model after each. */
export function replay(old: Config, steps: ReloadStep[]): { applied: string; undone: string } {
  const m = modelOf(old);
  for (const s of steps) applyToModel(m, s.change);
  const applied = render(m);
  for (const s of [...steps].reverse()) for (const u of s.undo) applyToModel(m, u);
  return { applied, undone: render(m) };
}

/** The VNIs and devices a step touches. */
export function touched(c: ReloadChange): { vni?: number; dev?: string } {
  if (c.op === 'add-network') return { vni: c.network.vni };
  if (c.op === 'remove-port') return { dev: c.dev };
  if (c.op === 'add-port') return { vni: c.vni, dev: c.port.dev };
  return { vni: c.vni };
}

// ---- configs, from a few VNIs, devices, remotes and MACs ----------------------

const VNIS = [1, 2, 3];
const REMOTES = ['198.51.100.2', '198.51.100.3', '198.51.100.4'];
const MACS = ['02:00:00:00:00:01', '02:00:00:00:00:02', '02:00:00:00:00:03'];
/** Each VNI's own devices, and one that any may have (a port moving between VNIs, or a clash). */
const devsOf = (vni: number) => [`vx${vni}a`, `vx${vni}b`, `vx${vni}c`, 'vxs'];

type RawPort = { dev: string; mtu?: number; address?: string; mac?: string };
type RawNetwork = { vni: number; remotes: string[]; learning: boolean; ageing: number; maxaddress: number; proxy: boolean; ports: RawPort[]; static: Array<{ mac: string; dst?: string; dev?: string }> };

const portArb = (vni: number) => fc.record({
  dev: fc.constantFrom(...devsOf(vni)),
  mtu: fc.constantFrom(1450, 1400),
  address: fc.option(fc.constantFrom('203.0.113.1/24', '198.18.0.1/24'), { nil: undefined }),
  mac: fc.option(fc.constantFrom('02:aa:00:00:00:01', '02:AA:00:00:00:01', '02:aa:00:00:00:02'), { nil: undefined }),
}, { requiredKeys: ['dev'] });

const networkArb = (vni: number): fc.Arbitrary<RawNetwork> => fc.record({
  remotes: fc.array(fc.constantFrom(...REMOTES), { maxLength: 3 }),
  learning: fc.boolean(),
  ageing: fc.constantFrom(300, 60),
  maxaddress: fc.constantFrom(0, 8),
  proxy: fc.boolean(),
  ports: fc.uniqueArray(portArb(vni), { minLength: 1, maxLength: 3, selector: (p) => p.dev }),
  static: fc.array(fc.record({ mac: fc.constantFrom(...MACS), to: fc.oneof(fc.constantFrom(...REMOTES).map((dst) => ({ dst })), fc.nat(2).map((i) => ({ port: i }))) }), { maxLength: 3 }),
}).map(({ static: statics, ports, ...n }) => ({
  vni,
  ...n,
  ports,
  static: statics.map((s) => ({ mac: s.mac, ...('dst' in s.to ? { dst: s.to.dst } : { dev: ports[s.to.port % ports.length].dev }) })),
}));

/** What the next file does to one of the old networks. */
const editArb = fc.record({
  drop: fc.boolean(),
  remotes: fc.boolean(),
  settings: fc.boolean(),
  ports: fc.constantFrom('keep', 'replace', 'union', 'drop-first'),
  statics: fc.boolean(),
}).map((e) => (e.drop ? 'drop' as const : e));

type Edit = { remotes: boolean; settings: boolean; ports: string; statics: boolean };

function edit(o: RawNetwork, other: RawNetwork, e: Edit): RawNetwork {
  const ports = e.ports === 'replace' ? other.ports
    : e.ports === 'union' ? [...o.ports, ...other.ports.filter((p) => !o.ports.some((q) => q.dev === p.dev))]
      : e.ports === 'drop-first' && o.ports.length > 1 ? o.ports.slice(1) : o.ports;
  const statics = (e.statics ? other.static : o.static).filter((s) => s.dev === undefined || ports.some((p) => p.dev === s.dev));
  return {
    vni: o.vni,
    remotes: e.remotes ? other.remotes : o.remotes,
    learning: e.settings ? other.learning : o.learning,
    ageing: e.settings ? other.ageing : o.ageing,
    maxaddress: e.settings ? other.maxaddress : o.maxaddress,
    proxy: e.settings ? other.proxy : o.proxy,
    ports,
    static: statics,
  };
}

/**
 * Pairs of raw configs: the next one edits, drops or keeps each of the old
 * networks and may add others; now and then a field fixed at start changes
 * too. Not all are valid (a device in two networks).
 */
export const configPair = fc.record({
  vnis: fc.subarray(VNIS, { minLength: 1 }),
  added: fc.subarray(VNIS),
  edits: fc.array(fc.oneof(fc.constant('keep' as const), editArb), { minLength: 3, maxLength: 3 }),
  restart: fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom<[string, unknown]>(['dstport', 8472], ['queues', 2], ['offload', false], ['control', '/run/vxtap/other.sock'], ['srcport', [50000, 50010]]) }),
}).chain(({ vnis, added, edits, restart }) => fc.record({
  old: fc.tuple(...vnis.map(networkArb)),
  others: fc.tuple(...VNIS.map(networkArb)),
}).map(({ old, others }) => {
  const next: RawNetwork[] = [];
  old.forEach((o, i) => {
    const e = edits[i];
    if (e === 'keep') next.push(o);
    else if (e !== 'drop') next.push(edit(o, others[VNIS.indexOf(o.vni)], e));
  });
  for (const vni of added) if (!next.some((n) => n.vni === vni)) next.push(others[VNIS.indexOf(vni)]);
  const base = { local: '198.51.100.1', control: '/run/vxtap/a.sock' };
  return {
    old: { ...base, networks: old },
    next: { ...base, networks: next, ...(restart !== null && { [restart[0]]: restart[1] }) },
  };
}));
