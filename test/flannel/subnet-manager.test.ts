// The subnet manager against both lease stores: a real etcd and the lease
// file. The same cases run on each; nothing is mocked.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { VxtapError } from '../../src/core/errors.js';
import { fitsConfig } from '../../src/flannel/config.js';
import { subnetKey, udpAttrs, vxlanAttrs, type Lease } from '../../src/flannel/lease.js';
import type { LeaseStore, WatchHandler } from '../../src/flannel/store.js';
import { parseSubnet, type Subnet } from '../../src/flannel/subnet.js';
import { SubnetManager, type SubnetManagerOptions } from '../../src/flannel/subnet-manager.js';
import { formatIpv4Addr } from '../../src/wire/ipaddr.js';
import { EtcdBackend, FileBackend, type Backend, type Cluster } from './backends.js';
import { attrsOf, describeEvent, escapeRe, heldBy, IP, mac, recorder, waitFor } from './helpers.js';

const CONFIG = '{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan"}}';
/**
 * Delegates to a real store but holds each watch back until release(), as a
 * watcher that fell behind would be; counts the compaction signals.
 */
class HeldBackStore implements LeaseStore {
  compactions = 0;
  private gate: Promise<void>;
  release!: () => void;

  constructor(private readonly inner: LeaseStore) {
    this.gate = new Promise((r) => (this.release = r));
  }

  get configKey(): string {
    return this.inner.configKey;
  }

  leaseKey(s: Subnet): string {
    return this.inner.leaseKey(s);
  }

  getConfig = (): Promise<string> => this.inner.getConfig();
  list = (): ReturnType<LeaseStore['list']> => this.inner.list();
  create: LeaseStore['create'] = (...a) => this.inner.create(...a);
  update: LeaseStore['update'] = (...a) => this.inner.update(...a);
  delete: LeaseStore['delete'] = (s) => this.inner.delete(s);
  close = (): Promise<void> => this.inner.close();

  watch(from: number, h: WatchHandler): () => void {
    let cancel: (() => void) | null = null;
    let canceled = false;
    void this.gate.then(() => {
      if (!canceled) cancel = this.inner.watch(from, { ...h, compacted: () => (this.compactions++, h.compacted()) });
    });
    return () => {
      canceled = true;
      cancel?.();
    };
  }
}

