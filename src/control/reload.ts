// Reloading `vxtap run --config FILE` (on SIGHUP or `vxtap reload`): the new
// file is validated whole, then the difference between the running config
// and the new one is applied over the dataplane's runtime API (VtepQueues).
//
// planReload is the pure part: from the old and the new config, the steps
// that turn one into the other, each with the steps that take it back.
// Networks are matched by VNI, ports by device name, statics by MAC:
//   - a VNI only in the old file is removed (its TAPs disappear), one only in
//     the new file is added with its ports, flood list and statics;
//   - a network whose own settings (learning, stickyLocal, ageing,
//     maxaddress, innerVlan, proxy) changed is removed and added again, since
//     its FDB and proxy are built from them;
//   - a port whose settings (address, mtu, mac) changed is re-created, and
//     the statics that point at it are set again;
//   - a changed flood list is set whole, statics are set or deleted one by one.
// Anything else (the underlay, the ports vxtap binds, queues, offloads, the
// control socket, privileges, metrics, the udp overlay) is fixed at start:
// a change there refuses the reload, naming the fields. A network that did
// not change is not touched: its TAPs, FDB and counters go on as they were.
//
// Removals come first (statics, ports, networks), then additions (networks,
// ports), then the FDB (flood lists, statics): a port can move from one VNI
// to another, and a static can point at a port added in the same reload.
// If a step fails (a TAP that cannot be created), the steps done are taken
// back in reverse, and the old config stays in force.
import type { VtepQueues } from '../vxlan/queues.js';
import type { FdbChange, NetworkSpec, PortSpec, StaticEntry, TopologyChange } from '../vxlan/vtep.js';
import { VxtapError } from '../core/errors.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { formatMac } from '../wire/mac.js';
import { type Config, loadConfigFile, toNetworkSpec } from './config.js';

export type ReloadChange = TopologyChange | FdbChange;

export interface ReloadStep {
  change: ReloadChange;
  /** What takes the change back, in order. */
  undo: ReloadChange[];
}

/** The config fields a running instance cannot change: a reload that changes one is refused. */
export const RESTART_FIELDS = [
  'local', 'dstport', 'srcport', 'ignoreReserved', 'offload', 'flowCache', 'queues', 'control', 'controlGroup', 'user', 'metrics', 'udp',
] as const;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const sameSet = (a: number[], b: number[]) => same([...new Set(a)].sort(), [...new Set(b)].sort());

function sameSettings(a: NetworkSpec, b: NetworkSpec): boolean {
  return a.learning === b.learning && a.stickyLocal === b.stickyLocal && a.ageingSec === b.ageingSec
    && a.maxAddress === b.maxAddress && a.allowInnerVlan === b.allowInnerVlan && a.proxy === b.proxy;
}

function samePort(a: PortSpec, b: PortSpec): boolean {
  return a.mtu === b.mtu && a.address === b.address && a.mac?.toLowerCase() === b.mac?.toLowerCase();
}

/** A network's statics by MAC; as at start, a MAC listed twice is its last entry. */
function staticsOf(n: NetworkSpec): Map<number, StaticEntry> {
  return new Map(n.statics.map((s) => [s.mac, s]));
}

function setStatic(vni: number, s: StaticEntry): FdbChange {
  return { op: 'set', vni, mac: s.mac, ...(s.dev !== undefined && { dev: s.dev }), remote: s.remote ?? 0, isStatic: true };
}

/**
 * The steps from `old` to `next` (both validated), in the order to apply
 * them. Throws a VxtapError naming the fields that need a restart;
 * `describe` turns the fields' names into what the user typed (FILE: a, b).
 */
