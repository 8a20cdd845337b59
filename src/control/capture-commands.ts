// The capture commands of the CLI: flags in, one of the capture modules run.
import { readFileSync } from 'node:fs';
import { has, one, parseFlags, required } from './args.js';
import { controlPathOr } from './control-path.js';
import { VxtapError } from '../core/errors.js';
import { runCapture } from './capture-client.js';
import { decodeCapture } from '../capture/decode.js';
import { CaptureFormatError, readCapture } from '../capture/pcapng.js';
import { parseCaptureRequest } from '../capture/session.js';
import { runSniff } from '../capture/sniff.js';

const usage = (msg: string): never => {
  throw new VxtapError('E_USAGE', `${msg} (see: vxtap help)`);
};

/** tcpdump's -C unit: millions of bytes. */
const MB = 1_000_000;

/** Capture request fields -> the flags that set them, for error messages. */
const REQUEST_FLAGS: Record<string, string> = { points: '--point', vni: '--vni', snaplen: '--snaplen', buffer: '-B' };

export async function captureCommand(argv: string[]): Promise<void> {
  const p = parseFlags(argv, {
    dev: { arity: 1 }, control: { arity: 1 }, point: { arity: 1 }, vni: { arity: 1, int: true },
    filter: { arity: 1 }, snaplen: { arity: 1, int: true }, nano: { arity: 0 },
    count: { arity: 1, int: true, short: 'c' }, write: { arity: 1, short: 'w' },
    'file-size': { arity: 1, int: true, short: 'C' }, files: { arity: 1, int: true, short: 'W' },
    buffer: { arity: 1, int: true, short: 'B' },
  });
  if (p.positionals.length > 0) usage(`unexpected argument '${p.positionals[0]}' (a filter goes in --filter "...")`);
  const control = controlPathOr(one<string>(p, 'control'), () => required<string>(p, 'dev', 'the device of the running instance'));
  const count = one<number>(p, 'count');
  if (count === 0) usage('-c: expected a count of at least 1');
  const write = one<string>(p, 'write');
  const fileSize = one<number>(p, 'file-size');
  const files = one<number>(p, 'files');
  if (fileSize !== undefined && (write === undefined || write === '-')) usage('-C needs -w FILE: a ring of files cannot go to stdout');
  if (fileSize === 0) usage('-C: expected a size of at least 1 (MB)');
  if (files !== undefined && fileSize === undefined) usage('-W needs -C (the size at which to start the next file)');
  if (files === 0) usage('-W: expected at least 1 file');
  const request = parseCaptureRequest({
    cmd: 'capture',
    ...(has(p, 'point') && { points: one<string>(p, 'point')!.split(',') }),
    ...(has(p, 'vni') && { vni: one<number>(p, 'vni') }),
    ...(has(p, 'filter') && { filter: one<string>(p, 'filter') }),
    ...(has(p, 'snaplen') && { snaplen: one<number>(p, 'snaplen') }),
    ...(has(p, 'nano') && { nano: true }),
    ...(has(p, 'buffer') && { buffer: one<number>(p, 'buffer') }),
  }, (field) => REQUEST_FLAGS[field.replace(/\[.*$/, '')] ?? field);
  const summary = await runCapture({
    control,
    request,
    count,
    write,
    ...(fileSize !== undefined && { fileSize: fileSize * MB }),
    files,
  });
  // The counts go to stderr, as tcpdump's do, so stdout stays the capture.
  const lines = [`${summary.packets} packets captured`];
  if (summary.matched !== undefined) lines.push(`${summary.matched} packets matched at vxtap`, `${summary.lost} packets lost by vxtap (capture buffer full)`);
  process.stderr.write(lines.join('\n') + '\n');
}

export function decodeCommand(argv: string[]): void {
  if (argv.length !== 1) usage('decode: expected one FILE (pcap or pcapng; - for stdin)');
  const file = argv[0];
  let bytes: Buffer;
  try {
    bytes = readFileSync(file === '-' ? 0 : file);
  } catch (e) {
    throw new VxtapError('E_USAGE', `decode: cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    for (const line of decodeCapture(readCapture(bytes))) process.stdout.write(line + '\n');
  } catch (e) {
    if (e instanceof CaptureFormatError) throw new VxtapError('E_USAGE', `decode: ${file}: ${e.message}`);
    throw e;
  }
}

export async function sniffCommand(argv: string[]): Promise<void> {
  const p = parseFlags(argv, { iface: { arity: 1, short: 'i' }, count: { arity: 1, int: true, short: 'c' } });
  const n = await runSniff({
    iface: required<string>(p, 'iface', 'the interface, as -i IFACE'),
    filter: p.positionals.join(' '),
    count: one<number>(p, 'count'),
  });
  process.stderr.write(`${n} packets captured\n`);
}
