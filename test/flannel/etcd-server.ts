// A real etcd (Debian's etcd-server, /usr/bin/etcd) for tests: one member on
// loopback, on free client and peer ports, with its data in a temporary
// directory. Given a network namespace, it runs inside it (`ip netns exec`)
// on the address given, on etcd's own ports 2379 and 2380 (a namespace the
// test made has nothing else on them), and etcdctl runs there too.
// stop()/start() keep the data and ports, to test an etcd outage; destroy()
// kills it and removes the directory (also on process exit).
//
// With `tls` it serves https with --cert-file/--key-file, and with a CA
// there --trusted-ca-file and --client-cert-auth; etcdctl then uses the
// client certificate given. enableAuth() adds a user and turns auth on, as
// an operator does with etcdctl.
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

export interface EtcdTlsOptions {
  /** etcd's own certificate and key (--cert-file, --key-file). */
  readonly cert: string;
  readonly key: string;
  /** --trusted-ca-file with --client-cert-auth: clients need a certificate it signed. */
  readonly clientCa: string;
  /** What etcdctl trusts and presents. */
  readonly etcdctl: { readonly ca: string; readonly cert: string; readonly key: string };
}

export interface EtcdServerOptions {
  readonly tls?: EtcdTlsOptions;
}

export class EtcdServer {
  private proc: ChildProcess | null = null;
  private log = '';
  /** etcdctl's --user once auth is on. */
  private root: string | null = null;

  private constructor(
    readonly dir: string,
    readonly host: string,
    readonly clientPort: number,
    readonly peerPort: number,
    readonly netns: string | undefined,
    readonly tls: EtcdTlsOptions | undefined,
  ) {
    live.add(this);
  }

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://${this.host}:${this.clientPort}`;
  }

  /**
   * Starts a new etcd on `host` (loopback unless a test namespace's address
   * is given), inside network namespace `netns` if one is given.
   */
  static async create(host = '127.0.0.1', netns?: string, o: EtcdServerOptions = {}): Promise<EtcdServer> {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-etcd-'));
    const s = netns === undefined
      ? new EtcdServer(dir, host, await freePort(host), await freePort(host), undefined, o.tls)
      : new EtcdServer(dir, host, 2379, 2380, netns, o.tls);
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
      ...(this.tls ? ['--cert-file', this.tls.cert, '--key-file', this.tls.key, '--trusted-ca-file', this.tls.clientCa, '--client-cert-auth'] : []),
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
    const t = this.tls?.etcdctl;
    const argv = [
      '--endpoints', this.endpoint, '--dial-timeout', '2s',
      ...(t ? ['--cacert', t.ca, '--cert', t.cert, '--key', t.key] : []),
      ...(this.root === null ? [] : ['--user', this.root]),
      ...args,
    ];
    const [cmd, cmdArgs] = this.netns === undefined ? ['etcdctl', argv] : ['ip', ['netns', 'exec', this.netns, 'etcdctl', ...argv]];
    return execFileSync(cmd, cmdArgs, {
      encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /**
   * Turns etcd's auth on with `user` allowed to read and write every key
   * (and root, which etcd requires, for etcdctl).
   */
  enableAuth(user: string, password: string): void {
    const rootPw = `root-${password}`;
    this.etcdctl('user', 'add', `root:${rootPw}`);
    this.etcdctl('user', 'grant-role', 'root', 'root');
    this.etcdctl('user', 'add', `${user}:${password}`);
    this.etcdctl('role', 'add', user);
    this.etcdctl('role', 'grant-permission', user, '--prefix=true', 'readwrite', '/');
    this.etcdctl('user', 'grant-role', user, user);
    this.etcdctl('auth', 'enable');
    this.root = `root:${rootPw}`;
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
