// Two VNIs on the same two hosts, one TAP each: traffic on one VNI never
// comes out of the other's TAP, broadcasts included.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';

// VNI 42 on 203.0.113.0/25 (dev vxa), VNI 43 on 203.0.113.128/25 (dev vxb).
const NETS = [
  { vni: 42, dev: 'vxa', host: (n: number) => n },
  { vni: 43, dev: 'vxb', host: (n: number) => 128 + n },
] as const;

describe('VNI isolation', () => {
  const lab = new Lab('iso');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-iso-'));
  let hosts: Host[];
  let vtaps: Vxtap[];

  beforeAll(async () => {
    hosts = [lab.host('a'), lab.host('b')];
    const ips = lab.underlay(hosts);
    vtaps = await Promise.all(hosts.map((h, i) => {
      const control = `/run/vxtap/${lab.id}-${h.name}.sock`;
      const file = join(dir, `${h.name}.json`);
      writeFileSync(file, JSON.stringify({
        local: ips[i],
        control,
        networks: NETS.map((n) => ({
          vni: n.vni,
          remotes: [ips[1 - i]],
          ports: [{ dev: n.dev, address: `${OVERLAY}.${n.host(i + 1)}/25` }],
        })),
      }));
      return h.vxtap(['run', '--config', file], control);
    }));
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Per host, per VNI: frames vxtap wrote into the VNI's TAP and its wire rx count. */
  async function counts(): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < hosts.length; i++) {
      const s = await vtaps[i].stats();
      for (const n of NETS) out.push(hosts[i].linkStats(n.dev).rx_packets, s.vnis[n.vni].rx_packets);
    }
    return out;
  }

  it.each([0, 1])('keeps traffic on VNI %# inside it', async (k) => {
    const net = NETS[k];
    const other = NETS[1 - k];
    const before = await counts();
    await hosts[0].ping(`${OVERLAY}.${net.host(2)}`, 3, 0.05);
    await hosts[1].ping(`${OVERLAY}.${net.host(1)}`, 3, 0.05);
    // A broadcast on this VNI (ARP for an address nobody has).
    await hosts[0].exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.${net.host(77)} >/dev/null || true`]);
    // Stop the kernel's ARP retries so they do not spill into the next case.
    hosts[0].ip(`neigh flush to ${OVERLAY}.${net.host(77)}`);
    const after = await counts();
    for (let i = 0; i < hosts.length; i++) {
      const base = i * 4 + (k === 0 ? 0 : 2);
      const otherBase = i * 4 + (k === 0 ? 2 : 0);
      expect(after[base] - before[base], `${hosts[i].name} ${net.dev} got frames`).toBeGreaterThan(0);
      expect(after[otherBase] - before[otherBase], `${hosts[i].name} ${other.dev} frames`).toBe(0);
      expect(after[otherBase + 1] - before[otherBase + 1], `${hosts[i].name} VNI ${other.vni} wire rx`).toBe(0);
    }
  });

  it('keeps each VNI\'s MACs in its own FDB', async () => {
    const fdb = await vtaps[0].fdb();
    for (const n of NETS) {
      const mac = JSON.parse(hosts[1].run('ip', '-j', 'link', 'show', 'dev', n.dev))[0].address as string;
      expect(fdb.filter((r) => r.mac === mac).map((r) => r.vni)).toEqual([n.vni]);
    }
  });
});
