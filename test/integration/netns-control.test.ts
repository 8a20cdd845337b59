// Device names are per network namespace, and so is the default control
// socket: two instances with the same --dev in two namespaces both start,
// and the client commands run in each namespace, with --dev and no
// --control, reach the instance beside them.
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';

const DEV = 'vxn0';
const VNIS = [42, 43];

describe('a default control socket per network namespace', () => {
  const lab = new Lab('nsctl');
  let hosts: Host[];
  let ips: string[];
  let vtaps: Vxtap[];

  beforeAll(async () => {
    hosts = [lab.host('a'), lab.host('b')];
    ips = lab.underlay(hosts);
    vtaps = [];
    // One after the other, so the second sees the first's socket if the paths collided.
    for (const [i, h] of hosts.entries()) {
      vtaps.push(await h.vxtap(['vxlan', '--dev', DEV, '--vni', String(VNIS[i]), '--local', ips[i], '--remote', ips[1 - i], '--address', `${OVERLAY}.${i + 1}/24`]));
    }
  });
  afterAll(() => lab.cleanup());

  it('puts each socket under its namespace name', () => {
    for (const [i, h] of hosts.entries()) {
      expect(vtaps[i].control).toBe(`/run/vxtap/${h.ns}/${DEV}.sock`);
      expect(existsSync(vtaps[i].control)).toBe(true);
    }
    expect(vtaps.every((v) => v.alive)).toBe(true);
  });

  it('vxtap stats --dev reaches the instance of its own namespace', async () => {
    for (const [i, h] of hosts.entries()) {
      const s = JSON.parse(await h.exec(process.execPath, [CLI, 'stats', '--dev', DEV])) as { vnis: Record<string, unknown>; ports: Record<string, { vni: number }> };
      expect(Object.keys(s.vnis)).toEqual([String(VNIS[i])]);
      expect(s.ports[DEV].vni).toBe(VNIS[i]);
    }
  });

  it('vxtap fdb show --dev reaches it too: the flood entry points at the other host', async () => {
    for (const [i, h] of hosts.entries()) {
      const rows = JSON.parse(await h.exec(process.execPath, [CLI, 'fdb', 'show', '--dev', DEV, '--json'])) as Array<{ mac: string; dst?: string; vni: number }>;
      expect(rows).toContainEqual(expect.objectContaining({ mac: '00:00:00:00:00:00', dst: ips[1 - i], vni: VNIS[i] }));
      expect(rows.some((r) => r.dst === ips[i] || r.vni !== VNIS[i])).toBe(false);
    }
  });

  it('vxtap capture --dev attaches to the instance of its own namespace', async () => {
    // a floods its ARP for b on VNI 42; b's instance, on VNI 43, receives it
    // from the wire and drops it. A one-packet capture in b ends with it.
    let done = false;
    const cap = hosts[1].exec(process.execPath, [CLI, 'capture', '--dev', DEV, '--point', 'wire-rx', '-c', '1']).finally(() => (done = true));
    // Until the capture has attached and seen one, keep a asking.
    while (!done) await hosts[0].exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.2 || true`]);
    expect(await cap).toMatch(new RegExp(`${ips[0].replace(/\./g, '\\.')}.*vni ${VNIS[0]}`));
  });
});
