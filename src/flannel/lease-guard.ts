// Lease hygiene: which of the other nodes' leases the data path may program.
// The store is shared by every node of the cluster, and anyone who can write
// to it can publish a lease; flanneld programs whatever it reads. A lease is
// passed on only if:
//   - its PublicIP is a unicast address (not 0/8, loopback, multicast or
//     class E) and is not ours;
//   - its subnet lies inside the Network and overlaps neither our lease nor
//     a lease already passed on, and it has the configured SubnetLen;
//   - for a vxlan node and a vxlan lease, its VtepMAC is a unicast MAC other
//     than ours and other than one a lease already passed on publishes.
// Without these checks a lease for the underlay's own range (e.g.
// 198.51.100.0/24) replaces the connected route and cuts the node off; a /30
// inside a node's /24, or a copy of its VtepMAC, shares that node's
// neighbour or FDB entry, and deleting it takes the good node's along.
//
// A refused lease is logged once (when it appears or changes), counted in
// vxtap_flannel_leases_refused_total{reason}, listed by conflicts() for
// /readyz, and never reaches the data path: deleting it touches nothing.
// The first of two conflicting leases wins; when an accepted lease goes away,
// the refused ones are checked again (in key order), so the good one of a
// pair is programmed as soon as the other is gone.
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, MAC_ZERO, parseMac } from '../wire/mac.js';
import { subnetKey, vxlanData, type Lease } from './lease.js';
import type { LeaseEvent } from './subnet-manager.js';
import { contains, formatSubnet, overlaps, type Subnet } from './subnet.js';

/** Why a lease was refused: the label of vxtap_flannel_leases_refused_total. */
export type RefusalReason =
  | 'bad_public_ip'
  | 'own_public_ip'
  | 'outside_network'
  | 'overlap'
  | 'subnet_len'
  | 'bad_vtep_mac'
  | 'own_vtep_mac'
  | 'duplicate_vtep_mac';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'bad_public_ip', 'own_public_ip', 'outside_network', 'overlap', 'subnet_len', 'bad_vtep_mac', 'own_vtep_mac', 'duplicate_vtep_mac',
];

export interface LeaseGuardOptions {
  readonly network: Subnet;
  readonly subnetLen: number;
  /** Our lease. */
  readonly own: Subnet;
  readonly publicIp: string;
  /** Our VtepMAC; null on a udp node, which does not check VtepMACs. */
  readonly vtepMac: number | null;
  readonly log: Logger;
  /** Where the refusal metrics are registered. */
  readonly registry: Registry;
}

export interface Refusal {
  readonly key: string;
  readonly publicIp: string;
  readonly reason: RefusalReason;
  readonly why: string;
}

type Verdict = { readonly ok: true; readonly mac: number | null } | { readonly ok: false; readonly reason: RefusalReason; readonly why: string };

/** Whether an IPv4 address (uint32) can be another node's underlay address. */
function isUnicast(a: number): boolean {
  const first = a >>> 24;
  return first !== 0 && first !== 127 && first < 224;
}

export class LeaseGuard {
  /** Leases passed on, by key, with the VtepMAC they hold (null: not checked). */
  private readonly accepted = new Map<string, { lease: Lease; mac: number | null }>();
  private readonly refused = new Map<string, { lease: Lease; refusal: Refusal }>();
  private readonly counts = new Map<RefusalReason, number>(REFUSAL_REASONS.map((r) => [r, 0]));
  private readonly publicIp: number;

  constructor(private readonly o: LeaseGuardOptions) {
    this.publicIp = parseIpv4Addr(o.publicIp);
    const counts = this.counts;
    const refused = this.refused;
    new Counter({
      name: 'vxtap_flannel_leases_refused_total',
      help: 'Other nodes\' leases refused (not programmed), per reason; a lease that changes is counted again.',
      labelNames: ['reason'],
      registers: [o.registry],
      collect() {
        this.reset();
        for (const [reason, n] of counts) this.inc({ reason }, n);
      },
    });
    new Gauge({
      name: 'vxtap_flannel_leases_refused',
      help: 'Leases in the store that are refused now.',
      registers: [o.registry],
      collect() {
        this.set(refused.size);
      },
    });
  }

  /** The refused leases still in the store. */
  refusals(): Refusal[] {
    return [...this.refused.values()].map((r) => r.refusal);
  }

  /** What /readyz says about refused leases: empty when there are none. */
  conflicts(): string[] {
    if (this.refused.size === 0) return [];
    const shown = this.refusals().slice(0, 5).map((r) => `${r.key} (${r.reason})`).join(' ');
    return [`lease conflicts: ${shown}${this.refused.size > 5 ? ` and ${this.refused.size - 5} more` : ''}`];
  }

