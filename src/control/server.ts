// The control socket: a Unix stream socket where a running instance answers
// one JSON request per connection with one JSON line (`vxtap stats`,
// `vxtap fdb show`, `vxtap fdb add ...`). It is off the data path: requests run between batches.
//
// A stream command (`capture`) instead takes the connection over: after the
// request line it carries the command's own byte stream (pcapng) until either
// side ends it. It can still refuse with one JSON error line; a client tells
// the two apart by the first byte ('{' versus the pcapng block type 0x0A).
//
// The socket runs on the data path's thread and answers whoever may connect,
// so what a client can hold is bounded: one request line of at most
// MAX_REQUEST_BYTES, sent within the idle timeout, and at most `maxClients`
// connections at once. Beyond any of these the client gets one error line and
// the connection is closed. Only root may connect (mode 0600, whatever the
// umask), or also the members of `group` (0660).
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { VxtapError } from '../core/errors.js';

/** Answers a request; a VxtapError it throws is sent back as the error line, its message as it is. */
export type Handlers = Record<string, (request: Record<string, unknown>) => unknown | Promise<unknown>>;
/** Takes over the connection of a stream command; a VxtapError it throws is sent back as the error line. */
export type StreamHandlers = Record<string, (request: Record<string, unknown>, sock: Socket) => Promise<void>>;

/** The longest request line accepted, newline excluded. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** sun_path holds 108 bytes with the terminating NUL; Node would cut a longer path short. */
export const MAX_CONTROL_PATH_BYTES = 107;
/** How much of an unknown command an error echoes. */
const ECHO_CHARS = 64;

export interface ControlOptions {
  /** A group whose members may use the socket too (mode 0660); without one, root only (0600). */
  group?: string;
  /** Time a connection has to send its request line before it is closed. Default 10 s. */
  idleTimeoutMs?: number;
  /** Connections open at once, streams included; more are refused. Default 64. */
  maxClients?: number;
}

/** Refuses a path the kernel cannot bind or connect to in full. */
export function checkControlPath(path: string): void {
  const n = Buffer.byteLength(path);
  if (n > MAX_CONTROL_PATH_BYTES) {
    throw new VxtapError('E_USAGE', `--control: the path is ${n} bytes, longer than the ${MAX_CONTROL_PATH_BYTES} a Unix socket path may have: pass a shorter one`);
  }
}

/** The one-line error for a failed connect to the control socket at `path`. */
export function connectError(path: string, e: NodeJS.ErrnoException): VxtapError {
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new VxtapError('E_PERMISSION', `control socket ${path}: permission denied (${e.code}): run as root or as the socket's owner, or as a member of the instance's --control-group`);
  }
  return new VxtapError('E_CONTROL', `no vxtap instance at ${path} (${e.code}): is it running? pass its --control path or --dev`);
}

