// The lease file's own guarantees: several processes changing one file lose
// nothing and never both win a create; a lock left by a dead process is
// broken; a live one is waited for, then reported. (Its lease semantics are
// tested with etcd's in test/flannel/subnet-manager.test.ts.)
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore } from './file-store.js';
import { udpAttrs } from './lease.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Child processes cannot load TypeScript, so they run this module compiled
// by tsc (node_modules/.cache, so that its imports resolve).
const BUILD = join(ROOT, 'node_modules', '.cache', 'vxtap-flannel-test');
const CHILD = `
import { FileStore } from './src/flannel/file-store.js';
const [path, ip, first, count] = process.argv.slice(2);
const store = new FileStore(path);
let won = 0;
for (let i = Number(first); i < Number(first) + Number(count); i++) {
  if (await store.create({ addr: 0xc6120000 + i * 4, len: 30 }, { PublicIP: ip, PublicIPv6: null }, 60) !== null) won++;
}
console.log(won);
`;

const dir = mkdtempSync(join(tmpdir(), 'vxtap-filestore-'));

beforeAll(() => {
  rmSync(BUILD, { recursive: true, force: true });
  execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), [
    '--outDir', BUILD, '--rootDir', ROOT, '--module', 'nodenext', '--moduleResolution', 'nodenext',
    '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', join(ROOT, 'src', 'flannel', 'file-store.ts'),
  ], { cwd: ROOT, stdio: 'pipe' });
  writeFileSync(join(BUILD, 'package.json'), '{"type":"module"}\n');
  writeFileSync(join(BUILD, 'child.mjs'), CHILD);
}, 60_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(BUILD, { recursive: true, force: true });
});

