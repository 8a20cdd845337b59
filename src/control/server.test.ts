// The control socket against real clients: who may connect, and what a client
// can make the instance hold.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VxtapError } from '../core/errors.js';
import { ControlServer, MAX_CONTROL_PATH_BYTES, MAX_REQUEST_BYTES, request } from './server.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-control-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let serial = 0;
const unique = (name: string) => join(dir, `${++serial}-${name}`);

/** Runs `fn` with a listening server, and closes it however `fn` ends. */
async function withServer(o: ConstructorParameters<typeof ControlServer>[3], fn: (s: ControlServer) => Promise<void>, path = unique('c.sock')): Promise<void> {
  const s = new ControlServer(path, {
    stats: () => ({ up: true }),
    // Answers with the request's args, or fails as a handler can: a user's error, or a bug.
    echo: (req) => {
      if (req.fail === 'user') throw new VxtapError('E_USAGE', "fdb: unexpected word 'via'");
      if (req.fail === 'bug') throw new Error('boom');
      return req.args;
    },
  }, {
    hold: async (_req, sock) => {
      // A stream: quiet for a while, then a byte and the end.
      await new Promise((r) => setTimeout(r, 300));
      sock.end('x');
    },
  }, o);
  await s.listen();
  try {
    await fn(s);
  } finally {
    s.close();
  }
}

/** Everything the server sends until it closes the connection. */
async function answerOf(sock: Socket): Promise<string> {
  let text = '';
  sock.on('data', (d: Buffer) => (text += d.toString()));
  sock.on('error', () => {});
  if (!sock.closed) await once(sock, 'close');
  return text;
}

function errorOf(text: string): string {
  expect(text.indexOf('\n')).toBe(text.length - 1);
  return (JSON.parse(text) as { error: string }).error;
}

describe('control socket permissions', () => {
  it('is 0600 under umask 000, in a directory it creates 0755 (the control socket follows the umask)', async () => {
    const sub = unique('run');
    const old = process.umask(0o000);
    try {
      await withServer({}, async (s) => {
        expect(statSync(s.path).mode & 0o777).toBe(0o600);
        expect(statSync(sub).mode & 0o777).toBe(0o755);
        expect(await request(s.path, 'stats')).toEqual({ up: true });
      }, join(sub, 'c.sock'));
    } finally {
      process.umask(old);
    }
  });

  it('is 0660 and owned by the group of --control-group, whose members can use it while others cannot', async () => {
    // A directory anyone may enter, so that only the socket's own mode decides.
    const open = mkdtempSync(join(tmpdir(), 'vxtap-control-open-'));
    chmodSync(open, 0o755);
    // Asynchronous: the server answers from this process's event loop.
    const asNobody = (path: string, gid: number) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(join(import.meta.dirname, '..', '..', 'bin', 'vxtap'), ['stats', '--control', path], { uid: 65534, gid });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    await withServer({ group: 'nogroup' }, async (s) => {
      const st = statSync(s.path);
      expect(st.mode & 0o777).toBe(0o660);
      expect(st.gid).toBe(65534);
      const member = await asNobody(s.path, 65534);
      expect(member.stderr).toBe('');
      expect(JSON.parse(member.stdout)).toEqual({ up: true });
      // Outside the group: told it is a permission problem, not that nothing runs there.
      const other = await asNobody(s.path, 65533);
      expect(other.status).toBe(2);
      expect(other.stderr).toMatch(/^vxtap: control socket \S+: permission denied \(EACCES\): run as root or as the socket's owner, or as a member of the instance's --control-group\n$/);
    }, join(open, 'c.sock')).finally(() => rmSync(open, { recursive: true, force: true }));
    expect(() => new ControlServer(unique('c.sock'), {}, {}, { group: 'vxtap-no-such-group' })).toThrow(/^--control-group: no group 'vxtap-no-such-group' on this host/);
  });
});

