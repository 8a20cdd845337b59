// `vxtap capture`: attaches to a running instance over its control socket and
// takes the pcapng stream it sends: into a file, a ring of files (-C/-W, as
// tcpdump), stdout (-w -), or, without -w, as one decoded line per packet.
//
// Only whole blocks are ever written, and stopping (after -c packets, or on
// SIGINT) half-closes the connection: the instance then sends what its ring
// still holds and the statistics blocks, and ends. So the file is complete
// even when the capture is interrupted.
import { closeSync, openSync, writevSync } from 'node:fs';
import { createConnection } from 'node:net';
import { VxtapError } from '../core/errors.js';
import { checkControlPath, connectError } from './server.js';
import { packetLine } from '../capture/decode.js';
import { compileFilter } from '../capture/filter.js';
import { BLOCK_EPB, BLOCK_IDB, BLOCK_SHB, type Block, BlockSplitter, PcapngReader } from '../capture/pcapng.js';
import type { CaptureRequest } from '../capture/session.js';

export interface CaptureRun {
  /** The instance's control socket. */
  control: string;
  request: CaptureRequest;
  /** Stop after this many packets. */
  count?: number;
  /** A file, '-' for stdout, or undefined for decoded lines on stdout. */
  write?: string;
  /** -C: start a new file once the current one holds more than this many bytes. */
  fileSize?: number;
  /** -W: reuse this many files in turn. */
  files?: number;
}

export interface CaptureSummary {
  packets: number;
  /** Frames that matched at the instance (from its statistics blocks, if they came). */
  matched?: number;
  /** Frames the instance could not queue for this capture (its ring was full). */
  lost?: number;
}

/** How long to wait for the instance to finish the stream after stopping. */
const FINISH_TIMEOUT_MS = 3000;

interface Sink {
  write(b: Block): void;
  /** End of a chunk from the socket: out with what was written, in one call. */
  flush(): void;
  close(): void;
}

/** pcapng blocks to stdout or to files, rotating at -C and wrapping at -W. */
class PcapngFiles implements Sink {
  private fd = -1;
  private index = 0;
  private size = 0;
  private packets = 0;
  /** SHB and IDBs, repeated at the start of every new file. */
  private readonly header: Buffer[] = [];
  private pending: Buffer[] = [];

  constructor(private readonly path: string, private readonly maxBytes = Infinity, private readonly files = 0) {
    this.open();
  }

  /** tcpdump's names: FILE, FILE1, FILE2... or, with -W, FILE0..FILE(W-1) padded to one width. */
  private name(): string {
    if (this.files > 0) return this.path + String(this.index % this.files).padStart(String(this.files - 1).length, '0');
    return this.index === 0 ? this.path : this.path + this.index;
  }

  private open(): void {
    if (this.path === '-') return;
    const name = this.name();
    try {
      this.fd = openSync(name, 'w');
    } catch (e) {
      throw new VxtapError('E_USAGE', `-w ${name}: cannot create it (${(e as NodeJS.ErrnoException).code})`);
    }
    this.size = this.packets = 0;
    this.pending = [...this.header];
  }

  write(b: Block): void {
    if (b.type === BLOCK_SHB || b.type === BLOCK_IDB) this.header.push(b.bytes);
    if (b.type === BLOCK_EPB) {
      if (this.size > this.maxBytes && this.packets > 0) {
        this.close();
        this.index++;
        this.open();
      }
      this.packets++;
    }
    this.pending.push(b.bytes);
    this.size += b.bytes.length;
  }

  // One write per chunk, not per packet. stdout is synchronous for files and pipes on
  // Linux, so a slow consumer slows the socket reads and the instance's ring absorbs it.
  flush(): void {
    if (this.pending.length === 0) return;
    if (this.fd < 0) process.stdout.write(Buffer.concat(this.pending));
    else writevSync(this.fd, this.pending);
    this.pending = [];
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/** One tcpdump-like line per packet, with the point's name when there are several. */
class Lines implements Sink {
  private text = '';

  constructor(private readonly reader: PcapngReader) {}

  write(b: Block): void {
    if (b.type !== BLOCK_EPB) return;
    const p = this.reader.read(b.bytes)!;
    this.text += packetLine(p, this.reader.all.length > 1) + '\n';
  }

  flush(): void {
    process.stdout.write(this.text);
    this.text = '';
  }

  close(): void {
    this.flush();
  }
}

export function runCapture(run: CaptureRun): Promise<CaptureSummary> {
  compileFilter(run.request.filter ?? ''); // a bad filter fails here, before connecting
  checkControlPath(run.control);
  return new Promise((resolve, reject) => {
    const reader = new PcapngReader();
    const splitter = new BlockSplitter();
    let sink: Sink | undefined;
    let packets = 0;
    let announced = false;
    let errorText: string | undefined;
    let stopTimer: NodeJS.Timeout | undefined;
    const sock = createConnection(run.control);

    const stop = () => {
      if (stopTimer !== undefined) return;
      sock.end();
      stopTimer = setTimeout(() => sock.destroy(), FINISH_TIMEOUT_MS);
    };
    process.on('SIGINT', stop);

    const take = (b: Block) => {
      if (b.type !== BLOCK_EPB) reader.read(b.bytes);
      else if (run.count !== undefined && packets >= run.count) return; // arrived after stopping
      else packets++;
      sink!.write(b);
      if (run.count !== undefined && packets === run.count) stop();
    };

    sock.on('connect', () => sock.write(JSON.stringify(run.request) + '\n'));
    sock.on('data', (chunk: Buffer) => {
      if (errorText !== undefined || (sink === undefined && chunk[0] === 0x7b /* '{' */)) {
        errorText = (errorText ?? '') + chunk.toString('utf8');
        return;
      }
      try {
        sink ??= run.write === undefined ? new Lines(reader) : new PcapngFiles(run.write, run.fileSize, run.files);
        for (const b of splitter.push(chunk)) take(b);
        sink.flush();
      } catch (e) {
        sock.destroy();
        reject(e);
        return;
      }
      if (!announced && reader.all.length > 0) {
        announced = true;
        const points = reader.all.map((i) => i.name).join(', ');
        process.stderr.write(`vxtap: capturing at ${points} via ${run.control}, snapshot length ${reader.all[0].snaplen} bytes\n`);
      }
    });
    sock.on('error', (e: NodeJS.ErrnoException) => reject(connectError(run.control, e)));
    sock.on('close', () => {
      process.off('SIGINT', stop);
      clearTimeout(stopTimer);
      sink?.close();
      if (errorText !== undefined) {
        let msg = errorText.trim();
        try {
          msg = (JSON.parse(msg) as { error?: string }).error ?? msg;
        } catch {
          // not JSON: show it as it came
        }
        reject(new VxtapError('E_CONTROL', msg));
        return;
      }
      const stats = reader.all.filter((i) => i.received !== undefined);
      resolve({
        packets,
        ...(stats.length > 0 && {
          matched: stats.reduce((n, i) => n + i.received!, 0),
          lost: stats.reduce((n, i) => n + (i.dropped ?? 0), 0),
        }),
      });
    });
  });
}
