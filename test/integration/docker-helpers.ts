// Docker hosts for the integration tests: a real dockerd (Debian's docker.io)
// in each lab host's network namespace, with no registry: the one image is
// made from busybox-static with `docker import`.
//
// Each dockerd has its own --data-root, --exec-root, pidfile and -H socket
// under a folder of its own, the vfs storage driver, no iptables, no bridge
// and no IP forwarding, and a cgroup parent of its own. It runs in a private
// mount namespace (unshare -m) entered with `nsenter --net` only: `ip netns
// exec` would remount /sys and lose the cgroup mounts runc needs. In that
// mount namespace a tmpfs covers /run, so that the folder plugins are found
// in, /run/docker/plugins, is this host's alone: it is a bind mount of the
// host's `pluginDir`, where the test starts `vxtap docker-plugin`.
//
// stop() removes everything, and so does the process's exit if a test did
// not get that far: the containers (killed through the cgroups, which hold
// every process of them), dockerd, its containerd and their shims (by pid:
// the processes whose command line names this host's folder), the cgroups
// and the folder.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Host } from '../../src/lab/netns.js';

export const DOCKERD = '/usr/sbin/dockerd';
/** The client of the same package (API 1.41); a newer one on the PATH may not speak to dockerd 20.10. */
export const DOCKER = '/usr/bin/docker';
export const BUSYBOX = '/bin/busybox';
export const IMAGE = 'vxtap-test:busybox';
const CGROUPS = '/sys/fs/cgroup';
/** What the tests run in containers: busybox applets. */
const APPLETS = ['sh', 'ping', 'nc', 'ip', 'sleep', 'sha256sum', 'head', 'cat', 'wc', 'cut', 'echo', 'true', 'ls', 'grep', 'mkfifo'];

const live = new Set<DockerHost>();
process.on('exit', () => {
  for (const d of live) d.removeSync();
});

