// What vxtap does when its devices fail under it (issue 16): frames it cannot
// write to a TAP that was set down are drops with a reason, counted and shown
// at the capture drop point, not frames sent; a TAP deleted while vxtap runs
// is logged once, counted, listed as stopped, and the rest keeps running.
// vxtap runs on host a; host b sends it VXLAN datagrams (broadcast frames,
// which vxtap floods to its TAP).
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, type Vxtap } from '../../src/lab/netns.js';
import { ETHERTYPE_IPV4, IPPROTO_ICMP, echo, ethernet, ipv4, vxlan } from '../helpers/packets.js';
import { eventually, overlay, sendDatagrams } from '../helpers/peers.js';

const VNI = 42;
const PORT = 4789;

type Stats = { drops: Record<string, number>; ports: Record<string, { tx_packets: number }>; rx_stopped: string[] };

describe('device failures under a running vxtap', () => {
  const lab = new Lab('naterr');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-naterr-'));
  let a: Host, b: Host, va: Vxtap, ipA: string, control: string;
  const stats = () => va.stats() as unknown as Promise<Stats>;
  /** A broadcast frame from b's side of the overlay, in VXLAN: vxtap floods it to its TAP. */
  const flood = () => vxlan(VNI, ethernet('02:00:5e:00:00:99', 'ff:ff:ff:ff:ff:ff', ETHERTYPE_IPV4,
    ipv4('203.0.113.2', '203.0.113.255', IPPROTO_ICMP, echo(8, 1, 1))));

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipa, ipB] = lab.underlay([a, b]);
    ipA = ipa;
    control = `/run/vxtap/${lab.id}-a.sock`;
    va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', ipA, '--remote', ipB, '--address', overlay(1), '--control', control]);
  });
  afterAll(async () => {
    await va?.stop();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('issue 16.5: counts frames for a TAP that is down as dev_error, shows them at the drop point, and not as sent', async () => {
    a.run('ip', 'link', 'set', 'dev', 'vxt0', 'down');
    const file = join(dir, 'drop.pcapng');
    const cap = a.spawn(process.execPath, [CLI, 'capture', '--control', control, '--point', 'drop', '-w', file]);
    let capErr = '';
    cap.stderr!.on('data', (d: Buffer) => (capErr += d.toString()));
    await eventually('vxtap capture to attach', () => capErr.includes('capturing at'));
    const before = await stats();
    await sendDatagrams(b, ipA, PORT, [flood(), flood(), flood()]);
    const after = await eventually('vxtap to drop the three frames', async () => {
      const s = await stats();
      return (s.drops.dev_error ?? 0) - (before.drops.dev_error ?? 0) === 3 && s;
    });
    expect(after.ports.vxt0.tx_packets).toBe(before.ports.vxt0.tx_packets);
    expect(after.drops.dev_busy).toBe(before.drops.dev_busy);
    cap.kill('SIGINT');
    expect((await once(cap, 'exit'))[0], capErr).toBe(0);
    const comments = a.run('tshark', '-r', file, '-T', 'fields', '-e', 'frame.comment').trim().split('\n');
    expect(comments).toEqual(['dev_error', 'dev_error', 'dev_error']);
    a.run('ip', 'link', 'set', 'dev', 'vxt0', 'up');
  });

  it('issue 16.3: logs a deleted TAP once, counts it as rx_error, lists it as stopped, and keeps running', async () => {
    const before = await stats();
    a.run('ip', 'link', 'del', 'dev', 'vxt0');
    const after = await eventually('vxtap to list vxt0 as stopped', async () => {
      const s = await stats();
      return s.rx_stopped.includes('vxt0') && s;
    });
    expect(after.rx_stopped).toEqual(['vxt0']);
    expect(after.drops.rx_error - before.drops.rx_error).toBe(1);
    // The underlay side still receives, and still answers.
    await sendDatagrams(b, ipA, PORT, [flood()]);
    await eventually('vxtap to take a datagram after the TAP is gone', async () => (await stats()).drops.dev_error > after.drops.dev_error);
    expect(va.alive).toBe(true);
    const logged = va.stderr.split('\n').filter((l) => l.includes('stopped receiving'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0])).toMatchObject({ level: 50, dev: 'vxt0', code: 'EBADFD' });
  });
});
