// vxtap's command line. User mistakes print one line and exit 2; the
// foreground commands clean up everything they created on SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { all, has, one, parseFlags, required, type FlagSpec } from './control/args.js';
import {
  controlPathOf, defaultControlPath, DEFAULT_AGEING, DEFAULT_MTU, loadConfigFile, toSpec, validateConfig, type Config,
} from './control/config.js';
import { VxtapError } from './control/errors.js';
import { ControlServer, request } from './control/server.js';
import { Vtep, type FdbRow } from './vxlan/vtep.js';

const HELP = `vxtap: a userspace VXLAN dataplane on TAP devices

usage:
  vxtap vxlan --dev NAME --vni N --local IP [--remote IP]... [--dstport P]
              [--srcport MIN MAX] [--address CIDR] [--mtu N] [--ageing S]
              [--nolearning] [--maxaddress N] [--ignore-reserved] [--control PATH]
  vxtap run --config FILE
  vxtap stats --dev NAME [--control PATH]
  vxtap fdb show --dev NAME [--control PATH] [--json]
  vxtap help | --version

vxlan runs one VTEP in the foreground: a TAP device NAME on VXLAN network N,
sending from the underlay address IP. Each --remote adds an all-zeros (flood)
FDB entry. Defaults: --dstport 4789, --srcport 49152 65535, --mtu ${DEFAULT_MTU},
--ageing ${DEFAULT_AGEING}, learning on, no --maxaddress cap, control socket
/run/vxtap/NAME.sock. SIGINT or SIGTERM removes everything vxtap created.
`;

const VXLAN_FLAGS: Record<string, FlagSpec> = {
  dev: { arity: 1 },
  vni: { arity: 1, int: true },
  local: { arity: 1 },
  remote: { arity: 1, repeat: true },
  dstport: { arity: 1, int: true },
  srcport: { arity: 2, int: true },
  address: { arity: 1 },
  mtu: { arity: 1, int: true },
  ageing: { arity: 1, int: true },
  nolearning: { arity: 0 },
  maxaddress: { arity: 1, int: true },
  'ignore-reserved': { arity: 0 },
  control: { arity: 1 },
};

/** Maps config paths back to the flags of `vxtap vxlan`, so errors name what the user typed. */
function vxlanFlagOf(path: string): string {
  const m = /^networks\[0\]\.(?:ports\[0\]\.)?([a-z]+)(?:\[(\d+)\])?/.exec(path);
  const field = m ? m[1] : path.replace(/\[.*$/, '');
  const flag = { remotes: 'remote', learning: 'nolearning', ignoreReserved: 'ignore-reserved' }[field] ?? field;
  return m?.[2] !== undefined ? `--${flag} #${Number(m[2]) + 1}` : `--${flag}`;
}

function vxlanConfig(argv: string[]): Config {
  const p = parseFlags(argv, VXLAN_FLAGS);
  if (p.positionals.length > 0) throw new VxtapError('E_USAGE', `unexpected argument '${p.positionals[0]}' (see: vxtap help)`);
  const dev = required<string>(p, 'dev', 'the TAP device to create');
  const srcport = p.flags.get('srcport')?.[0] as [number, number] | undefined;
  const raw = {
    local: required<string>(p, 'local', 'the underlay IPv4 address to send from'),
    dstport: one<number>(p, 'dstport'),
    srcport,
    ignoreReserved: has(p, 'ignore-reserved'),
    control: one<string>(p, 'control'),
    networks: [{
      vni: required<number>(p, 'vni', 'the VXLAN network identifier, 0-16777215'),
      remotes: all<string>(p, 'remote'),
      learning: !has(p, 'nolearning'),
      ageing: one<number>(p, 'ageing'),
      maxaddress: one<number>(p, 'maxaddress'),
      ports: [{ dev, address: one<string>(p, 'address'), mtu: one<number>(p, 'mtu') }],
    }],
  };
  return validateConfig(raw, vxlanFlagOf);
}

async function runVtep(config: Config): Promise<void> {
  const log = pino({ name: 'vxtap', level: process.env.VXTAP_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const vtep = new Vtep(toSpec(config));
  const control = new ControlServer(controlPathOf(config), {
    stats: () => vtep.stats(),
    fdb: () => vtep.fdbRows(),
  });
  await control.listen();
  try {
    vtep.start();
  } catch (e) {
    control.close();
    throw e;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    vtep.close();
    control.close();
    log.info({ signal, stats: vtep.stats() }, 'vxtap stopped; devices removed');
    log.flush();
    process.exitCode = 0;
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  log.info({
    devices: vtep.portNames(),
    vnis: config.networks.map((n) => n.vni),
    local: config.local,
    dstport: config.dstport,
    control: control.path,
    io: 'batched read/write on TAP, recvmmsg on UDP, sendmmsg on a raw IPv4 socket; no offloads',
  }, 'vxtap ready');
}

function controlPath(argv: string[], extra: Record<string, FlagSpec> = {}) {
  const p = parseFlags(argv, { dev: { arity: 1 }, control: { arity: 1 }, json: { arity: 0 }, ...extra });
  const control = one<string>(p, 'control');
  const path = control ?? defaultControlPath(required<string>(p, 'dev', 'the device of the running instance'));
  return { path, json: has(p, 'json'), positionals: p.positionals };
}

function formatFdb(rows: FdbRow[]): string {
  return rows.map((r) => {
    const where = r.dev !== undefined ? `dev ${r.dev}` : `dst ${r.dst}`;
    const state = r.static ? 'static' : `age ${r.ageSec}s`;
    return `${r.mac} ${where} vni ${r.vni} ${state}`;
  }).join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'vxlan':
      return runVtep(vxlanConfig(rest));
    case 'run': {
      const p = parseFlags(rest, { config: { arity: 1 } });
      return runVtep(loadConfigFile(required<string>(p, 'config', 'the JSON config file')));
    }
    case 'stats': {
      const c = controlPath(rest);
      console.log(JSON.stringify(await request(c.path, 'stats'), null, 2));
      return;
    }
    case 'fdb': {
      const c = controlPath(rest);
      if (c.positionals[0] !== 'show') throw new VxtapError('E_USAGE', "fdb: expected 'fdb show' (see: vxtap help)");
      const rows = (await request(c.path, 'fdb')) as FdbRow[];
      console.log(c.json ? JSON.stringify(rows) : formatFdb(rows));
      return;
    }
    case 'help':
    case '--help':
    case '-h':
    case undefined:
      process.stdout.write(HELP);
      return;
    case '--version': {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      console.log(pkg.version);
      return;
    }
    default:
      throw new VxtapError('E_USAGE', `unknown command '${cmd}' (see: vxtap help)`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof VxtapError) {
    process.stderr.write(`vxtap: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`vxtap: internal error: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
