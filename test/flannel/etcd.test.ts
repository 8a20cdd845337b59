// What only etcd shows: the bytes and etcd leases flanneld's peers see, how
// renewal rebinds the key, an unreachable etcd, and an etcd outage.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VxtapError } from '../../src/core/errors.js';
import { EtcdStore } from '../../src/flannel/etcd-store.js';
import { encodeAttrs } from '../../src/flannel/lease.js';
import { SubnetManager, type SubnetManagerOptions } from '../../src/flannel/subnet-manager.js';
import { EtcdBackend, type Cluster } from './backends.js';
import { attrsOf, heldBy, IP, mac, recorder, waitFor } from './helpers.js';

const backend = new EtcdBackend();
let cluster: Cluster;
let managers: SubnetManager[] = [];

beforeAll(async () => {
  await backend.setup();
  cluster = backend.cluster();
  await cluster.putConfig('{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan","VNI":7}}');
});
afterAll(async () => {
  await cluster?.close();
  await backend.teardown();
});
afterEach(() => {
  for (const m of managers) m.stop();
  managers = [];
});

async function acquired(n: number, o: Partial<SubnetManagerOptions> = {}): Promise<SubnetManager> {
  const m = new SubnetManager({ store: cluster.store(), attrs: attrsOf(n), backoffMs: [50, 500], startupTimeoutMs: 30_000, ...o });
  managers.push(m);
  await m.acquire(await m.getConfig());
  return m;
}

/** The key's value and etcd lease, as etcdctl shows them. */
function inEtcd(m: SubnetManager): { key: string; value: string; lease: string } {
  const key = cluster.store().leaseKey(m.lease!.subnet);
  const out = backend.server.etcdctl('get', key, '-w', 'json');
  const value = (JSON.parse(out) as { kvs: Array<{ value: string }> }).kvs[0].value;
  // Lease IDs are 64-bit: read the digits, not a JSON number.
  const lease = /"lease":(\d+)/.exec(out)?.[1] ?? '0';
  return { key, value: Buffer.from(value, 'base64').toString(), lease: BigInt(lease).toString(16) };
}

/** [granted TTL, remaining TTL] in seconds; remaining is -1 once revoked or expired. */
function ttlOf(leaseHex: string): [number, number] {
  const out = backend.server.etcdctl('lease', 'timetolive', leaseHex);
  const m = /granted with TTL\((\d+)s\), remaining\((-?\d+)s\)/.exec(out);
  return m ? [Number(m[1]), Number(m[2])] : [0, -1];
}

describe('flannel leases in etcd', () => {
  it('are the key and bytes flanneld writes, on a 24 h etcd lease', async () => {
    const a = await acquired(1);
    const { key, value, lease } = inEtcd(a);
    expect(key).toMatch(/^\/vxtap-test-\d+\/network\/subnets\/198\.18\.\d+\.0-24$/);
    expect(value).toBe(`{"PublicIP":"${IP(1)}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac(1)}"}}`);
    expect(value).toBe(encodeAttrs(attrsOf(1)));
    const [granted, remaining] = ttlOf(lease);
    expect(granted).toBe(86_400);
    expect(remaining).toBeGreaterThan(86_390);
    await cluster.store().delete(a.lease!.subnet);
  });

  it('are renewed as flanneld renews them: a new etcd lease, the old one revoked', async () => {
    const a = await acquired(1, { ttlSec: 3, renewMarginSec: 2 });
    const before = inEtcd(a).lease;
    a.start();
    await new Promise((resolve) => a.once('renewed', resolve));
    const after = inEtcd(a);
    expect(after.lease).not.toBe(before);
    expect(ttlOf(after.lease)[0]).toBe(3);
    expect(ttlOf(before)[1]).toBe(-1);
    expect(after.value).toBe(encodeAttrs(attrsOf(1)));
    a.stop();
    await cluster.store().delete(a.lease!.subnet);
  });

  it('that cannot be reached give one line naming the endpoint and the flag', async () => {
    // Nothing listens on loopback port 1.
    const dead = new EtcdStore({ endpoints: ['http://127.0.0.1:1'], prefix: '/coreos.com/network', callTimeoutMs: 2000 });
    const m = new SubnetManager({ store: dead, attrs: attrsOf(1), backoffMs: [50, 200], startupTimeoutMs: 1000 });
    const err = await m.getConfig().catch((e: VxtapError) => e);
    await dead.close();
    expect((err as VxtapError).code).toBe('E_STORE');
    expect((err as VxtapError).message).toMatch(/^etcd http:\/\/127\.0\.0\.1:1: reading \/coreos\.com\/network\/config failed \(14 UNAVAILABLE: [^)]*\): check that etcd is running and that --etcd-endpoints points at it$/);
  });

  it('survive an etcd outage: the nodes keep what they know and catch up when etcd returns', async () => {
    const a = await acquired(1);
    const b = await acquired(2);
    const rb = recorder(b);
    a.start();
    b.start();
    await waitFor('b to see a', () => heldBy(b, IP(1)));

    await backend.server.stop();
    await waitFor('b to notice', () => !b.storeUp);
    await sleep(1000);
    expect(b.remoteLeases().map((l) => l.attrs.PublicIP)).toEqual([IP(1)]);

    await backend.server.start();
    await acquired(3); // a node that joins as soon as etcd is back
    await waitFor('b to see the new node', () => heldBy(b, IP(3)), 30_000);
    expect(b.storeUp).toBe(true);
    expect(rb.lines).toEqual([`added ${IP(1)} ${mac(1)}`, `added ${IP(3)} ${mac(3)}`]);
  }, 60_000);
});
