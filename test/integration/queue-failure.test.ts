// Issue 16, item 6: a queue worker that fails after start-up. Its error used
// to be swallowed by a leftover listener: the instance ran on with a dead
// queue (its share of the flows lost), `vxtap stats` waited forever, and so
// did SIGTERM, which asks for the final stats. The fault is real, in the
// real worker thread of a real `vxtap vxlan --queues 2`: a preload module
// (node --require, which worker threads load too) throws, or spins, in the
// worker once the test creates a trigger file after `vxtap ready`.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/control/server.js';
import { CLI, type Host, Lab, Vxtap } from '../../src/lab/netns.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-queue-failure-'));
const THROW = join(dir, 'throw');
const SPIN = join(dir, 'spin');
const PRELOAD = join(dir, 'fault.cjs');
writeFileSync(PRELOAD, `
const { isMainThread } = require('node:worker_threads');
const { existsSync } = require('node:fs');
if (!isMainThread) {
  const t = setInterval(() => {
    if (existsSync(${JSON.stringify(THROW)})) { clearInterval(t); throw new Error('fault injected after start'); }
    if (existsSync(${JSON.stringify(SPIN)})) { clearInterval(t); for (;;); }
  }, 20);
  t.unref();
}
`);

let lab: Lab;
let a: Host;
let ipA: string;
let ipB: string;

beforeAll(() => {
  lab = new Lab('qfail');
  a = lab.host('a');
  const b = lab.host('b');
  [ipA, ipB] = lab.underlay([a, b]);
});
afterAll(async () => {
  await lab.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

/** `vxtap vxlan --queues 2` on a, with the fault preload; resolves once ready, with its exit. */
async function start(name: string): Promise<{ v: Vxtap; exited: Promise<number | null> }> {
  const control = `/run/vxtap/${lab.id}-${name}.sock`;
  const p = a.spawn(process.execPath, ['--require', PRELOAD, CLI, 'vxlan', '--dev', name, '--vni', '42', '--local', ipA,
    '--remote', ipB, '--address', '203.0.113.1/24', '--queues', '2', '--control', control]);
  const exited = once(p, 'exit').then(([code]) => code as number | null);
  const v = new Vxtap(p, control);
  await v.ready();
  return { v, exited };
}

const hasLink = (dev: string): boolean => {
  try {
    a.run('ip', 'link', 'show', 'dev', dev);
    return true;
  } catch {
    return false;
  }
};

describe('issue 16.6: a queue worker failing after start-up', () => {
  it('is reported, and the instance stops: devices removed, exit code 1', async () => {
    const { v, exited } = await start('vxq0');
    expect(hasLink('vxq0')).toBe(true);
    writeFileSync(THROW, '');
    const code = await exited;
    rmSync(THROW);
    expect(code).toBe(1);
    expect(v.stderr).toContain('queue 1 failed: fault injected after start; stopping');
    expect(v.stderr).toContain('vxtap stopped after a failure; devices removed');
    expect(hasLink('vxq0')).toBe(false);
  });

  it('that stops answering: stats gives up on it, and SIGTERM still exits with every device removed', async () => {
    const { v, exited } = await start('vxq1');
    expect(((await v.stats()) as unknown as { queues: number }).queues).toBe(2);
    writeFileSync(SPIN, '');
    await new Promise((r) => setTimeout(r, 200)); // the worker sees the trigger within 20 ms
    await expect(request(v.control, 'stats')).rejects.toThrow(/queue 1 did not answer within 2000 ms/);
    expect(v.alive).toBe(true);
    v.proc.kill('SIGTERM');
    // The spinning worker is terminated with its TAP queue and socket still
    // polled; the addon closes those handles as the thread's environment goes,
    // so the process ends with the failure's exit code, not an abort.
    const code = await exited;
    rmSync(SPIN);
    expect(v.stderr).toContain('"statsError":"queue 1 did not answer within 2000 ms"');
    expect(v.stderr).toContain('vxtap stopped after a failure; devices removed');
    expect(hasLink('vxq1')).toBe(false);
    expect(code).toBe(1);
  });
});
