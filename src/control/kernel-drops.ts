// The kernel's drops on this process's UDP sockets: datagrams that arrived
// while a socket's receive buffer was full (the drops column of
// /proc/net/udp, the same count SO_RXQ_OVFL reports). vxtap never sees these
// datagrams, so its own counters cannot show them.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The socket inodes this process holds (/proc/self/fd links `socket:[INODE]`). */
function socketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // closed meanwhile (the directory's own fd)
    }
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) inodes.add(m[1]);
  }
  return inodes;
}

/**
 * Sums the drops column of `table` (/proc/net/udp's text) over the rows whose
 * inode is in `inodes`. Columns: sl local rem st tx:rx tr:when retrnsmt uid
 * timeout inode ref pointer drops.
 */
export function udpDrops(table: string, inodes: ReadonlySet<string>): number {
  let sum = 0;
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 13 && inodes.has(f[9])) sum += Number(f[12]) || 0;
  }
  return sum;
}

/** The kernel's drops over all of this process's UDP sockets, in its network namespace. */
export function kernelDrops(): number {
  return udpDrops(readFileSync('/proc/net/udp', 'utf8'), socketInodes());
}
