// --ip-masq: flanneld's NAT rules for the pod network, the same rules in the
// same order (flannel v0.20.2, network/iptables.go: MasqRules), applied the
// way flanneld applies them:
//  - the chain FLANNEL-POSTRTG is created, and POSTROUTING jumps to it first;
//  - the whole set goes in with one `iptables-restore --noflush` (each rule
//    that exists already is deleted and added again, so the order holds and
//    other rules never land between ours);
//  - every 5 s (flanneld's --iptables-resync) the rules are checked with
//    `iptables -C`, and if any is missing the set is put back whole;
//  - at start, the rules of the previous Network and subnet in subnet.env are
//    deleted when those changed (flanneld's recycleIPTables, which does it
//    only when both changed and so leaves stale rules when one did).
//
// Where it departs from flanneld, on purpose:
//  - close() deletes the rules and the chain (once empty). flanneld v0.20.2
//    means to (a deferred teardown) but never does: the resync loop that
//    holds the defer never returns, so its rules outlive it.
//  - No iptables, or iptables refusing the rules, stops the node with one
//    line. flanneld logs the error and runs on without masquerading, which a
//    cluster notices only when pods cannot reach the outside.
//
// What the rules do, for Network N and our lease S:
//   traffic marked by kube-proxy (0x4000)  -> untouched (kube-proxy NATs it)
//   N -> N (pod to pod, across the overlay) -> untouched
//   N -> anything but multicast            -> MASQUERADE (the node's address)
//   not N -> S (to our pods from outside)  -> untouched
//   not N -> N (the host to other pods)    -> MASQUERADE
// `--random-fully` is added when iptables has it (1.6.2 or newer, as
// go-iptables' HasRandomFully decides).
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import { VxtapError } from '../core/errors.js';
import type { Privileges } from '../control/privilege.js';
import { formatSubnet, type Subnet } from './subnet.js';

export const MASQ_CHAIN = 'FLANNEL-POSTRTG';
/** kube-proxy's masquerade mark (flannel's kubeProxyMark). */
const KUBE_PROXY_MARK = '0x4000/0x4000';
const COMMENT = ['-m', 'comment', '--comment', 'flanneld masq'];
/** flanneld's --iptables-resync default, in seconds. */
const RESYNC_MS = 5000;

export interface IptablesRule {
  readonly table: 'nat';
  /** -I puts the jump first in POSTROUTING; -A keeps the chain's order. */
  readonly action: '-I' | '-A';
  readonly chain: string;
  readonly spec: readonly string[];
}

/** flannel's MasqRules for Network `network` and our lease `lease`, in its order. */
export function masqRules(network: Subnet, lease: Subnet, randomFully: boolean): IptablesRule[] {
  const n = formatSubnet(network);
  const sn = formatSubnet(lease);
  const masq = randomFully ? ['-j', 'MASQUERADE', '--random-fully'] : ['-j', 'MASQUERADE'];
  const own = (spec: string[]): IptablesRule => ({ table: 'nat', action: '-A', chain: MASQ_CHAIN, spec });
  return [
    // The jump comes first in POSTROUTING, before anything else on the node.
    { table: 'nat', action: '-I', chain: 'POSTROUTING', spec: [...COMMENT, '-j', MASQ_CHAIN] },
    // kube-proxy's marked traffic: NATing it twice breaks some kernels.
    own(['-m', 'mark', '--mark', KUBE_PROXY_MARK, ...COMMENT, '-j', 'RETURN']),
    // Within the overlay: sources are kept.
    own(['-s', n, '-d', n, ...COMMENT, '-j', 'RETURN']),
    // From pods to anywhere else, except multicast.
    own(['-s', n, '!', '-d', '224.0.0.0/4', ...COMMENT, ...masq]),
    // From outside to our pods (a node that routes to them): kept.
    own(['!', '-s', n, '-d', sn, ...COMMENT, '-j', 'RETURN']),
    // From the host to other nodes' pods.
    own(['!', '-s', n, '-d', n, ...COMMENT, ...masq]),
  ];
}

