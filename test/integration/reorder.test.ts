// A TCP stream from a host behind vxtap (offloads on) arrives in order: the
// underlay is a veth, which reorders nothing, so the receiver queues no
// segment out of order (TcpExtTCPOFOQueue) and the sender detects no
// reordering (TcpExtTCPSACKReorder). Before the fix, a frame that followed a
// TSO super-frame in one batch from the TAP (or TUN) left before the
// super-frame's segments. Over VXLAN to a kernel VXLAN peer, and over the udp
// overlay to another vxtap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, transfer } from '../../src/lab/netns.js';
import { kernelVxlan, overlay, TRANSFER_BYTES } from '../helpers/peers.js';

/** Enough for a few reorderings before the fix (about one in 10 MB). */
const BYTES = 4 * TRANSFER_BYTES;

/** A counter of the host's namespace (nstat -a: since the namespace was made, not since the last read). */
function counter(h: Host, name: string): number {
  const j = JSON.parse(h.run('nstat', '-az', '--json', name)) as { kernel: Record<string, number> };
  return j.kernel[name] ?? 0;
}

/** Sends BYTES from a to b at dst; resolves to the reordering both ends counted. */
async function reordering(a: Host, b: Host, dst: string): Promise<{ intact: boolean; ofo: number; reorder: number }> {
  const ofo0 = counter(b, 'TcpExtTCPOFOQueue');
  const reorder0 = counter(a, 'TcpExtTCPSACKReorder');
  const { sent, received } = await transfer(a, b, dst, BYTES);
  return {
    intact: received.bytes === BYTES && received.sha256 === sent.sha256,
    ofo: counter(b, 'TcpExtTCPOFOQueue') - ofo0,
    reorder: counter(a, 'TcpExtTCPSACKReorder') - reorder0,
  };
}

describe('a TCP stream from vxtap vxlan (offloads on) to kernel vxlan', () => {
  const lab = new Lab('reord');
  let a: Host, b: Host;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500);
    await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1),
      '--control', `/run/vxtap/${lab.id}-a.sock`,
    ]);
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true });
    await a.ping(`${OVERLAY}.2`);
  });
  afterAll(() => lab.cleanup());

  it('arrives intact and in order: no out-of-order segment at the receiver, no reordering seen by the sender', async () => {
    expect(await reordering(a, b, `${OVERLAY}.2`)).toEqual({ intact: true, ofo: 0, reorder: 0 });
  });
});

describe('a TCP stream over the vxtap udp overlay (offloads on)', () => {
  const lab = new Lab('reordu');
  let a: Host, b: Host;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500);
    for (const [h, local, address, route] of [[a, ipA, '198.18.1.1/16', `198.18.2.0/24=${ipB}`], [b, ipB, '198.18.2.1/16', `198.18.1.0/24=${ipA}`]] as const) {
      await h.vxtap(['udp', '--dev', 'tun0', '--local', local, '--address', address, '--route', route, '--control', `/run/vxtap/${lab.id}-${h.name}.sock`]);
    }
    await a.ping('198.18.2.1');
  });
  afterAll(() => lab.cleanup());

  it('arrives intact and in order: no out-of-order segment at the receiver, no reordering seen by the sender', async () => {
    expect(await reordering(a, b, '198.18.2.1')).toEqual({ intact: true, ofo: 0, reorder: 0 });
  });
});
