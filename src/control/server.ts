// The control socket: a Unix stream socket where a running instance answers
// one JSON request per connection with one JSON line (`vxtap stats`,
// `vxtap fdb show`). It is off the data path: requests run between batches.
import { mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { VxtapError } from './errors.js';

export type Handlers = Record<string, () => unknown>;

export class ControlServer {
  private server: Server | null = null;

  constructor(
    readonly path: string,
    private readonly handlers: Handlers,
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
    const server = createServer((sock) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        sock.end(JSON.stringify(this.answer(buf.slice(0, nl))) + '\n');
      });
      sock.on('error', () => sock.destroy());
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, resolve);
    });
    server.unref();
  }

  private answer(line: string): unknown {
    let cmd: unknown;
    try {
      cmd = (JSON.parse(line) as { cmd?: unknown }).cmd;
    } catch {
      return { error: 'request is not JSON' };
    }
    const h = typeof cmd === 'string' ? this.handlers[cmd] : undefined;
    if (!h) return { error: `unknown command ${JSON.stringify(cmd)}; known: ${Object.keys(this.handlers).join(', ')}` };
    return { ok: h() };
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
