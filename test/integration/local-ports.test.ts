// Two local TAP ports on one VNI: vxtap switches between them itself, and
// frames from one port to the other never go on the wire. One vxtap (`vxtap
// run`, host s) has ports vxa0 and vxa1 on VNI 42 and a kernel VTEP (host k)
// on its flood list; each TAP is moved into a host of its own (h1, h2), as a
// container's interface would be, so the two ends are separate IP stacks.
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, OVERLAY6, transfer, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, checkOverlay6, kernelVxlan, macOf, overlay } from '../helpers/peers.js';

describe('two local ports of one VNI', () => {
  const lab = new Lab('ports');
  let s: Host, k: Host, h1: Host, h2: Host, v: Vxtap, ipS: string;

  beforeAll(async () => {
    [s, k, h1, h2] = [lab.host('s'), lab.host('k'), lab.host('h1'), lab.host('h2')];
    let ipK: string;
    [ipS, ipK] = lab.underlay([s, k]);
    const config = `/tmp/${lab.id}.json`;
    const control = `/run/vxtap/${lab.id}-s.sock`;
    writeFileSync(config, JSON.stringify({
      local: ipS, control,
      networks: [{ vni: 42, remotes: [ipK], ports: [{ dev: 'vxa0' }, { dev: 'vxa1' }] }],
    }));
    v = await s.vxtap(['run', '--config', config], control);
    kernelVxlan(k, { vni: 42, local: ipK, remotes: [ipS], address: overlay(3), learning: true });
    for (const [h, dev, n] of [[h1, 'vxa0', 1], [h2, 'vxa1', 2]] as const) {
      s.ip(`link set ${dev} netns ${h.ns}`);
      h.ip(`link set ${dev} mtu 1450`, `address add ${overlay(n)} dev ${dev}`, `link set ${dev} up`);
    }
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(`/tmp/${lab.id}.json`, { force: true });
  });

  it('resolves ARP, pings both ways and moves 50 MB each way intact over TCP between the ports', async () => {
    await checkOverlay({ host: h1, ip: `${OVERLAY}.1`, dev: 'vxa0' }, { host: h2, ip: `${OVERLAY}.2`, dev: 'vxa1' }, (x, y, what) => expect(x, what).toBe(y));
  });

  it('carries inner IPv6 between the ports too', async () => {
    await checkOverlay6({ host: h1, ip: `${OVERLAY6}1`, dev: 'vxa0' }, { host: h2, ip: `${OVERLAY6}2`, dev: 'vxa1' }, (x, y, what) => expect(x, what).toBe(y));
  });

  it('learns each MAC on its own port', async () => {
    const fdb = await v.fdb();
    expect(fdb).toContainEqual(expect.objectContaining({ vni: 42, mac: macOf(h1, 'vxa0'), dev: 'vxa0', static: false }));
    expect(fdb).toContainEqual(expect.objectContaining({ vni: 42, mac: macOf(h2, 'vxa1'), dev: 'vxa1', static: false }));
  });

  it('switches a port-to-port stream locally: not one packet of it goes on the wire', async () => {
    const before = await v.stats();
    const wireBefore = k.linkStats('ul0').rx_packets;
    const { sent, received } = await transfer(h1, h2, `${OVERLAY}.2`, 10_000_000);
    expect(received.sha256).toBe(sent.sha256);
    const after = await v.stats();
    expect(after.vnis['42'].tx_packets - before.vnis['42'].tx_packets, 'VXLAN packets sent').toBe(0);
    expect(k.linkStats('ul0').rx_packets - wireBefore, 'packets on the underlay').toBe(0);
    expect(after.ports.vxa1.tx_packets - before.ports.vxa1.tx_packets, 'frames written to vxa1').toBeGreaterThan(0);
    expect(after.ports.vxa0.tx_packets - before.ports.vxa0.tx_packets, 'frames written to vxa0 (ACKs)').toBeGreaterThan(0);
    expect(Object.entries(after.drops).filter(([, n]) => n > 0)).toEqual([]);
  });

  it('still reaches the remote VTEP from both ports', async () => {
    await h1.ping(`${OVERLAY}.3`);
    await h2.ping(`${OVERLAY}.3`);
  });
});
