// Running vxtap unprivileged in the tests, and reading what it runs with.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lookupUser } from '../../src/control/privilege.js';

export const NOBODY = lookupUser('nobody');
/** A capability set as /proc/PID/status prints it: empty, and CAP_NET_ADMIN (bit 12) alone. */
export const NO_CAPS = '0000000000000000';
export const NET_ADMIN = '0000000000001000';

/**
 * /dev/net/tun as udev leaves it (0666, systemd's 50-udev-default.rules). This
 * machine's is 0600, as some containers have it: a node of the same device
 * with udev's mode is bound over it in a private mount namespace, so the
 * host's stays as it is.
 */
let tunNode: string | undefined;
function udevTun(): string {
  if (tunNode === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-tun-'));
    tunNode = join(dir, 'tun');
    execFileSync('mknod', ['-m', '0666', tunNode, 'c', '10', '200']);
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return tunNode;
}

/**
 * The command prefix that runs a program as `nobody` with exactly `caps`
 * (setpriv's names: net_admin, ...), ambient, as systemd's User= and
 * AmbientCapabilities= start it.
 */
export function asNobody(caps: string[]): string[] {
  const list = caps.map((c) => `+${c}`).join(',');
  return [
    'unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /dev/net/tun && exec "$@"', udevTun(),
    'setpriv', '--reuid', String(NOBODY.uid), '--regid', String(NOBODY.gid), '--clear-groups',
    ...(caps.length > 0 ? ['--inh-caps', list, '--ambient-caps', list] : []),
  ];
}

/** The fields of /proc/PID/status (or of one of its threads). */
export function status(path: string): Record<string, string> {
  return Object.fromEntries(readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1).trim()];
  }));
}

/** The status of each of the process's threads. */
export function threads(pid: number): Array<Record<string, string>> {
  return readdirSync(`/proc/${pid}/task`).map((t) => status(`/proc/${pid}/task/${t}/status`));
}

/** Real, effective, saved and filesystem ids, as the Uid: and Gid: lines give them. */
export const ids = (id: number) => [id, id, id, id].join('\t');