describe.each<Backend>([new EtcdBackend(), new FileBackend()])('subnet manager on $name', (backend) => {
  let cluster: Cluster;
  let managers: SubnetManager[] = [];

  beforeAll(() => backend.setup());
  afterAll(() => backend.teardown());
  beforeEach(async () => {
    cluster = backend.cluster();
    await cluster.putConfig(CONFIG);
  });
  afterEach(async () => {
    for (const m of managers) m.stop();
    managers = [];
    await cluster.close();
  });

  function node(n: number, o: Partial<SubnetManagerOptions> = {}): SubnetManager {
    const m = new SubnetManager({ store: cluster.store(), attrs: attrsOf(n), backoffMs: [50, 500], startupTimeoutMs: 3000, ...o });
    managers.push(m);
    return m;
  }

  async function acquired(n: number, o: Partial<SubnetManagerOptions> = {}): Promise<SubnetManager> {
    const m = node(n, o);
    await m.acquire(await m.getConfig());
    return m;
  }

  it('gives two nodes different subnets in range, and each sees only the other', async () => {
    const a = await acquired(1);
    const b = await acquired(2);
    const config = await a.getConfig();
    expect(subnetKey(a.lease!.subnet)).not.toBe(subnetKey(b.lease!.subnet));
    expect(fitsConfig(config, a.lease!.subnet) && fitsConfig(config, b.lease!.subnet)).toBe(true);
    const ra = recorder(a);
    const rb = recorder(b);
    a.start();
    b.start();
    await waitFor('each node to see the other', () => heldBy(a, IP(2)) && heldBy(b, IP(1)));
    expect(ra.lines).toEqual([`added ${IP(2)} ${mac(2)}`]);
    expect(rb.lines).toEqual([`added ${IP(1)} ${mac(1)}`]);
  });

  it('gives a restarted node with the same PublicIP its lease back, with its new attributes', async () => {
    const first = await acquired(1);
    first.stop();
    const again = await acquired(1, { attrs: attrsOf(1, 0x99) });
    expect(again.lease!.subnet).toEqual(first.lease!.subnet);
    const { leases } = await cluster.store().list();
    expect(leases).toHaveLength(1);
    expect(leases[0].attrs).toEqual(attrsOf(1, 0x99));
  });

  it('takes a reservation carrying our PublicIP, which then never expires', async () => {
    const reserved = parseSubnet('198.18.77.0/24');
    // flannel's reservations: a key with no TTL whose value names the PublicIP.
    expect(await cluster.store().create(reserved, udpAttrs(IP(1)), 0)).toBe(Infinity);
    const a = await acquired(1, { ttlSec: 2, renewMarginSec: 1 });
    expect(a.lease).toMatchObject({ subnet: reserved, reservation: true, expires: Infinity });
    a.start();
    await sleep(3000); // past the TTL the node would otherwise use
    const { leases } = await cluster.store().list();
    expect(leases).toEqual([{ subnet: reserved, attrs: attrsOf(1), reservation: true }]);
  });

  it('takes the previous subnet from subnet.env when it is free', async () => {
    const prev = parseSubnet('198.18.42.0/24');
    const a = await acquired(1, { previousSubnet: prev });
    expect(a.lease!.subnet).toEqual(prev);
  });

  it('on restart prefers the previous subnet to another lease with its PublicIP, and deletes that one', async () => {
    const prev = parseSubnet('198.18.42.0/24');
    const other = parseSubnet('198.18.9.0/24');
    const store = cluster.store();
    // Our lease from the last run, and a leftover with our PublicIP (an older run's).
    expect(await store.create(other, attrsOf(1), 600)).not.toBeNull();
    expect(await store.create(prev, attrsOf(1), 600)).not.toBeNull();
    const a = await acquired(1, { previousSubnet: prev, attrs: attrsOf(1, 0x99) });
    expect(a.lease!.subnet).toEqual(prev);
    const { leases } = await store.list();
    expect(leases.map((l) => [subnetKey(l.subnet), l.attrs])).toEqual([[subnetKey(prev), attrsOf(1, 0x99)]]);
  });

  it('on restart takes the previous subnet when it is free, though another lease has its PublicIP, and leaves no stale lease', async () => {
    const prev = parseSubnet('198.18.43.0/24');
    const store = cluster.store();
    expect(await store.create(parseSubnet('198.18.10.0/24'), attrsOf(1), 600)).not.toBeNull();
    const b = await acquired(2);
    const a = await acquired(1, { previousSubnet: prev });
    expect(a.lease!.subnet).toEqual(prev);
    const { leases } = await store.list();
    expect(leases.map((l) => `${subnetKey(l.subnet)} ${l.attrs.PublicIP}`).sort()).toEqual([`${subnetKey(b.lease!.subnet)} ${IP(2)}`, `198.18.43.0-24 ${IP(1)}`].sort());
  });

  it('on restart keeps its lease by PublicIP when another node holds the previous subnet, and keeps a reservation over subnet.env', async () => {
    const store = cluster.store();
    const b = await acquired(2);
    const mine = parseSubnet('198.18.11.0/24');
    expect(await store.create(mine, attrsOf(1), 600)).not.toBeNull();
    const a = await acquired(1, { previousSubnet: b.lease!.subnet });
    expect(a.lease!.subnet).toEqual(mine);
    a.stop();
    // An operator's reservation outranks subnet.env, and is never deleted.
    const reserved = parseSubnet('198.18.78.0/24');
    expect(await store.create(reserved, attrsOf(1), 0)).toBe(Infinity);
    const again = await acquired(1, { previousSubnet: mine });
    expect(again.lease).toMatchObject({ subnet: reserved, reservation: true });
    const { leases } = await store.list();
    expect(leases.map((l) => `${subnetKey(l.subnet)} ${l.attrs.PublicIP}`).sort()).toEqual([`${subnetKey(b.lease!.subnet)} ${IP(2)}`, `198.18.78.0-24 ${IP(1)}`].sort());
  });

  it('renews a short lease so that it outlives several TTLs, without events at the other nodes', async () => {
    const a = await acquired(1, { ttlSec: 3, renewMarginSec: 2 });
    const b = await acquired(2);
    const rb = recorder(b);
    let renewals = 0;
    a.on('renewed', () => renewals++);
    a.start();
    b.start();
    await sleep(10_000); // more than three TTLs
    // Not a rate: the lease is still held after 10 s, and a 3 s lease lives
    // that long only if it was renewed at least 10 / 3 = 3 times.
    expect(a.lease!.expires).toBeGreaterThan(Date.now());
    expect(renewals).toBeGreaterThanOrEqual(3);
    const { leases } = await cluster.store().list();
    expect(leases.find((l) => l.attrs.PublicIP === IP(1))).toMatchObject({ subnet: a.lease!.subnet, reservation: false });
    expect(rb.lines).toEqual([`added ${IP(1)} ${mac(1)}`]);
  }, 30_000);

  it('removes the lease of a node that stopped renewing once its TTL runs out', async () => {
    await acquired(1, { ttlSec: 2, renewMarginSec: 1 }); // never started: never renewed
    const b = await acquired(2);
    const rb = recorder(b);
    b.start();
    await waitFor('the expired lease to be removed', () => rb.lines.length === 2);
    expect(rb.lines).toEqual([`added ${IP(1)} ${mac(1)}`, `removed ${IP(1)} ${mac(1)}`]);
  });

  it('emits removed when another node\'s lease is deleted', async () => {
    const a = await acquired(1);
    const b = await acquired(2);
    const rb = recorder(b);
    b.start();
    await waitFor('b to see a', () => heldBy(b, IP(1)));
    await cluster.store().delete(a.lease!.subnet);
    await waitFor('b to drop a', () => !heldBy(b, IP(1)));
    expect(rb.lines).toEqual([`added ${IP(1)} ${mac(1)}`, `removed ${IP(1)} ${mac(1)}`]);
  });

  it('reports our own lease\'s deletion as revoked, one clear error, and stops', async () => {
    const a = await acquired(1);
    const revoked = new Promise<VxtapError>((resolve) => a.once('revoked', resolve));
    a.start();
    await sleep(300);
    await cluster.store().delete(a.lease!.subnet);
    const err = await revoked;
    expect(err.code).toBe('E_LEASE');
    expect(err.message).toBe(`lease ${cluster.store().leaseKey(a.lease!.subnet)} has been revoked (deleted from the store): shutting down; restart vxtap to take a lease again`);
  });

  it('refuses bad config JSON with one line naming where it is', async () => {
    const a = node(1);
    await cluster.putConfig('{"Network": "198.18.0.0/16",');
    const err = await a.getConfig().catch((e: VxtapError) => e);
    expect(err).toBeInstanceOf(VxtapError);
    expect((err as VxtapError).code).toBe('E_CONFIG');
    expect((err as VxtapError).message).toMatch(new RegExp(`^${escapeRe(cluster.store().configKey)}: not valid JSON \\(.+\\): store a JSON object such as \\{"Network"`));
    await cluster.putConfig('{"Network":"198.18.0.0/16","SubnetLen":31}');
    await expect(a.getConfig()).rejects.toThrow(`${cluster.store().configKey}: SubnetLen: 31 is too long: flannel needs at most 30`);
  });

  it('lists again after compaction and emits exactly the difference', async () => {
    const x = await acquired(3); // will be deleted while b is behind
    const y = await acquired(4); // will restart with a new VtepMAC
    const held = new HeldBackStore(cluster.store());
    const b = await acquired(2, { store: held });
    const rb = recorder(b);
    b.start();
    await waitFor('the first list', () => rb.lines.length === 2);
    await cluster.store().delete(x.lease!.subnet);
    await cluster.store().update(y.lease!.subnet, attrsOf(4, 0x44), 60);
    await acquired(5);
    await cluster.compact();
    held.release();
    await waitFor('b to catch up', () => heldBy(b, IP(5)));
    expect(held.compactions).toBe(1);
    expect(rb.batches).toHaveLength(2);
    expect(rb.batches[1].map(describeEvent).sort()).toEqual([
      `added ${IP(4)} ${mac(0x44)}`, `added ${IP(5)} ${mac(5)}`, `removed ${IP(3)} ${mac(3)}`, `removed ${IP(4)} ${mac(4)}`,
    ]);
    expect(b.remoteLeases().map((l) => describeEvent({ type: 'added', lease: l })).sort()).toEqual([`added ${IP(4)} ${mac(0x44)}`, `added ${IP(5)} ${mac(5)}`]);
  });

  it('lists and applies 1000 leases, and follows 1000 more through the watch', async () => {
    await cluster.putConfig('{"Network":"198.18.0.0/16","SubnetLen":27,"Backend":{"Type":"vxlan"}}');
    const writer = cluster.store();
    // Subnets from the top of the range down, PublicIPs in 198.19.0.0/16 (RFC 2544's benchmark range).
    const fake = (i: number): Promise<number | null> => writer.create(
      { addr: 0xc612ffe0 - i * 32, len: 27 },
      vxlanAttrs(formatIpv4Addr(0xc6130001 + i), { vni: 1, vtepMac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}` }),
      3600,
    );
    // 32 at a time: as many nodes starting at once as etcd takes in without timeouts here.
    const createAll = async (from: number): Promise<void> => {
      for (let i = from; i < from + 1000; i += 32) {
        const made = await Promise.all(Array.from({ length: Math.min(32, from + 1000 - i) }, (_, k) => fake(i + k)));
        expect(made).not.toContain(null);
      }
    };
    await createAll(0);

    // The bottom subnet, clear of the fake ones, which come from the top.
    const b = await acquired(2, { previousSubnet: parseSubnet('198.18.0.32/27') });
    const rb = recorder(b);
    b.start();
    await waitFor('1000 leases', () => b.remoteLeases().length === 1000, 30_000);
    expect(rb.batches[0]).toHaveLength(1000); // the list is one batch for the data path

    await createAll(1000);
    await waitFor('2000 leases', () => b.remoteLeases().length === 2000, 60_000);
    expect(new Set(b.remoteLeases().map((l: Lease) => l.attrs.PublicIP)).size).toBe(2000);
  }, 120_000);
});