/** Runs `count` creates from subnet index `first` in a new process; returns how many it won. */
async function child(path: string, ip: string, first: number, count: number): Promise<number> {
  const p = spawn(process.execPath, [join(BUILD, 'child.mjs'), path, ip, String(first), String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code] = (await once(p, 'exit')) as [number];
  if (code !== 0) throw new Error(`child exited ${code}: ${err}`);
  return Number(out);
}

/** Takes `<path>.lock` as this process, alive, would. */
function holdLock(path: string): void {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  writeFileSync(`${path}.lock`, `${process.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
}

describe('lease file shared by processes', () => {
  it('loses no change when four processes write at once', async () => {
    const path = join(dir, 'parallel.json');
    const won = await Promise.all([0, 1, 2, 3].map((k) => child(path, `198.51.100.${k + 1}`, k * 100, 100)));
    expect(won).toEqual([100, 100, 100, 100]);
    const { leases, revision } = await new FileStore(path).list();
    expect([leases.length, revision]).toEqual([400, 400]);
  });

  it('lets exactly one process create each key when all four try the same ones', async () => {
    const path = join(dir, 'contended.json');
    const won = await Promise.all([0, 1, 2, 3].map((k) => child(path, `198.51.100.${k + 1}`, 0, 50)));
    expect(won.reduce((a, b) => a + b)).toBe(50);
    const stored = JSON.parse(readFileSync(path, 'utf8')) as { history: unknown[] };
    expect(stored.history).toHaveLength(50);
  });

  it('breaks a lock left by a process that is gone', async () => {
    const path = join(dir, 'stale.json');
    const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
    writeFileSync(`${path}.lock`, `${dead.stdout.trim()} 12345\n`);
    expect(await new FileStore(path, { lockTimeoutMs: 2000 }).create({ addr: 0xc6120000, len: 30 }, udpAttrs('198.51.100.1'), 60)).toBeGreaterThan(Date.now());
  });

  it('waits for a live lock, then names its holder', async () => {
    const path = join(dir, 'held.json');
    holdLock(path);
    await expect(new FileStore(path, { lockTimeoutMs: 300 }).list()).rejects.toThrow(`${path}: locked by pid ${process.pid} for over 300 ms: if that process hangs, stop it`);
    rmSync(`${path}.lock`);
  });

  it('stops waiting for a live lock when closed (SIGTERM during the lease-file start-up)', { timeout: 20_000 }, async () => {
    const path = join(dir, 'held-then-closed.json');
    holdLock(path);
    // Without close() ending it, the wait would last an hour.
    const store = new FileStore(path, { lockTimeoutMs: 3_600_000 });
    const listed = store.list();
    await store.close();
    await expect(listed).rejects.toThrow(`${path}: closed while waiting for its lock`);
    rmSync(`${path}.lock`);
  });
});

describe('lease file contents', () => {
  it('takes a config written by hand as an object, and says where to put a missing one', async () => {
    const path = join(dir, 'seeded', 'leases.json');
    mkdirSync(dirname(path), { recursive: true });
    const store = new FileStore(path);
    await expect(store.getConfig()).rejects.toThrow(`lease file ${path} has no "config": add the network config, e.g. {"config":{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}}`);
    writeFileSync(path, '{"config": {"Network": "198.18.0.0/16", "Backend": {"Type": "vxlan"}}}\n');
    expect(JSON.parse(await store.getConfig())).toEqual({ Network: '198.18.0.0/16', Backend: { Type: 'vxlan' } });
    expect(await store.list()).toEqual({ leases: [], revision: 0 });
  });

  it('refuses a damaged file with one line saying how to recover', async () => {
    const path = join(dir, 'damaged.json');
    writeFileSync(path, '{"leases": ');
    await expect(new FileStore(path).list()).rejects.toThrow(new RegExp(`^lease file ${path} is not valid \\(.+\\): fix it, or remove it to start afresh \\(its leases are lost\\)$`));
  });
});

describe('watching the lease file', () => {
  const idle = { compacted: () => undefined, failed: (e: Error) => { throw e; } };
  const until = async (ok: () => boolean): Promise<void> => {
    while (!ok()) await new Promise((r) => setTimeout(r, 10));
  };

  // Issue 15's soak: every poll used to read and parse the whole file (its
  // history is up to 1000 changes, 134 kB), once a second per node, whether
  // or not anything had changed.
  it('does not read the file again while it is unchanged, and still sees the next change', async () => {
    const path = join(dir, 'idle-watch.json');
    const writer = new FileStore(path);
    await writer.create({ addr: 0xc6120000, len: 24 }, udpAttrs('198.51.100.1'), 60);
    const watcher = new FileStore(path, { pollMs: 10 });
    const batches: number[] = [];
    const cancel = watcher.watch(1, { ...idle, events: (b) => batches.push(b.length) });
    await until(() => batches.length >= 1);
    expect(batches[0]).toBe(1);
    const reads = watcher.reads;
    await until(() => batches.length >= 21); // 20 polls of an unchanged file
    expect(watcher.reads).toBe(reads);
    expect(batches.slice(1).every((n) => n === 0)).toBe(true);
    const before = batches.length;
    await writer.create({ addr: 0xc6120100, len: 24 }, udpAttrs('198.51.100.2'), 60);
    await until(() => batches.slice(before).includes(1));
    expect(watcher.reads).toBe(reads + 1);
    cancel();
  });

  it('still reads an unchanged file when a lease in it expires, and deletes the lease', async () => {
    const path = join(dir, 'expiring-watch.json');
    const writer = new FileStore(path);
    await writer.create({ addr: 0xc6120000, len: 24 }, udpAttrs('198.51.100.1'), 1);
    const watcher = new FileStore(path, { pollMs: 20 });
    const events: string[] = [];
    const cancel = watcher.watch(1, { ...idle, events: (b) => events.push(...b.map((e) => e.type)) });
    await until(() => events.includes('delete'));
    expect(events).toEqual(['put', 'delete']);
    expect(await writer.list()).toEqual({ leases: [], revision: 2 });
    cancel();
  });
});