describe('control socket paths', () => {
  it('refuses to remove a regular file or a directory at --control, and leaves them there', async () => {
    const file = unique('precious.txt');
    writeFileSync(file, 'keep me');
    const s = new ControlServer(file, {});
    await expect(s.listen()).rejects.toThrow(new VxtapError('E_USAGE', `--control ${file}: a file that is not a socket is there: give the path of a socket to create`));
    s.close(); // as a failed start-up does
    expect(existsSync(file)).toBe(true);
    const d = unique('adir');
    mkdirSync(d);
    await expect(new ControlServer(d, {}).listen()).rejects.toThrow(`--control ${d}: a directory is there`);
    expect(statSync(d).isDirectory()).toBe(true);
  });

  it('replaces a socket left by an instance that died', async () => {
    const path = unique('stale.sock');
    // Bound, never unlinked: what a killed instance leaves.
    expect(spawnSync('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(path)})`]).status).toBe(0);
    expect(statSync(path).isSocket()).toBe(true);
    await withServer({}, async (s) => expect(await request(s.path, 'stats')).toEqual({ up: true }), path);
  });

  it('refuses a control path over 107 bytes instead of truncating it', async () => {
    const long = join(dir, 'x'.repeat(MAX_CONTROL_PATH_BYTES + 1 - dir.length - 1));
    expect(Buffer.byteLength(long)).toBe(MAX_CONTROL_PATH_BYTES + 1);
    const msg = `--control: the path is ${MAX_CONTROL_PATH_BYTES + 1} bytes, longer than the ${MAX_CONTROL_PATH_BYTES}`;
    expect(() => new ControlServer(long, {})).toThrow(msg);
    await expect(request(long, 'stats')).rejects.toThrow(msg);
    const fits = long.slice(0, -1);
    await withServer({}, async (s) => expect(await request(s.path, 'stats')).toEqual({ up: true }), fits);
  });
});

describe('control socket bounds', () => {
  it('answers a request line over 64 KiB with one error line and closes, instead of buffering it', async () => {
    await withServer({}, async (s) => {
      const sock = createConnection(s.path);
      sock.write(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61));
      expect(errorOf(await answerOf(sock))).toBe(`request longer than ${MAX_REQUEST_BYTES} bytes without a newline`);
      // Up to the limit is a request.
      const fits = createConnection(s.path);
      const line = JSON.stringify({ cmd: 'stats', pad: 'p'.repeat(MAX_REQUEST_BYTES - 30) });
      fits.write(line.padEnd(MAX_REQUEST_BYTES) + '\n');
      expect(JSON.parse(await answerOf(fits))).toEqual({ ok: { up: true } });
    });
  });

  it('closes a connection that sends no request line (the idle timeout), but not a stream that took it over', async () => {
    await withServer({ idleTimeoutMs: 50 }, async (s) => {
      const idle = createConnection(s.path);
      idle.write('{"cmd":'); // a start, never finished
      expect(errorOf(await answerOf(idle))).toBe('no request line within 50 ms');
      const stream = createConnection(s.path);
      stream.write('{"cmd":"hold"}\n');
      expect(await answerOf(stream)).toBe('x');
    });
  });

  it('refuses clients beyond the bound with one error line, and serves again once one leaves', async () => {
    await withServer({ maxClients: 2 }, async (s) => {
      const held = [createConnection(s.path), createConnection(s.path)];
      await Promise.all(held.map((c) => once(c, 'connect')));
      const third = createConnection(s.path);
      expect(errorOf(await answerOf(third))).toBe('too many control connections (2): try again later');
      held[0].destroy();
      // The server sees the close in its own time: ask until it answers.
      let answer: unknown;
      while (answer === undefined) answer = await request(s.path, 'stats').catch(() => undefined);
      expect(answer).toEqual({ up: true });
      held[1].destroy();
    });
  });

  it('echoes at most 64 characters of an unknown command', async () => {
    await withServer({}, async (s) => {
      const sock = createConnection(s.path);
      sock.write(JSON.stringify({ cmd: 'z'.repeat(60_000) }) + '\n');
      const msg = errorOf(await answerOf(sock));
      expect(msg).toBe(`unknown command "${'z'.repeat(63)}... (60002 characters); known: stats, echo, hold`);
    });
  });

  it('hands a handler the request and sends its user error back as it is, a bug as an internal error', async () => {
    await withServer({}, async (s) => {
      expect(await request(s.path, 'echo', 3000, { args: ['add', 'x'] })).toEqual(['add', 'x']);
      await expect(request(s.path, 'echo', 3000, { fail: 'user' })).rejects.toThrow(new VxtapError('E_CONTROL', "fdb: unexpected word 'via'"));
      await expect(request(s.path, 'echo', 3000, { fail: 'bug' })).rejects.toThrow('internal error: Error: boom');
    });
  });
});
