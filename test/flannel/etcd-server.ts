// A real etcd (Debian's etcd-server, /usr/bin/etcd) for tests: one member on
// loopback, on free client and peer ports, with its data in a temporary
// directory. Given a network namespace, it runs inside it (`ip netns exec`)
// on the address given, on etcd's own ports 2379 and 2380 (a namespace the
// test made has nothing else on them), and etcdctl runs there too.
// stop()/start() keep the data and ports, to test an etcd outage; destroy()
// kills it and removes the directory (also on process exit).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ETCD = '/usr/bin/etcd';
const live = new Set<EtcdServer>();
process.on('exit', () => {
  for (const s of live) s.destroySync();
});

async function freePort(host: string): Promise<number> {
  const srv = createServer();
  srv.listen(0, host);
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

export class EtcdServer {
  private proc: ChildProcess | null = null;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly host: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly netns?: string,
  ) {
    live.add(this);
  }

  get endpoint(): string {
    return `http://${this.host}:${this.clientPort}`;
  }

  /**
   * Starts a new etcd on `host` (loopback unless a test namespace's address
   * is given), inside network namespace `netns` if one is given.
   */
  static async create(host = '127.0.0.1', netns?: string): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-etcd-'));
    const s = netns === undefined
      ? new EtcdServer(dir, host, await freePort(host), await freePort(host))
      : new EtcdServer(dir, host, 2379, 2380, netns);
    try {
      await s.start();
    } catch (e) {
      s.destroySync();
      throw e;
    }
    return s;
  }

  async start(): Promise<void> {
    const peer = `http://${this.host}:${this.peerPort}`;
    this.log = '';
    const inNs = (cmd: string, args: string[]): [string, string[]] => (this.netns === undefined ? [cmd, args] : ['ip', ['netns', 'exec', this.netns, cmd, ...args]]);
    const p = spawn(...inNs(ETCD, [
      '--name', 'test',
      '--data-dir', join(this.dir, 'data'),
      '--listen-client-urls', this.endpoint, '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
      '--initial-cluster', `test=${peer}`,
      '--logger', 'zap', '--log-level', 'warn',
    ]), { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => (this.log += d.toString()));
    this.proc = p;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`etcd exited ${p.exitCode}: ${this.log.slice(-2000)}`);
      try {
        this.etcdctl('endpoint', 'health');
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`etcd not healthy after 15 s: ${(e as Error).message} ${this.log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p === null || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    await once(p, 'exit');
  }

  /** Runs etcdctl (v3 API) against this server; returns its stdout. */
  etcdctl(...args: string[]): string {
    const argv = ['--endpoints', this.endpoint, '--dial-timeout', '2s', ...args];
    const [cmd, cmdArgs] = this.netns === undefined ? ['etcdctl', argv] : ['ip', ['netns', 'exec', this.netns, 'etcdctl', ...argv]];
    return execFileSync(cmd, cmdArgs, {
      encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    this.destroySync();
  }

  destroySync(): void {
    this.proc?.kill('SIGKILL');
    this.proc = null;
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}
