// Small helpers shared by the flannel tests.
import { setTimeout as sleep } from 'node:timers/promises';
import { vxlanAttrs, type LeaseAttrs } from '../../src/flannel/lease.js';
import type { LeaseEvent, SubnetManager } from '../../src/flannel/subnet-manager.js';

/** Node n's PublicIP, on the documentation underlay. */
export const IP = (n: number): string => `198.51.100.${n}`;
export const mac = (n: number): string => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
/** Node n's vxlan lease value; `macN` changes its VtepMAC, as a restart does. */
export const attrsOf = (n: number, macN = n): LeaseAttrs => vxlanAttrs(IP(n), { vni: 1, vtepMac: mac(macN) });

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** `added 198.51.100.2 02:00:00:00:00:02`. */
export function describeEvent(e: LeaseEvent): string {
  const d = e.lease.attrs.BackendData as { VtepMAC?: string } | undefined;
  return `${e.type} ${e.lease.attrs.PublicIP} ${d?.VtepMAC ?? '-'}`;
}

/** Records what a manager emits: each batch, and each event as a line. */
export function recorder(m: SubnetManager): { lines: string[]; batches: LeaseEvent[][] } {
  const r = { lines: [] as string[], batches: [] as LeaseEvent[][] };
  m.on('leases', (batch) => {
    r.batches.push(batch);
    for (const e of batch) r.lines.push(describeEvent(e));
  });
  return r;
}

export const heldBy = (m: SubnetManager, ip: string): boolean => m.remoteLeases().some((l) => l.attrs.PublicIP === ip);

export const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
