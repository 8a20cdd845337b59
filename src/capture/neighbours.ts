// Outer MAC addresses for the frames a capture synthesizes at wire-rx and
// wire-tx. vxtap never sees the outer Ethernet header: it receives UDP payloads
// and sends IPv4 packets through a raw socket, and the kernel adds the link
// layer. So the capture borrows the kernel's view, off the data path: the MAC
// of the interface that holds the local address and the neighbour table's
// entry for each peer, read with `ip` when a capture attaches and every few
// seconds while one is attached. A peer with no entry (not yet resolved, or
// reached through a router, whose MAC the table keys under the router's
// address) gets 00:00:00:00:00:00.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { parseMac } from '../wire/mac.js';

const run = promisify(execFile);

/** What the capture needs: the MAC of an IPv4 address (uint32), local or a peer's; 0 if unknown. */
export interface MacSource {
  macOf(ip: number): number;
  refresh(): Promise<void>;
}

export class NeighbourTable implements MacSource {
  private localMac = 0;
  private macs = new Map<number, number>();

  constructor(private readonly local: number) {}

  macOf(ip: number): number {
    return ip === this.local ? this.localMac : (this.macs.get(ip) ?? 0);
  }

  /** Rereads the link and neighbour tables; on failure keeps what it had (a capture is no reason to fail). */
  async refresh(): Promise<void> {
    try {
      const links = JSON.parse((await run('ip', ['-j', 'addr', 'show'])).stdout) as Array<{
        ifname: string; address?: string; addr_info?: Array<{ local?: string }>;
      }>;
      const local = formatIpv4Addr(this.local);
      const link = links.find((l) => l.addr_info?.some((a) => a.local === local));
      if (link === undefined) return;
      this.localMac = link.address === undefined ? 0 : parseMac(link.address);
      const neigh = JSON.parse((await run('ip', ['-j', '-4', 'neigh', 'show', 'dev', link.ifname])).stdout) as Array<{
        dst: string; lladdr?: string;
      }>;
      const macs = new Map<number, number>();
      for (const n of neigh) if (n.lladdr !== undefined) macs.set(parseIpv4Addr(n.dst), parseMac(n.lladdr));
      this.macs = macs;
    } catch {
      // `ip` missing or its output unexpected: outer MACs stay as they were (zeros at first).
    }
  }
}
