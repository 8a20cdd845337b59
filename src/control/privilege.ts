// Least privilege. Each mode states the capabilities its set-up needs
// (creating devices, setting links and routes, binding sockets) and those the
// running instance keeps. Before set-up vxtap checks that it has the first;
// after set-up it keeps only the second:
//  - started as root with --user NAME, it switches every uid and gid to
//    NAME's (glibc applies setuid to every thread, and threads other than the
//    main one lose all capabilities with it), keeping the run set on the main
//    thread, ambient too, so that the `ip` it execs keeps them;
//  - started unprivileged with ambient capabilities (systemd's
//    AmbientCapabilities=, setpriv --ambient-caps), it needs no uid 0 and
//    lowers its main thread's sets to the run set.
// Either way no exec can add privileges afterwards (PR_SET_NO_NEW_PRIVS).
// Started as root without --user, vxtap stays root, as it always did.
//
// The sets below were measured by starting each mode with one capability
// less (setpriv --ambient-caps) and watching what fails: see README's
// "Privileges". The native addon only makes the syscalls.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { addon } from '../io/native.js';
import type { Config } from './config.js';
import { VxtapError } from '../core/errors.js';

/** The capabilities vxtap ever needs, by their numbers in linux/capability.h. */
export const CAPS = {
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
} as const;
export type CapName = keyof typeof CAPS;

/** A capability and what it is for, as the error for its absence says it. */
export interface Need {
  readonly cap: CapName;
  readonly why: string;
}

export interface Privileges {
  /** Needed to start: devices, links, routes, sockets. */
  readonly setup: readonly Need[];
  /** Kept while running; everything else is dropped once set-up is done. */
  readonly run: readonly Need[];
}

export interface User {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

const DEVICES: Need = { cap: 'CAP_NET_ADMIN', why: 'to create TAP/TUN devices and set their links and routes' };

/**
 * Ports below this need CAP_NET_BIND_SERVICE (per network namespace; 1024
 * unless the host changed it).
 */
export function unprivilegedPortStart(path = '/proc/sys/net/ipv4/ip_unprivileged_port_start'): number {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return 1024;
  }
}

function bindNeeds(ports: ReadonlyArray<readonly [string, number]>, start: number): Need[] {
  const low = ports.filter(([, p]) => p < start);
  if (low.length === 0) return [];
  return [{ cap: 'CAP_NET_BIND_SERVICE', why: `to bind ${low.map(([what, p]) => `${what} ${p}`).join(', ')} (below ${start})` }];
}

/**
 * `vxtap vxlan`, `udp` and `run`. Once its devices, links, routes and
 * sockets exist the data path only reads and writes descriptors, and closing
 * them removes the devices: it keeps no capability.
 */
export function dataplanePrivileges(c: Config, portStart = unprivilegedPortStart()): Privileges {
  const vxlan = c.networks.length > 0;
  const setup: Need[] = [DEVICES];
  if (vxlan && !c.offload) setup.push({ cap: 'CAP_NET_RAW', why: 'for the raw IPv4 socket VXLAN sends through without offloads' });
  const ports: Array<[string, number]> = [];
  if (vxlan) ports.push(['UDP port', c.dstport]);
  // With offloads VXLAN sends from a pool of sockets bound inside --srcport.
  if (vxlan && c.offload) ports.push(['source port', c.srcport[0]]);
  if (c.udp !== undefined) ports.push(['UDP port', c.udp.port]);
  const metricsPort = c.metrics === undefined ? 0 : Number(c.metrics.split(':')[1]);
  if (metricsPort > 0) ports.push(['--metrics TCP port', metricsPort]); // 0: any free port, no privilege
  setup.push(...bindNeeds(ports, portStart));
  return { setup, run: [] };
}

/**
 * `vxtap flannel`: the same set-up. The vxlan backend keeps CAP_NET_ADMIN,
 * because other nodes' neighbours and routes are programmed (by ip, which
 * inherits it through the ambient set) as their leases come and go; the udp
 * backend routes them in userspace and keeps nothing. The backend's port
 * comes from the network config, later: a privileged one fails at its bind.
 */
export function flannelPrivileges(backend: 'vxlan' | 'udp', healthzPort: number | null, portStart = unprivilegedPortStart()): Privileges {
  return {
    setup: [DEVICES, ...bindNeeds(healthzPort === null ? [] : [['--healthz-port', healthzPort]], portStart)],
    run: backend === 'vxlan' ? [{ cap: 'CAP_NET_ADMIN', why: "to program other nodes' neighbours and routes" }] : [],
  };
}

