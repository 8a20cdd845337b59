// What the fuzzing harness found, each kept as a named case (seed 1437730,
// the default). The targets' generators still produce these shapes; these
// cases keep them covered whatever the seed.
import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureHub } from '../../src/capture/hub.js';
import { readCapture } from '../../src/capture/pcapng.js';
import { compileFilter } from '../../src/capture/filter.js';
import { parseFlags } from '../../src/control/args.js';
import { validateConfig } from '../../src/control/config.js';
import { VxtapError } from '../../src/core/errors.js';
import { ControlServer } from '../../src/control/server.js';

function errorOf(f: () => unknown): VxtapError {
  try {
    f();
  } catch (e) {
    if (e instanceof VxtapError) return e;
    throw e;
  }
  throw new Error('no error');
}

const dir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-regress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fuzz regressions', () => {
  it('config-key-newline: an unknown config field whose name holds a newline is reported on one line', () => {
    const e = errorOf(() => validateConfig({ local: '198.51.100.1', networks: [{ vni: 1, ports: [{ dev: 'a' }] }], 'a\nb': null }));
    expect(e.message).toBe('(top level): unknown field(s) "a\\nb"');
  });

  it('flag-value-newline: a flag value holding a newline is quoted on one line', () => {
    const e = errorOf(() => parseFlags(['-c', '\n', '1'], { c: { arity: 2, int: true } }));
    expect(e.message).toBe("-c: expected a non-negative integer, got '\\n' (see: vxtap help)");
    expect(errorOf(() => parseFlags(['--a\u001b[2Jb'], {})).message).toBe('unknown flag --a\\u001b[2Jb (see: vxtap help)');
  });

  it('capture-end-with-request: a capture client that half-closes right after its request line gets a complete stream', async () => {
    // The hub reads the outer MACs before it attaches; the client's end arrives meanwhile.
    const hub = new CaptureHub(4789, { macOf: () => 0, refresh: () => new Promise((r) => setTimeout(r, 50)) });
    const server = new ControlServer(join(dir, 'c.sock'), {}, { capture: (req, sock) => hub.attach(req, sock) });
    await server.listen();
    try {
      const sock = createConnection(server.path);
      const chunks: Buffer[] = [];
      sock.on('data', (d: Buffer) => chunks.push(d));
      sock.end(JSON.stringify({ cmd: 'capture', points: ['tap-rx'] }) + '\n');
      const closed = once(sock, 'close').then(() => true);
      const timedOut = new Promise((r) => setTimeout(() => r(false), 3000).unref());
      expect(await Promise.race([closed, timedOut])).toBe(true);
      const c = readCapture(Buffer.concat(chunks));
      expect(c.ifaces.map((i) => i.name)).toEqual(['tap-rx']);
      expect(hub.stats().sessions).toBe(0);
    } finally {
      server.close();
    }
  });

  it('the issue\'s filters: 9,000 terms and 10,000 nested parentheses are refused in one line, not a stack overflow', () => {
    for (const text of [Array(9000).fill('tcp').join(' or '), '('.repeat(10_000) + 'tcp' + ')'.repeat(10_000)]) {
      const e = errorOf(() => compileFilter(text));
      expect(e.message).toMatch(/^--filter: /);
      expect(e.message).not.toMatch(/\n/);
    }
  });
});