/** Whether this machine can run the Docker tests: Debian's docker.io and busybox-static. */
export function dockerMissing(): string | null {
  for (const f of [DOCKERD, DOCKER, BUSYBOX]) if (!existsSync(f)) return `${f} is missing: apt-get install docker.io busybox-static`;
  return null;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class DockerHost {
  readonly pluginDir: string;
  readonly sock: string;
  private readonly cgroup: string;
  private dockerd: ChildProcess | null = null;
  log = '';

  /** `tag` names the folder /tmp/TAG and the cgroup parent: unique per lab host. */
  constructor(readonly host: Host, readonly dir: string, tag: string) {
    this.pluginDir = join(dir, 'plugins');
    this.sock = join(dir, 'docker.sock');
    this.cgroup = tag;
  }

  /** Starts dockerd and imports the busybox image; resolves once both are done. */
  async start(imageTar: string): Promise<void> {
    live.add(this);
    rmSync(this.dir, { recursive: true, force: true });
    for (const d of ['data', 'exec', 'plugins', 'cli']) mkdirSync(join(this.dir, d), { recursive: true });
    writeFileSync(join(this.dir, 'daemon.json'), '{}\n');
    const args = [
      '--config-file', join(this.dir, 'daemon.json'), '--data-root', join(this.dir, 'data'), '--exec-root', join(this.dir, 'exec'),
      '--pidfile', join(this.dir, 'docker.pid'), '-H', `unix://${this.sock}`, '--storage-driver', 'vfs', '--bridge', 'none',
      '--iptables=false', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false', '--cgroup-parent', `/${this.cgroup}`,
    ];
    const script = 'mount -t tmpfs -o mode=0755 tmpfs /run && mkdir -p /run/docker/plugins && mount --bind "$0" /run/docker/plugins && exec "$@"';
    this.dockerd = spawn('nsenter', [`--net=/run/netns/${this.host.ns}`, '--', 'unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', script, this.pluginDir, DOCKERD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    for (const s of [this.dockerd.stdout!, this.dockerd.stderr!]) s.on('data', (d: Buffer) => (this.log += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!(await this.ping())) {
      if (this.dockerd.exitCode !== null) throw new Error(`dockerd on ${this.host.name} exited ${this.dockerd.exitCode}: ${this.log.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`dockerd on ${this.host.name} not up after 30 s: ${this.log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.docker('import', imageTar, IMAGE);
  }

  private ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.sock, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
  }

  /**
   * Starts a command beside dockerd: in the host's network namespace and in
   * dockerd's private mount namespace, where /run/docker/plugins is this
   * host's and the containers' sandboxes (network namespaces bind-mounted
   * under the exec root) can be entered, as a plugin on a real host sees them.
   */
  spawnBeside(cmd: string, args: string[]): ChildProcess {
    if (this.dockerd?.pid === undefined || this.dockerd.exitCode !== null) throw new Error(`dockerd on ${this.host.name} is not running`);
    const p = spawn('nsenter', [`--mount=/proc/${this.dockerd.pid}/ns/mnt`, `--net=/run/netns/${this.host.ns}`, '--', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.host.children.push(p);
    return p;
  }

  /** Runs the docker client against this dockerd; resolves with its exit code and output. */
  async run(args: string[], timeoutMs = 60_000): Promise<Run> {
    const p = spawn(DOCKER, ['-H', `unix://${this.sock}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DOCKER_CONFIG: join(this.dir, 'cli') },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [code] = (await once(p, 'exit')) as [number | null];
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** The docker client's stdout; throws with its stderr if it fails. */
  async docker(...args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`${this.host.name}: docker ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** Runs a command in a running container; returns its stdout. */
  exec(container: string, ...cmd: string[]): Promise<string> {
    return this.docker('exec', container, ...cmd);
  }

  /** Starts a container of the busybox image on `network` that sleeps until removed; returns its name. */
  async container(name: string, network: string, ...opts: string[]): Promise<string> {
    await this.docker('run', '-d', '--name', name, '--network', network, ...opts, IMAGE, 'sleep', '3600');
    return name;
  }

  /** The container's address on `network`, as Docker's IPAM gave it. */
  async address(container: string, network: string): Promise<string> {
    return this.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container);
  }

  /** Removes the containers, stops dockerd and removes what it left: cgroups, processes, the folder. */
  async stop(): Promise<void> {
    if (this.dockerd !== null && this.dockerd.exitCode === null) {
      const ids = (await this.run(['ps', '-aq'], 20_000)).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await this.run(['rm', '-f', ...ids], 30_000);
      const exited = once(this.dockerd, 'exit');
      this.dockerd.kill('SIGTERM');
      const timer = setTimeout(() => this.dockerd?.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    this.removeSync();
  }

  /** Kills whatever of this host still runs and removes its cgroups and folder; safe to repeat. */
  removeSync(): void {
    if (this.dockerd !== null && this.dockerd.exitCode === null) this.dockerd.kill('SIGKILL');
    const pids = new Set<string>([...this.cgroupPids(), ...this.pidsNaming(this.dir)]);
    if (pids.size > 0) {
      try {
        execFileSync('kill', ['-9', ...pids], { stdio: 'ignore' });
      } catch {
        // some had exited already
      }
    }
    this.removeCgroups();
    rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }

  /** Every process in this host's cgroups (containers' and, by inheritance, nothing else). */
  private cgroupPids(): string[] {
    const pids: string[] = [];
    for (const h of hierarchies()) {
      for (const dir of cgroupTree(join(CGROUPS, h, this.cgroup))) {
        try {
          pids.push(...readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
        } catch {
          // gone meanwhile
        }
      }
    }
    return pids;
  }

  /** Processes whose command line holds `s`: this host's dockerd, containerd and shims. */
  private pidsNaming(s: string): string[] {
    const out: string[] = [];
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(s)) out.push(pid);
      } catch {
        // exited
      }
    }
    return out;
  }

  private removeCgroups(): void {
    for (const h of hierarchies()) {
      for (const dir of cgroupTree(join(CGROUPS, h, this.cgroup)).reverse()) {
        for (let i = 0; i < 50; i++) {
          try {
            rmdirSync(dir);
            break;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
            execFileSync('sleep', ['0.1']); // EBUSY: its last processes are still exiting
          }
        }
      }
    }
  }
}

/** The mounted cgroup hierarchies (v1 controllers and the unified one), as folder names under /sys/fs/cgroup. */
function hierarchies(): string[] {
  try {
    return readdirSync(CGROUPS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
}

/** A cgroup and its descendants, parents first. */
function cgroupTree(root: string): string[] {
  if (!existsSync(root)) return [];
  const out = [root];
  for (const d of readdirSync(root, { withFileTypes: true })) if (d.isDirectory()) out.push(...cgroupTree(join(root, d.name)));
  return out;
}

/** A tar of /bin/busybox and its applet links, for `docker import` (no registry). */
export function busyboxImage(dir: string): string {
  const root = join(dir, 'rootfs');
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  execFileSync('chmod', ['0755', join(root, 'bin', 'busybox')]);
  for (const a of APPLETS) symlinkSync('busybox', join(root, 'bin', a));
  const tar = join(dir, 'busybox.tar');
  execFileSync('tar', ['-C', root, '-cf', tar, '.']);
  return tar;
}