/** `field`'s user, by name or number, from the system's user database. */
export function lookupUser(name: string, field = '--user'): User {
  // Not an option to getent, and short enough to echo: useradd takes at most 32 bytes.
  if (!/^[^-:\s][^:\s]{0,63}$/.test(name)) {
    throw new VxtapError('E_USAGE', `${field}: ${JSON.stringify(name.slice(0, 64))} is not a user name or number: give one such as vxtap or 65534`);
  }
  let line = '';
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    // not found: reported below
  }
  const [user, , uid, gid] = line.trim().split(':');
  if (uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) {
    throw new VxtapError('E_USAGE', `${field}: no user '${name}' on this host: create it (useradd --system ${name}) or name an existing one`);
  }
  return { name: user, uid: Number(uid), gid: Number(gid) };
}

/**
 * Whether `user`, with its primary group alone (as after the switch), may
 * create and replace files in directory `dir`: write and search permission by
 * its mode bits (ACLs aside). A missing directory would be made by root: no.
 */
export function userCanWrite(dir: string, user: User): boolean {
  if (user.uid === 0) return true;
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) return false;
  const shift = user.uid === st.uid ? 6 : user.gid === st.gid ? 3 : 0;
  return ((st.mode >> shift) & 0o3) === 0o3;
}

const bit = (cap: CapName): number => 2 ** CAPS[cap];
const has = (set: number, cap: CapName): boolean => Math.floor(set / bit(cap)) % 2 === 1;
const maskOf = (needs: readonly Need[]): number => [...new Set(needs.map((n) => n.cap))].reduce((m, c) => m + bit(c), 0);
/** CAP_NET_ADMIN -> net_admin, as setpriv and capsh spell it. */
const lower = (cap: CapName): string => cap.slice(4).toLowerCase();

/** A user other than the one vxtap runs as, or undefined when there is nothing to switch. */
function switchTo(user: User | undefined): User | undefined {
  return user !== undefined && (user.uid !== process.getuid!() || user.gid !== process.getgid!()) ? user : undefined;
}

/**
 * Throws one line naming what is missing for set-up and how to grant it.
 * `mode` is the command (`vxtap vxlan`), `field` the flag or config field of
 * the user (`--user`).
 */
export function checkPrivileges(p: Privileges, user: User | undefined, mode: string, field = '--user'): void {
  const have = addon.capGet().effective;
  const target = switchTo(user);
  if (target !== undefined && !(has(have, 'CAP_SETUID') && has(have, 'CAP_SETGID'))) {
    throw new VxtapError('E_PERMISSION', `${field} ${target.name}: switching to another user needs CAP_SETUID and CAP_SETGID: start vxtap as root, or start it as ${target.name} with ambient capabilities and without ${field}`);
  }
  const missing = p.setup.filter((n) => !has(have, n.cap));
  if (missing.length === 0) return;
  const why = missing.map((n) => `${n.cap} ${n.why}`).join(', and ');
  const all = [...new Set(p.setup.map((n) => n.cap))];
  const plus = all.map((c) => `+${lower(c)}`).join(',');
  throw new VxtapError('E_PERMISSION', `${mode} needs ${why}: run it as root, or grant ${all.join(' ')} (systemd: AmbientCapabilities=${all.join(' ')}; setpriv --inh-caps ${plus} --ambient-caps ${plus})`);
}

/** What the instance runs with after dropPrivileges, for its `vxtap ready` line. */
export interface Dropped {
  readonly uid: number;
  readonly gid: number;
  readonly capabilities: readonly CapName[];
}

/**
 * After set-up: switches to `user` (when it is another) and keeps only the
 * run set, effective, permitted, inheritable and ambient. Root without a
 * user is left as it is (null).
 */
export function dropPrivileges(p: Privileges, user: User | undefined, field = '--user'): Dropped | null {
  const target = switchTo(user);
  if (target === undefined && process.geteuid!() === 0) return null;
  const keep = maskOf(p.run);
  try {
    if (target !== undefined) {
      addon.setKeepCaps(true);
      process.setgroups!([target.gid]); // no supplementary groups: none is needed
      process.setgid!(target.gid);
      process.setuid!(target.uid);
      addon.setKeepCaps(false);
    }
    addon.ambientClear();
    addon.capSet(keep, keep, keep);
    for (const cap of new Set(p.run.map((n) => n.cap))) addon.ambientRaise(CAPS[cap]);
    addon.setNoNewPrivs();
  } catch (e) {
    throw new VxtapError('E_PERMISSION', `${field}${target ? ` ${target.name}` : ''}: dropping privileges failed (${(e as Error).message}): run vxtap as root, or with the capabilities README's "Privileges" lists`);
  }
  return { uid: process.getuid!(), gid: process.getgid!(), capabilities: [...new Set(p.run.map((n) => n.cap))] };
}
