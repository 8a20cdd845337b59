// FDB behaviour across three hosts on one underlay LAN. Host a runs from a
// JSON config (flood list b and c, a 2 s ageing time and one static entry);
// b and c run `vxtap vxlan` with a as their only remote.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { eventually, macOf, overlay } from '../helpers/peers.js';

const SPOOFED = '02:00:00:00:00:99';

describe('FDB across three hosts', () => {
  const lab = new Lab('fdb');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-fdb-'));
  let a: Host, b: Host, c: Host, va: Vxtap, vb: Vxtap, vc: Vxtap;
  let ipA: string, ipB: string, ipC: string, macA: string, macC: string;
  const rx = async (v: Vxtap) => (await v.stats()).vnis['42'].rx_packets;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB, ipC] = lab.underlay([a, b, c]);
    const config = join(dir, 'a.json');
    const control = `/run/vxtap/${lab.id}-a.sock`;
    writeFileSync(config, JSON.stringify({
      local: ipA,
      control,
      networks: [{
        vni: 42,
        remotes: [ipB, ipC],
        ageing: 2,
        static: [{ mac: SPOOFED, dst: ipC }],
        ports: [{ dev: 'vxt0', address: overlay(1) }],
      }],
    }));
    va = await a.vxtap(['run', '--config', config], control);
    const peer = (h: Host, local: string, n: number) => h.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', local, '--remote', ipA, '--address', overlay(n),
      '--control', `/run/vxtap/${lab.id}-${h.name}.sock`,
    ]);
    vb = await peer(b, ipB, 2);
    vc = await peer(c, ipC, 3);
    macA = macOf(a, 'vxt0');
    macC = macOf(c, 'vxt0');
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('floods unknown unicast to both remotes, then sends unicast once the MAC is learned', async () => {
    // Permanent neighbours: no ARP, so the first echo request is a frame to a
    // MAC that a has never seen.
    a.ip(`neigh replace ${OVERLAY}.3 lladdr ${macC} dev vxt0 nud permanent`);
    c.ip(`neigh replace ${OVERLAY}.1 lladdr ${macA} dev vxt0 nud permanent`);
    expect((await va.fdb()).some((r) => r.mac === macC)).toBe(false);
    const [b0, c0] = [await rx(vb), await rx(vc)];
    await a.ping(`${OVERLAY}.3`, 1);
    expect(await rx(vb) - b0, 'the unknown-unicast request reached b').toBe(1);
    expect(await rx(vc) - c0).toBeGreaterThanOrEqual(1);
    expect(await va.fdb()).toContainEqual(expect.objectContaining({ mac: macC, dst: ipC, static: false }));

    const [b1, c1] = [await rx(vb), await rx(vc)];
    await a.ping(`${OVERLAY}.3`, 5, 0.05);
    expect(await rx(vb) - b1, 'nothing more reaches b once c is learned').toBe(0);
    expect(await rx(vc) - c1).toBe(5);
  });

  it('floods broadcast to both remotes', async () => {
    const [b0, c0, f0] = [await rx(vb), await rx(vc), (await va.stats()).vnis['42'].flooded];
    // ARP for an address nobody has: broadcast requests, no reply.
    await a.exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.77 >/dev/null || true`]);
    expect(await rx(vb) - b0).toBeGreaterThanOrEqual(1);
    expect(await rx(vc) - c0).toBeGreaterThanOrEqual(1);
    expect((await va.stats()).vnis['42'].flooded - f0).toBeGreaterThanOrEqual(1);
  });

  it('expires learned entries after the ageing time and keeps static ones', async () => {
    await a.ping(`${OVERLAY}.3`, 1);
    expect((await va.fdb()).some((r) => r.mac === macC)).toBe(true);
    await eventually('c\'s MAC to age out of a\'s FDB', async () => !(await va.fdb()).some((r) => r.mac === macC), 6000);
    expect(await va.fdb()).toContainEqual(expect.objectContaining({ mac: SPOOFED, dst: ipC, static: true }));
  });

  it('does not move a static entry when another VTEP sends from that MAC', async () => {
    const refused0 = (await va.stats()).learning.refused_static;
    // b takes the static MAC and broadcasts (ARP for a) from it.
    b.ip(`link set dev vxt0 address ${SPOOFED}`);
    await b.exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.1 >/dev/null || true`]);
    await eventually('a to refuse learning the static MAC', async () => (await va.stats()).learning.refused_static > refused0);
    const row = (await va.fdb()).find((r) => r.mac === SPOOFED);
    expect(row).toEqual(expect.objectContaining({ dst: ipC, static: true }));
  });
});