/** The numeric ID of a group, by name or number, from the system's group database. */
function groupId(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  let line = '';
  try {
    line = execFileSync('getent', ['group', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // not found: reported below
  }
  const gid = line.split(':')[2];
  if (gid === undefined || !/^\d+$/.test(gid)) {
    throw new VxtapError('E_USAGE', `--control-group: no group '${name}' on this host: create it (groupadd) or name an existing one`);
  }
  return Number(gid);
}

function errorLine(message: string): string {
  return JSON.stringify({ error: message }) + '\n';
}

/** Answers one line and closes: nothing more is read from a client that has had its answer. */
function answer(sock: Socket, line: string): void {
  sock.end(line, () => sock.destroy());
}

export class ControlServer {
  private server: Server | null = null;
  private clients = 0;
  private readonly gid: number | undefined;
  private readonly idleTimeoutMs: number;
  private readonly maxClients: number;

  constructor(
    readonly path: string,
    private readonly handlers: Handlers,
    private readonly streams: StreamHandlers = {},
    o: ControlOptions = {},
  ) {
    checkControlPath(path);
    this.gid = o.group === undefined ? undefined : groupId(o.group);
    this.idleTimeoutMs = o.idleTimeoutMs ?? 10_000;
    this.maxClients = o.maxClients ?? 64;
  }

  async listen(): Promise<void> {
    const path = this.path;
    const fail = (what: string, e: unknown): never => {
      throw new VxtapError('E_CONTROL', `--control ${path}: ${what} (${(e as NodeJS.ErrnoException).code ?? String(e)}): pass another --control`);
    };
    // The umask decides the modes of what mkdir and bind create: /run/vxtap
    // 0755, and a socket that no one but root can open until it has its mode.
    // Setting the mode after bind would leave a window.
    const umask = process.umask(0o022);
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    } catch (e) {
      fail(`cannot create its directory ${dirname(path)}`, e);
    } finally {
      process.umask(umask);
    }
    await removeStaleSocket(path, '--control', 'control socket');
    // Half-open, so a stream client can end its side and still receive the end of the stream.
    const server = createServer({ allowHalfOpen: true }, (sock) => this.accept(sock));
    const listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.once('listening', resolve);
    });
    process.umask(0o177);
    try {
      server.listen(path); // binds synchronously
    } finally {
      process.umask(umask);
    }
    try {
      await listening;
    } catch (e) {
      fail('cannot listen there', e);
    }
    this.server = server;
    if (this.gid !== undefined) {
      chownSync(path, -1, this.gid);
      chmodSync(path, 0o660);
    }
    server.unref();
  }

  private accept(sock: Socket): void {
    sock.on('error', () => sock.destroy());
    if (this.clients >= this.maxClients) {
      answer(sock, errorLine(`too many control connections (${this.maxClients}): try again later`));
      return;
    }
    this.clients++;
    sock.once('close', () => this.clients--);
    const chunks: Buffer[] = [];
    let size = 0;
    /** Stops waiting for the request line. */
    const done = () => {
      clearTimeout(idle);
      sock.off('data', onData);
      sock.off('end', onEnd);
    };
    const refuse = (message: string) => {
      done();
      answer(sock, errorLine(message));
    };
    const idle = setTimeout(() => refuse(`no request line within ${this.idleTimeoutMs} ms`), this.idleTimeoutMs).unref();
    const onData = (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a);
      if (size + (nl < 0 ? chunk.length : nl) > MAX_REQUEST_BYTES) return refuse(`request longer than ${MAX_REQUEST_BYTES} bytes without a newline`);
      if (nl < 0) {
        chunks.push(chunk);
        size += chunk.length;
        return;
      }
      done();
      chunks.push(chunk.subarray(0, nl));
      this.dispatch(Buffer.concat(chunks).toString('utf8'), sock);
    };
    // A client that ends its side before a whole line will never send one.
    const onEnd = () => refuse('the request line ended without a newline');
    sock.on('data', onData);
    sock.on('end', onEnd);
  }

  private dispatch(line: string, sock: Socket): void {
    const reply = (r: unknown): void => answer(sock, JSON.stringify(r) + '\n');
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
      const text = JSON.stringify(cmd) ?? String(cmd);
      const shown = text.length > ECHO_CHARS ? `${text.slice(0, ECHO_CHARS)}... (${text.length} characters)` : text;
      return reply({ error: `unknown command ${shown}; known: ${names}` });
    }
    // A handler may answer later (a multi-queue instance asks its workers).
    new Promise((resolve) => resolve(this.handlers[cmd as string](req))).then(
      (ok) => reply({ ok }),
      (e: unknown) => reply({ error: e instanceof VxtapError ? e.message : `internal error: ${String(e)}` }),
    );
  }

  /** Stops listening and removes the socket, if this server made it. */
  close(): void {
    if (this.server === null) return;
    this.server.close();
    this.server = null;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}

/**
 * Removes a socket that an instance which died left at `path`. Anything else
 * there is the user's: refused, never removed. `field` is the flag that set
 * the path, `what` names the socket in the error.
 */
export async function removeStaleSocket(path: string, field: string, what: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) {
    const kind = st.isDirectory() ? 'a directory' : st.isSymbolicLink() ? 'a symbolic link' : 'a file that is not a socket';
    throw new VxtapError('E_USAGE', `${field} ${path}: ${kind} is there: give the path of a socket to create`);
  }
  if (await isAlive(path)) {
    throw new VxtapError('E_CONTROL', `${what} ${path} belongs to a running instance: stop it or pass another ${field}`);
  }
  try {
    unlinkSync(path);
  } catch {
    // removed meanwhile
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

/** Sends one command (with the request's other `fields`) to a running instance and returns its answer. */
export function request(path: string, cmd: string, timeoutMs = 3000, fields: Record<string, unknown> = {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    checkControlPath(path);
    const s = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new VxtapError('E_CONTROL', `control socket ${path} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(JSON.stringify({ ...fields, cmd }) + '\n'));
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
      reject(connectError(path, e));
    });
  });
}
