// An outer packet above the underlay MTU: vxtap sets DF and never fragments,
// so the socket refuses it, and the drop is counted under tx_too_big. The TAP
// is given MTU 1500 on a 1500-byte underlay (a misconfiguration: the overlay
// MTU should be 1450), so a full-size inner packet needs 1550 bytes outside.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { eventually, kernelVxlan, overlay, udpGsoTrain } from '../helpers/peers.js';

describe.each([{ offload: true }, { offload: false }])('tx_too_big: outer packets over the underlay MTU (offload: $offload)', ({ offload }) => {
  const lab = new Lab(`big${offload ? '' : 'nooff'}`);
  let a: Host, b: Host, va: Vxtap;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1), '--mtu', '1500',
      '--control', `/run/vxtap/${lab.id}-a.sock`, ...(offload ? [] : ['--no-offload']),
    ]);
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true });
    await a.ping(`${OVERLAY}.2`); // small packets fit, and resolve ARP
  });
  afterAll(() => lab.cleanup());

  /** Runs `send` and returns the drop counters that moved, by how much. */
  async function dropsDuring(send: () => Promise<unknown>, expected: number): Promise<Record<string, number>> {
    const before = (await va.stats()).drops;
    await send();
    const moved = async () => {
      const after = (await va.stats()).drops;
      return Object.fromEntries(Object.keys(after).filter((k) => after[k] !== before[k]).map((k) => [k, after[k] - before[k]]));
    };
    await eventually('the drops to be counted', async () => Object.values(await moved()).reduce((x, y) => x + y, 0) >= expected);
    return moved();
  }

  it('refuses a 1500-byte inner packet (1550 outside) with DF, counted once as tx_too_big', async () => {
    const drops = await dropsDuring(() => a.exec('sh', ['-c', `ping -M do -s 1472 -c 1 -W 1 ${OVERLAY}.2 || true`]), 1);
    expect(drops).toEqual({ tx_too_big: 1 });
  });

  it(offload
    ? 'refuses a UDP GSO train of such packets, one send, counted once as tx_too_big'
    : 'refuses each packet of a UDP GSO train, cut before the TAP, as tx_too_big', async () => {
    // 10 datagrams of 1472 bytes: 1500-byte inner packets. With offloads a's
    // TAP hands vxtap one super-frame, which leaves as one UDP GSO send
    // whose segments are over the MTU; without them, 10 frames, 10 sends.
    const drops = await dropsDuring(() => udpGsoTrain(a, b, `${OVERLAY}.2`, 9999, 10, 1472), offload ? 1 : 10);
    expect(drops).toEqual({ tx_too_big: offload ? 1 : 10 });
  });

  it('still carries packets that fit', async () => {
    await a.ping(`${OVERLAY}.2`);
    const got = await udpGsoTrain(a, b, `${OVERLAY}.2`, 9999, 10, 1000);
    expect(got.lens).toEqual(Array(10).fill(1000));
  });
});
