// What vxtap puts on the wire, as an independent decoder sees it: tshark
// captures vxtap's outer packets on the underlay and must decode them as
// VXLAN with the right outer headers, VNI and inner frame.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY } from '../../src/lab/netns.js';
import { eventually, kernelVxlan, macOf, overlay } from '../helpers/peers.js';

const VNI = 4242;
const SRCPORT: [number, number] = [50000, 50100];
const PINGS = 3;

/** Fields tshark prints per packet; with `-E occurrence=a` each holds every occurrence, outer first. */
const FIELDS = [
  'ip.src', 'ip.dst', 'ip.flags.df', 'ip.ttl', 'udp.srcport', 'udp.dstport', 'udp.checksum', 'udp.checksum.status',
  'vxlan.flags', 'vxlan.vni', 'eth.src', 'eth.dst', 'icmp.type',
] as const;
type Decoded = Record<(typeof FIELDS)[number], string[]>;

describe.each([
  // tshark decodes UDP port 4789 as VXLAN by itself ... Without offloads the
  // raw socket sends, with the UDP checksum 0 (RFC 7348 section 5).
  { dstport: 4789, decodeAs: [] as string[], offload: false },
  // ... and the Linux default port only when told to. With offloads a pool
  // socket sends (UDP GSO needs a computed checksum, as `udpcsum` does in the kernel).
  { dstport: 8472, decodeAs: ['-d', 'udp.port==8472,vxlan'], offload: true },
])('tshark decodes vxtap\'s packets as VXLAN with the right VNI and inner frame (dstport $dstport, offload $offload)', ({ dstport, decodeAs, offload }) => {
  const lab = new Lab(`wire${dstport}`);
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-wire-'));
  const pcap = join(dir, 'vxtap.pcap');
  let a: Host, b: Host, ipA: string, ipB: string, kernelMac: string;
  let echoRequests: Decoded[];

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    // tshark must see the outer UDP checksum as a wire carries it: with tx
    // checksum offload on, a veth leaves it unfinished (partial) in every
    // capture, so this test checks the bytes on the variant that finishes it.
    [ipA, ipB] = lab.underlay([a, b], 1500, { txChecksum: false });
    await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', ipA, '--remote', ipB, '--address', overlay(1),
      '--dstport', String(dstport), '--srcport', String(SRCPORT[0]), String(SRCPORT[1]),
      '--control', `/run/vxtap/${lab.id}-a.sock`, ...(offload ? [] : ['--no-offload']),
    ]);
    kernelMac = kernelVxlan(b, { vni: VNI, local: ipB, remotes: [ipA], address: overlay(2), learning: true, dstport }).mac;

    // Capture what vxtap sends. -P -l print a summary line per packet as it is
    // written, so the test knows when the pings are in the file.
    const tshark = a.spawn('tshark', [
      '-i', 'ul0', '-f', `udp and src host ${ipA} and dst port ${dstport}`, '-F', 'pcap', '-w', pcap, '-P', '-l', ...decodeAs,
    ]);
    let out = '';
    let err = '';
    tshark.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    tshark.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually('tshark to start capturing', () => err.includes('Capturing on') || tshark.exitCode !== null);
    expect(tshark.exitCode, `tshark exited early: ${err}`).toBeNull();

    // "Capturing on" can come a moment before packets are really captured, so
    // ping one at a time until tshark has written PINGS echo requests.
    const seen = () => (out.match(/Echo \(ping\) request/g) ?? []).length;
    await eventually(`tshark to capture ${PINGS} echo requests`, async () => {
      if (seen() < PINGS) await a.ping(`${OVERLAY}.2`, 1);
      return seen() >= PINGS;
    }, 20_000);
    tshark.kill('SIGINT');
    await once(tshark, 'exit');

    const text = await a.exec('tshark', [
      '-r', pcap, ...decodeAs, '-o', 'udp.check_checksum:TRUE', '-Y', 'icmp.type == 8', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      ...FIELDS.flatMap((f) => ['-e', f]),
    ]);
    echoRequests = text.trim().split('\n').filter(Boolean).map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(FIELDS.map((f, i) => [f, cols[i] === '' ? [] : cols[i].split(',')])) as Decoded;
    });
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The decoded echo requests; fails the test unless at least PINGS were captured and decoded to ICMP. */
  function pings(): Decoded[] {
    expect(echoRequests.length, 'echo requests decoded from the capture').toBeGreaterThanOrEqual(PINGS);
    return echoRequests;
  }

  it(`captures at least ${PINGS} echo requests, each decoded down to ICMP`, () => {
    for (const p of pings()) expect(p['icmp.type']).toEqual(['8']);
  });

  it('has the right outer IPv4 and UDP headers', () => {
    for (const p of pings()) {
      expect(p['ip.src']).toEqual([ipA, `${OVERLAY}.1`]);
      expect(p['ip.dst']).toEqual([ipB, `${OVERLAY}.2`]);
      expect(p['ip.flags.df'][0], 'outer DF').toBe('1');
      expect(p['ip.ttl'][0], 'outer TTL').toBe('64');
      expect(p['udp.dstport']).toEqual([String(dstport)]);
      expect(Number(p['udp.srcport'][0])).toBeGreaterThanOrEqual(SRCPORT[0]);
      expect(Number(p['udp.srcport'][0])).toBeLessThanOrEqual(SRCPORT[1]);
      if (offload) expect(p['udp.checksum.status'], 'a computed checksum that verifies').toEqual(['1']);
      else expect(p['udp.checksum']).toEqual(['0x0000']);
    }
  });

  it('uses one UDP source port for the whole ping flow (flow hash)', () => {
    expect(new Set(pings().map((p) => p['udp.srcport'][0])).size).toBe(1);
  });

  it(`has a VXLAN header with only the I flag and VNI ${VNI}`, () => {
    for (const p of pings()) {
      expect(p['vxlan.flags']).toEqual(['0x0800']);
      expect(p['vxlan.vni']).toEqual([String(VNI)]);
    }
  });

  it('carries the inner frame from vxtap\'s TAP to the kernel\'s vxlan device', () => {
    // Outer MACs are the underlay veth's, inner ones the overlay devices'.
    for (const p of pings()) {
      expect(p['eth.src']).toEqual([macOf(a, 'ul0'), macOf(a, 'vxt0')]);
      expect(p['eth.dst']).toEqual([macOf(b, 'ul0'), kernelMac]);
    }
  });
});