export function planReload(old: Config, next: Config, describe: (field: string) => string = (f) => f): ReloadStep[] {
  const fixed: string[] = RESTART_FIELDS.filter((f) => !same(old[f], next[f]));
  if (old.networks.length === 0 && next.networks.length > 0) fixed.push('networks');
  if (fixed.length > 0) {
    throw new VxtapError('E_CONFIG', `${describe(fixed.join(', '))}: ${fixed.length > 1 ? 'these cannot' : 'this cannot'} change while vxtap runs (it needs a restart); nothing was changed`);
  }
  const before = new Map(old.networks.map((n) => [n.vni, toNetworkSpec(n)]));
  const after = new Map(next.networks.map((n) => [n.vni, toNetworkSpec(n)]));
  const unset: ReloadStep[] = [];
  const removals: ReloadStep[] = [];
  const additions: ReloadStep[] = [];
  const fdb: ReloadStep[] = [];
  const addNetwork = (n: NetworkSpec) => additions.push({ change: { op: 'add-network', network: n }, undo: [{ op: 'remove-network', vni: n.vni }] });
  for (const [vni, o] of before) {
    const n = after.get(vni);
    if (n === undefined || !sameSettings(o, n)) {
      removals.push({ change: { op: 'remove-network', vni }, undo: [{ op: 'add-network', network: o }] });
      if (n !== undefined) addNetwork(n);
    }
  }
  for (const [vni, n] of after) {
    const o = before.get(vni);
    if (o === undefined) {
      addNetwork(n);
      continue;
    }
    if (!sameSettings(o, n)) continue; // re-created whole, above
    const oldStatics = staticsOf(o);
    const newStatics = staticsOf(n);
    const newPorts = new Map(n.ports.map((p) => [p.dev, p]));
    const oldDevs = new Set(o.ports.map((p) => p.dev));
    const recreated = new Set<string>();
    const removed = new Set<string>();
    for (const p of o.ports) {
      const q = newPorts.get(p.dev);
      if (q !== undefined && samePort(p, q)) continue;
      removed.add(p.dev);
      // Removing a port drops the statics that point at it: taking it back sets them again.
      const pointing = [...oldStatics.values()].filter((s) => s.dev === p.dev).map((s) => setStatic(vni, s));
      removals.push({ change: { op: 'remove-port', dev: p.dev }, undo: [{ op: 'add-port', vni, port: p }, ...pointing] });
      if (q !== undefined) recreated.add(p.dev);
    }
    for (const q of n.ports) {
      if (!oldDevs.has(q.dev) || recreated.has(q.dev)) additions.push({ change: { op: 'add-port', vni, port: q }, undo: [{ op: 'remove-port', dev: q.dev }] });
    }
    if (!sameSet(o.remotes, n.remotes)) fdb.push({ change: { op: 'flood', vni, remotes: n.remotes }, undo: [{ op: 'flood', vni, remotes: o.remotes }] });
    for (const [mac, s] of oldStatics) {
      if (!newStatics.has(mac)) unset.push({ change: { op: 'delete', vni, mac }, undo: [setStatic(vni, s)] });
    }
    for (const [mac, s] of newStatics) {
      const was = oldStatics.get(mac);
      if (was !== undefined && same(was, s) && (s.dev === undefined || !recreated.has(s.dev))) continue;
      // An entry that pointed at a port removed here comes back with the port, when its removal is taken back.
      const restore = was !== undefined && (was.dev === undefined || !removed.has(was.dev));
      fdb.push({ change: setStatic(vni, s), undo: [restore ? setStatic(vni, was!) : { op: 'delete', vni, mac }] });
    }
  }
  return [...unset, ...removals, ...additions, ...fdb];
}

/** One line saying what a change does, for the reply and the log. */
export function describeChange(c: ReloadChange): string {
  switch (c.op) {
    case 'add-network':
      return `add VNI ${c.network.vni}${c.network.ports.length > 0 ? ` with ${c.network.ports.map((p) => p.dev).join(', ')}` : ''}`;
    case 'remove-network':
      return `remove VNI ${c.vni}`;
    case 'add-port':
      return `add port ${c.port.dev} to VNI ${c.vni}`;
    case 'remove-port':
      return `remove port ${c.dev}`;
    case 'flood':
      return `set the flood list of VNI ${c.vni} to ${c.remotes.length > 0 ? c.remotes.map(formatIpv4Addr).join(', ') : 'nothing'}`;
    case 'set':
      return `set static ${formatMac(c.mac)} on VNI ${c.vni} to ${c.dev !== undefined ? `dev ${c.dev}` : `dst ${formatIpv4Addr(c.remote)}`}`;
    case 'delete':
      return `delete static ${formatMac(c.mac)} on VNI ${c.vni}`;
  }
}

async function applyChange(queues: VtepQueues, c: ReloadChange): Promise<void> {
  if (c.op === 'flood' || c.op === 'set' || c.op === 'delete') {
    const full = await queues.applyFdb(c);
    if (full.length > 0) throw new VxtapError('E_CONFIG', `the FDB of VNI ${c.vni} is full (maxaddress) in queue ${full.join(', ')}: raise maxaddress`);
  } else {
    await queues.applyTopology(c);
  }
}

/**
 * Applies the steps in order; if one fails, takes back those done, in
 * reverse, and throws one line saying which step failed and why.
 */
export async function applyReload(steps: ReloadStep[], queues: VtepQueues | undefined): Promise<void> {
  const done: ReloadStep[] = [];
  for (const step of steps) {
    try {
      await applyChange(queues!, step.change);
      done.push(step);
    } catch (e) {
      let undoFailed = 0;
      for (const d of done.reverse()) {
        for (const u of d.undo) await applyChange(queues!, u).catch(() => undoFailed++);
      }
      const back = undoFailed === 0 ? 'the old config is back in force' : `taking back the ${done.length} steps done failed ${undoFailed} times: restart vxtap`;
      throw new VxtapError(e instanceof VxtapError ? e.code : 'E_DEVICE', `reload: ${describeChange(step.change)}: ${(e as Error).message}; ${back}`);
    }
  }
}

/** What a reload answers: the changes it made, one line each (none: the file did not change anything). */
export interface ReloadReply {
  changes: string[];
}

/**
 * The reloads of one `vxtap run --config FILE`, one at a time (a SIGHUP and a
 * `vxtap reload` at once are applied one after the other).
 */
export class Reloader {
  /** The reload under way, settled either way: the next one starts after it. */
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly file: string,
    private current: Config,
    private readonly queues: VtepQueues | undefined,
  ) {}

  reload(): Promise<ReloadReply> {
    const run = this.last.then(() => this.once());
    this.last = run.catch(() => {});
    return run;
  }

  private async once(): Promise<ReloadReply> {
    const next = loadConfigFile(this.file);
    const steps = planReload(this.current, next, (f) => `${this.file}: ${f}`);
    await applyReload(steps, this.queues);
    this.current = next;
    return { changes: steps.map((s) => describeChange(s.change)) };
  }
}