  /** The events the data path may apply: refused leases left out, promoted ones added. */
  filter(batch: readonly LeaseEvent[]): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    let freed = false;
    for (const ev of batch) {
      const key = subnetKey(ev.lease.subnet);
      if (ev.type === 'removed') {
        if (this.accepted.delete(key)) {
          out.push(ev);
          freed = true;
        } else if (this.refused.delete(key)) {
          this.o.log.info(`refused lease ${key} of ${ev.lease.attrs.PublicIP} is gone`);
        }
        continue;
      }
      const v = this.check(ev.lease);
      if (v.ok) {
        this.accepted.set(key, { lease: ev.lease, mac: v.mac });
        out.push(ev);
        continue;
      }
      const refusal: Refusal = { key, publicIp: ev.lease.attrs.PublicIP, reason: v.reason, why: v.why };
      this.refused.set(key, { lease: ev.lease, refusal });
      this.counts.set(v.reason, this.counts.get(v.reason)! + 1);
      this.o.log.warn({ lease: key, publicIp: refusal.publicIp, reason: v.reason }, `refusing lease ${key} of ${refusal.publicIp}: ${v.why}; it is not programmed`);
    }
    if (freed) this.reconsider(out);
    return out;
  }

  /** Refused leases that pass now that an accepted one is gone. */
  private reconsider(out: LeaseEvent[]): void {
    for (const key of [...this.refused.keys()].sort()) {
      const { lease, refusal } = this.refused.get(key)!;
      const v = this.check(lease);
      if (!v.ok) {
        // Still refused, maybe now for another reason: /readyz and stats say the current one.
        if (v.reason !== refusal.reason) {
          this.refused.set(key, { lease, refusal: { ...refusal, reason: v.reason, why: v.why } });
          this.o.log.info({ lease: key, reason: v.reason }, `lease ${key} of ${refusal.publicIp} is still refused: ${v.why}`);
        }
        continue;
      }
      this.refused.delete(key);
      this.accepted.set(key, { lease, mac: v.mac });
      this.o.log.info(`lease ${key} of ${lease.attrs.PublicIP} no longer conflicts: programming it`);
      out.push({ type: 'added', lease });
    }
  }

  private check(l: Lease): Verdict {
    const o = this.o;
    const s = l.subnet;
    const name = formatSubnet(s);
    let ip: number;
    try {
      ip = parseIpv4Addr(l.attrs.PublicIP);
    } catch {
      return { ok: false, reason: 'bad_public_ip', why: `PublicIP ${JSON.stringify(l.attrs.PublicIP)} is not an IPv4 address` };
    }
    if (!isUnicast(ip)) return { ok: false, reason: 'bad_public_ip', why: `PublicIP ${formatIpv4Addr(ip)} is not a unicast host address` };
    if (ip === this.publicIp) return { ok: false, reason: 'own_public_ip', why: `PublicIP ${o.publicIp} is ours` };
    if (s.len < o.network.len || !contains(o.network, s.addr)) {
      return { ok: false, reason: 'outside_network', why: `${name} is not inside the Network ${formatSubnet(o.network)}` };
    }
    if (overlaps(s, o.own)) return { ok: false, reason: 'overlap', why: `${name} overlaps our lease ${formatSubnet(o.own)}` };
    for (const [key, a] of this.accepted) {
      if (key !== subnetKey(s) && overlaps(s, a.lease.subnet)) {
        return { ok: false, reason: 'overlap', why: `${name} overlaps ${formatSubnet(a.lease.subnet)} of ${a.lease.attrs.PublicIP}` };
      }
    }
    if (s.len !== o.subnetLen) return { ok: false, reason: 'subnet_len', why: `${name} is not a /${o.subnetLen} (the config's SubnetLen)` };
    if (o.vtepMac === null || l.attrs.BackendType !== 'vxlan') return { ok: true, mac: null };
    let mac: number;
    try {
      mac = parseMac(vxlanData(l.attrs).vtepMac);
    } catch (e) {
      return { ok: false, reason: 'bad_vtep_mac', why: (e as Error).message };
    }
    // The I/G bit: a group address cannot be one VTEP.
    if (mac === MAC_ZERO || Math.floor(mac / 2 ** 40) % 2 === 1) return { ok: false, reason: 'bad_vtep_mac', why: `VtepMAC ${formatMac(mac)} is not a unicast MAC` };
    if (mac === o.vtepMac) return { ok: false, reason: 'own_vtep_mac', why: `VtepMAC ${formatMac(mac)} is ours` };
    for (const [key, a] of this.accepted) {
      if (a.mac === mac && key !== subnetKey(s)) {
        return { ok: false, reason: 'duplicate_vtep_mac', why: `VtepMAC ${formatMac(mac)} is already published by ${formatSubnet(a.lease.subnet)} of ${a.lease.attrs.PublicIP}` };
      }
    }
    return { ok: true, mac };
  }
}
