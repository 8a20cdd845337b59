// The control socket: a Unix stream socket where a running instance answers
// one JSON request per connection with one JSON line (`vxtap stats`,
// `vxtap fdb show`). It is off the data path: requests run between batches.
//
// A stream command (`capture`) instead takes the connection over: after the
// request line it carries the command's own byte stream (pcapng) until either
// side ends it. It can still refuse with one JSON error line; a client tells
// the two apart by the first byte ('{' versus the pcapng block type 0x0A).
import { mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { VxtapError } from './errors.js';

export type Handlers = Record<string, () => unknown | Promise<unknown>>;
/** Takes over the connection of a stream command; a VxtapError it throws is sent back as the error line. */
export type StreamHandlers = Record<string, (request: Record<string, unknown>, sock: Socket) => Promise<void>>;

export class ControlServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly handlers: Handlers,
    private readonly streams: StreamHandlers = {},
  ) {}

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (await isAlive(this.path)) {
      throw new VxtapError('E_CONTROL', `control socket ${this.path} belongs to a running instance: stop it or pass another --control`);
    }
    try {
      unlinkSync(this.path); // left over from an instance that died
    } catch {
      // nothing to remove
    }
    // Half-open, so a stream client can end its side and still receive the end of the stream.
    const server = createServer({ allowHalfOpen: true }, (sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      const onData = (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        sock.off('data', onData);
        this.dispatch(buf.slice(0, nl), sock);
      };
      sock.on('data', onData);
      sock.on('error', () => sock.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, resolve);
    });
    server.unref();
  }

  private dispatch(line: string, sock: Socket): void {
    const reply = (r: unknown): void => void sock.end(JSON.stringify(r) + '\n');
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return reply({ error: 'request is not JSON' });
    }
    const cmd = req?.cmd;
    const known = (table: object) => typeof cmd === 'string' && Object.hasOwn(table, cmd);
    if (known(this.streams)) {
      this.streams[cmd as string](req, sock).catch((e: unknown) => {
        reply({ error: e instanceof VxtapError ? e.message : `internal error: ${String(e)}` });
      });
      return;
    }
    if (!known(this.handlers)) {
      const names = [...Object.keys(this.handlers), ...Object.keys(this.streams)].join(', ');
      return reply({ error: `unknown command ${JSON.stringify(cmd)}; known: ${names}` });
    }
    // A handler may answer later (a multi-queue instance asks its workers).
    Promise.resolve(this.handlers[cmd as string]()).then(
      (ok) => reply({ ok }),
      (e: unknown) => reply({ error: `internal error: ${String(e)}` }),
    );
  }

  close(): void {
    this.server?.close();
    this.server = null;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Sends one command to a running instance and returns its answer. */
export function request(path: string, cmd: string, timeoutMs = 3000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new VxtapError('E_CONTROL', `control socket ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ cmd }) + '\n'));
    s.on('data', (c: string) => (buf += c));
    s.on('end', () => {
      clearTimeout(timer);
      try {
        const r = JSON.parse(buf) as { ok?: unknown; error?: string };
        if (r.error !== undefined) reject(new VxtapError('E_CONTROL', r.error));
        else resolve(r.ok);
      } catch {
        reject(new VxtapError('E_CONTROL', `control socket ${path} sent an unreadable answer`));
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new VxtapError('E_CONTROL', `no vxtap instance at ${path} (${e.code}): is it running? pass its --control path or --dev`));
    });
  });
}
