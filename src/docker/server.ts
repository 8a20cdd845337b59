// The plugin's HTTP server on its unix socket, where dockerd finds it
// (/run/docker/plugins/NAME.sock, NAME being the driver's name in
// `docker network create -d NAME`).
//
// Whoever may open the socket (root: it is 0600) can send anything, so what
// one request can hold is bounded: POST only, a body of at most
// MAX_BODY_BYTES (413 past it, and the connection is closed), headers within
// 16 KiB, the whole request within REQUEST_TIMEOUT_MS, at most MAX_CLIENTS
// connections at once.
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { VxtapError } from '../core/errors.js';
import { removeStaleSocket } from '../control/server.js';
import { CONTENT_TYPE, dispatch, type DriverHandlers, MAX_BODY_BYTES } from './protocol.js';

export const REQUEST_TIMEOUT_MS = 10_000;
export const MAX_CLIENTS = 64;
const MAX_HEADER_BYTES = 16 * 1024;

export class PluginServer {
  private server: Server | null = null;

  /** `internal` gets the errors that are bugs (answered 500). */
  constructor(readonly path: string, private readonly handlers: DriverHandlers, private readonly internal: (e: unknown) => void) {}

  async listen(): Promise<void> {
    const path = this.path;
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    } catch (e) {
      throw new VxtapError('E_CONTROL', `--plugin-dir ${dirname(path)}: cannot create it (${(e as NodeJS.ErrnoException).code}): give a directory root can write`);
    }
    await removeStaleSocket(path, '--plugin-dir', 'plugin socket');
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS },
      (req, res) => this.serve(req, res));
    server.maxConnections = MAX_CLIENTS;
    const umask = process.umask(0o177); // the socket is 0600 from the start
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) => reject(new VxtapError('E_CONTROL', `plugin socket ${path}: cannot listen (${e.code ?? e.message}): check --plugin-dir`)));
        server.listen(path, resolve);
      });
    } finally {
      process.umask(umask);
    }
    this.server = server;
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: object, then?: () => void) => {
      if (res.headersSent) return;
      res.writeHead(status, { 'content-type': CONTENT_TYPE });
      res.end(JSON.stringify(body) + '\n', then);
    };
    if (req.method !== 'POST') {
      req.resume();
      return reply(405, { Err: 'the plugin API takes POST requests only' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (d: Buffer) => {
      if (over) return;
      size += d.length;
      if (size > MAX_BODY_BYTES) {
        over = true;
        res.setHeader('connection', 'close');
        // The rest of the body is not read: the connection goes once the answer is out.
        req.pause();
        reply(413, { Err: `request body over ${MAX_BODY_BYTES} bytes` }, () => req.socket.destroy());
        return;
      }
      chunks.push(d);
    });
    req.on('end', () => {
      if (over) return;
      const path = (req.url ?? '/').split('?')[0];
      void dispatch(this.handlers, path, Buffer.concat(chunks).toString('utf8'), this.internal).then((r) => reply(r.status, r.body));
    });
    req.on('error', () => req.destroy());
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve()); // removes the socket file
      s.closeAllConnections();
    });
  }
}
