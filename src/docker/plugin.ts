// `vxtap docker-plugin`: the Docker network driver as a daemon. It serves
// libnetwork's remote driver API on /run/docker/plugins/vxtap.sock (dockerd
// finds it there when a network names `-d vxtap`), the usual control socket
// (`vxtap stats`, `vxtap fdb`) and, with --metrics, /metrics.
//
// It starts with no network: each `docker network create -d vxtap` adds one
// to the VTEP of its UDP port. SIGINT or SIGTERM closes the sockets and the
// VTEPs, which removes the TAPs (the containers' interfaces on vxtap
// networks go with them); the state file stays, and the next start brings
// the networks back and gives the containers new TAPs (driver.restore()).
import { join } from 'node:path';
import { has, one, parseFlags, required, type FlagSpec } from '../control/args.js';
import { defaultControlPath } from '../control/control-path.js';
import { fdbUpdate, parseFdbWords } from '../control/fdb-commands.js';
import { kernelDrops } from '../control/kernel-drops.js';
import { createLogger, rxErrorLogger } from '../control/log.js';
import { metricsServer } from '../control/metrics.js';
import { processStats } from '../control/process-stats.js';
import { ControlServer } from '../control/server.js';
import { VxtapError } from '../core/errors.js';
import { mtuOfAddress } from '../io/device.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { DockerDriver } from './driver.js';
import { PluginServer } from './server.js';

export const DEFAULT_PLUGIN_DIR = '/run/docker/plugins';
export const DEFAULT_STATE_DIR = '/var/lib/vxtap/docker';
/** The driver's name: `docker network create -d vxtap`, from the socket's name. */
export const DRIVER_NAME = 'vxtap';
/** The control socket's default name: /run/vxtap/NETNS/docker-plugin.sock, as if it were a device. */
export const CONTROL_NAME = 'docker-plugin';

const FLAGS: Record<string, FlagSpec> = {
  local: { arity: 1 },
  control: { arity: 1 },
  metrics: { arity: 1 },
  'plugin-dir': { arity: 1 },
  'state-dir': { arity: 1 },
  'no-offload': { arity: 0 },
};

type Tree = Record<string, unknown>;

/**
 * The counters of several VTEPs (one per UDP port) as one tree of the shape
 * `vxtap stats` prints: numbers are added, keys are the union, and anything
 * else (offloads, capture) is the first VTEP's.
 */
export function mergeStats(trees: Tree[]): Tree {
  const out: Tree = {};
  for (const t of trees) {
    for (const [k, v] of Object.entries(t)) {
      const o = out[k];
      if (typeof v === 'number' && typeof o === 'number') out[k] = o + v;
      else if (isTree(v) && isTree(o)) out[k] = mergeStats([o, v]);
      else if (!(k in out)) out[k] = v;
    }
  }
  return out;
}

const isTree = (v: unknown): v is Tree => v !== null && typeof v === 'object' && !Array.isArray(v);

export async function runDockerPlugin(argv: string[]): Promise<void> {
  const p = parseFlags(argv, FLAGS);
  if (p.positionals.length > 0) throw new VxtapError('E_USAGE', `unexpected argument '${p.positionals[0]}' (see: vxtap help)`);
  const local = required<string>(p, 'local', 'the underlay IPv4 address the VTEPs bind and send from');
  try {
    parseIpv4Addr(local);
  } catch {
    throw new VxtapError('E_USAGE', `--local '${local}': expected an IPv4 address such as 198.51.100.1`);
  }
  const underlayMtu = mtuOfAddress(local);
  const pluginDir = one<string>(p, 'plugin-dir') ?? DEFAULT_PLUGIN_DIR;
  const stateDir = one<string>(p, 'state-dir') ?? DEFAULT_STATE_DIR;
  const log = createLogger();
  const driver = new DockerDriver({
    local, underlayMtu, stateFile: join(stateDir, 'state.json'), offload: !has(p, 'no-offload'), log, onRxError: rxErrorLogger(log),
  });
  const stats = async (): Promise<object> => {
    const trees = await Promise.all([...driver.running.values()].map((v) => v.stats()));
    return { ...mergeStats(trees), kernel_drops: kernelDrops(), process: processStats(), docker: driver.summary() };
  };
  const control = new ControlServer(one<string>(p, 'control') ?? defaultControlPath(CONTROL_NAME), {
    stats,
    fdb: () => driver.fdbRows(),
    'fdb-update': (req) => {
      const dev = parseFdbWords(req.args).dev;
      const vtep = [...driver.running.values()].find((v) => v.leader.vniOf(dev) !== undefined);
      if (vtep === undefined) throw new VxtapError('E_USAGE', `fdb: dev ${dev} is not a port of this plugin (its ports are the vxd... TAPs of joined containers)`);
      return fdbUpdate(req.args, vtep);
    },
  });
  const plugin = new PluginServer(join(pluginDir, `${DRIVER_NAME}.sock`), driver.handlers(), (e) => {
    log.error({ err: e instanceof Error ? e.stack : String(e) }, 'internal error answering Docker');
  });
  let started = false;
  const metrics = one<string>(p, 'metrics');
  const health = metrics === undefined ? undefined : metricsServer(metrics, '--metrics', stats, () => started);
  const close = async () => {
    await plugin.close();
    control.close();
    await health?.close();
    driver.close();
  };
  let restored;
  try {
    restored = await driver.restore();
    await control.listen();
    await health?.listen();
    await plugin.listen();
  } catch (e) {
    await close();
    throw e;
  }
  started = true;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    await close();
    log.info({ signal }, 'vxtap docker-plugin stopped; its TAPs are removed, its state file kept');
    log.flush();
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  log.info({
    socket: plugin.path, control: control.path, local, underlayMtu, stateDir,
    networks: driver.summary(), recovered: restored.recovered.map((e) => e.id), lost: restored.lost.map((e) => e.id), ...(metrics !== undefined && { metrics }),
  }, 'vxtap ready');
}