/**
 * What a node with --ip-masq keeps after set-up (--user): CAP_NET_ADMIN, for
 * the iptables it runs (which inherits it through the ambient set) to put
 * missing rules back and to delete them at exit. The udp backend would keep
 * nothing without it.
 */
export function withMasq(p: Privileges): Privileges {
  return { ...p, run: [...p.run, { cap: 'CAP_NET_ADMIN', why: 'to keep the --ip-masq rules and delete them at exit' }] };
}

/** go-iptables' HasRandomFully: `iptables --version` says 1.6.2 or newer. */
export function hasRandomFully(versionText: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (m === null) return false;
  const [a, b, c] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return a > 1 || (a === 1 && (b > 6 || (b === 6 && c >= 2)));
}

/** One rule as an iptables-restore line, the comment quoted as flanneld quotes it. */
export function restoreLine(action: string, r: IptablesRule): string {
  const words = [action, r.chain, ...r.spec].map((w, i, all) => (all[i - 1] === '--comment' ? `"${w}"` : w));
  return words.join(' ');
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(cmd: string, args: readonly string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    if (input !== undefined) {
      p.stdin!.on('error', () => undefined); // died early: reported by 'close'
      p.stdin!.end(input);
    }
  });
}

function iptablesError(what: string, e: unknown): VxtapError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new VxtapError('E_MISSING', `--ip-masq: ${what}: iptables is not installed: install it (apt-get install iptables) or drop --ip-masq`);
  return new VxtapError('E_PERMISSION', `--ip-masq: ${what}: ${(e as Error).message}: run as root (CAP_NET_ADMIN), or drop --ip-masq`);
}

/** flanneld's masquerade rules on this host, from start() until close(). */
export class MasqRules {
  private rules: IptablesRule[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Every iptables change runs after the one before: the resync never races close(). */
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Whether iptables has --random-fully; null until probed. */
  private randomFully: boolean | null = null;
  /** Times the resync found rules missing and put them back. */
  restored = 0;

  constructor(private readonly log: Logger) {}

  /**
   * Finds iptables and whether it has --random-fully; fails in one line if
   * it is missing. The node probes before it takes a lease, so that a host
   * without iptables changes nothing.
   */
  async probe(): Promise<boolean> {
    if (this.randomFully !== null) return this.randomFully;
    let r: Run;
    try {
      r = await run('iptables', ['--version']);
    } catch (e) {
      throw iptablesError('iptables --version', e);
    }
    this.randomFully = hasRandomFully(r.stdout);
    return this.randomFully;
  }

  /**
   * Installs the rules for `network` and our `lease`, after deleting those of
   * a previous Network and subnet (from subnet.env) that differ; then keeps
   * them in place. Fails in one line if iptables cannot do it.
   */
  async start(network: Subnet, lease: Subnet, previous: { network: Subnet; subnet: Subnet } | null): Promise<void> {
    const randomFully = await this.probe();
    this.rules = masqRules(network, lease, randomFully);
    const same = (a: Subnet, b: Subnet): boolean => a.addr === b.addr && a.len === b.len;
    if (previous !== null && !(same(previous.network, network) && same(previous.subnet, lease))) {
      this.log.info(`--ip-masq: the network or subnet changed since the last run (${formatSubnet(previous.network)}, ${formatSubnet(previous.subnet)}): deleting the old rules`);
      await this.teardown(masqRules(previous.network, previous.subnet, randomFully), false);
    }
    await this.bootstrap();
    this.log.info(`--ip-masq: ${this.rules.length} rules in nat ${MASQ_CHAIN} for ${formatSubnet(network)}${randomFully ? ' (--random-fully)' : ''}`);
    this.timer = setInterval(() => this.enqueue(() => this.resync()), RESYNC_MS);
    this.timer.unref();
  }

  /** Deletes our rules and the chain; the node is stopping. */
  close(): Promise<void> {
    if (this.closed) return this.queue;
    this.closed = true;
    clearInterval(this.timer);
    if (this.rules.length === 0) return this.queue;
    return this.enqueue(async () => {
      try {
        await this.teardown(this.rules, true);
        this.log.info(`--ip-masq: rules deleted from nat ${MASQ_CHAIN}`);
      } catch (e) {
        this.log.error(`--ip-masq: could not delete the rules: ${(e as Error).message}`);
      }
    });
  }

  private enqueue(fn: () => Promise<void>): Promise<void> {
    this.queue = this.queue.then(fn, fn);
    return this.queue;
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    try {
      if (await this.allPresent()) return;
      this.log.warn(`--ip-masq: some rules in nat ${MASQ_CHAIN} are missing: putting them all back`);
      await this.bootstrap();
      this.restored++;
    } catch (e) {
      this.log.error(`--ip-masq: checking the rules: ${(e as Error).message}`);
    }
  }

  private async iptables(args: string[]): Promise<Run> {
    try {
      return await run('iptables', ['-w', ...args]);
    } catch (e) {
      throw iptablesError(`iptables ${args.join(' ')}`, e);
    }
  }

  private async chainExists(): Promise<boolean> {
    return (await this.iptables(['-t', 'nat', '-S', MASQ_CHAIN])).code === 0;
  }

  private async exists(r: IptablesRule): Promise<boolean> {
    const res = await this.iptables(['-t', r.table, '-C', r.chain, ...r.spec]);
    // 1: no such rule (or chain); anything else is iptables failing.
    if (res.code !== 0 && res.code !== 1) throw iptablesError(`iptables -C ${r.chain}`, new Error(res.stderr.trim() || `exit ${res.code}`));
    return res.code === 0;
  }

  private async allPresent(): Promise<boolean> {
    if (!(await this.chainExists())) return false;
    for (const r of this.rules) if (!(await this.exists(r))) return false;
    return true;
  }

  private async restore(lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    const payload = `*nat\n${lines.join('\n')}\nCOMMIT\n`;
    let res: Run;
    try {
      res = await run('iptables-restore', ['--noflush', '--wait'], payload);
    } catch (e) {
      throw iptablesError('iptables-restore', e);
    }
    if (res.code !== 0) throw iptablesError('iptables-restore', new Error(res.stderr.trim().split('\n')[0] || `exit ${res.code}`));
  }

  /** flanneld's ipTablesBootstrap: the chain, then each rule deleted if present and added, in one transaction. */
  private async bootstrap(): Promise<void> {
    if (!(await this.chainExists())) {
      const res = await this.iptables(['-t', 'nat', '-N', MASQ_CHAIN]);
      if (res.code !== 0) throw iptablesError(`iptables -t nat -N ${MASQ_CHAIN}`, new Error(res.stderr.trim() || `exit ${res.code}`));
    }
    const lines: string[] = [];
    for (const r of this.rules) {
      if (await this.exists(r)) lines.push(restoreLine('-D', r));
      lines.push(restoreLine(r.action, r));
    }
    await this.restore(lines);
  }

  /** Deletes those of `rules` that exist; with `dropChain`, the chain too once nothing else is in it. */
  private async teardown(rules: readonly IptablesRule[], dropChain: boolean): Promise<void> {
    if (!(await this.chainExists())) return;
    const lines: string[] = [];
    for (const r of rules) if (await this.exists(r)) lines.push(restoreLine('-D', r));
    await this.restore(lines);
    if (!dropChain) return;
    const left = (await this.iptables(['-t', 'nat', '-S', MASQ_CHAIN])).stdout.trim().split('\n').filter((l) => l.startsWith('-A '));
    if (left.length === 0) await this.iptables(['-t', 'nat', '-X', MASQ_CHAIN]);
    else this.log.warn(`--ip-masq: nat ${MASQ_CHAIN} holds ${left.length} rules that are not vxtap's: keeping the chain`);
  }
}
