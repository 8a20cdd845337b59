// The ARP/ND proxy (`vxtap vxlan --proxy`, `vxtap neigh ...`) against a
// kernel VTEP: host a resolves b's overlay addresses through vxtap's TAP.
// With a neighbour entry the answer comes from vxtap itself and tshark on
// b's underlay sees no ARP request or neighbour solicitation inside VXLAN,
// while it does see the echo requests that follow (so the capture works).
// Without one, the request floods to b as before and b's kernel answers.
// b knows a's addresses (permanent entries), so that b sends no ARP or
// solicitation of its own.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, OVERLAY6, type Vxtap } from '../../src/lab/netns.js';
import { eventually, kernelVxlan, macOf, overlay, sendDatagrams } from '../helpers/peers.js';
import { type Capture, capture } from './flannel-helpers.js';

const IP_B = `${OVERLAY}.2`;
const IP6_A = `${OVERLAY6}1`;
const IP6_B = `${OVERLAY6}2`;
/** An address a will try to take while the table says a remote host has it. */
const IP6_TAKEN = `${OVERLAY6}9`;
/** tshark's fields per packet: ARP opcode, ICMPv6 type, ICMP type, IPv6 source and VNI, inner headers included. */
const FIELDS = ['arp.opcode', 'icmpv6.type', 'icmp.type', 'ipv6.src', 'vxlan.vni'];

async function neigh(h: Host, ...words: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = h.spawn(process.execPath, [CLI, 'neigh', ...words]);
  let [stdout, stderr] = ['', ''];
  p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

interface Proxy {
  arp_replies: number;
  arp_misses: number;
  nd_replies: number;
  nd_misses: number;
  nd_invalid: number;
}

describe('the ARP/ND proxy against a kernel VTEP', () => {
  const lab = new Lab('proxy');
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, macB: string;
  let cap: Capture;

  const proxyStats = async () => ((await va.stats()) as unknown as { vnis: Record<string, { proxy: Proxy; neigh_entries: number }> }).vnis['42'];
  /** Marker VNIs, one per use: a datagram from b to a's VXLAN port that vxtap drops (unknown VNI) and answers nothing. */
  let marker = 4000;
  const hasMarker = (vni: number) => cap.rows().findIndex((r) => r[4] === String(vni));
  const sendMarker = (vni: number) => sendDatagrams(b, ipA, 4789, [Buffer.concat([Buffer.from([8, 0, 0, 0, vni >> 16, (vni >> 8) & 0xff, vni & 0xff, 0]), Buffer.alloc(14)])]);
  /**
   * The packets inside VXLAN on b's underlay while `action` runs: ARP
   * requests, NS, echo requests. tshark says "Capturing on" a moment before it
   * captures, so a marker datagram goes until tshark has seen one; a second
   * after the action has been printed after everything before it.
   */
  const during = async (action: () => Promise<void>) => {
    const start = ++marker;
    await eventually('tshark to see the start marker', async () => hasMarker(start) >= 0 || void (await sendMarker(start)), 15_000);
    await action();
    const end = ++marker;
    await sendMarker(end);
    await eventually('tshark to see the end marker', () => hasMarker(end) >= 0);
    const rows = cap.rows().slice(hasMarker(start) + 1, hasMarker(end)).filter((r) => r[4] === '42');
    return {
      arp: rows.filter((r) => r[0] === '1').length,
      ns: rows.filter((r) => r[1].split(',').includes('135')),
      echo: rows.filter((r) => r[2].split(',').includes('8') || r[1].split(',').includes('128')).length,
    };
  };
  const neighState = (ip: string): string | undefined =>
    (JSON.parse(a.run('ip', '-j', 'neigh', 'show', 'to', ip, 'dev', 'vxt0')) as Array<{ lladdr?: string; state: string[] }>)
      .map((n) => `${n.lladdr ?? '-'} ${n.state.join(',')}`)[0];

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1), '--proxy']);
    a.address6('vxt0', `${IP6_A}/64`);
    macB = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true }).mac;
    b.address6('vx0', `${IP6_B}/64`);
    const macA = macOf(a, 'vxt0');
    b.ip(`neigh replace ${OVERLAY}.1 lladdr ${macA} dev vx0 nud permanent`, `neigh replace ${IP6_A} lladdr ${macA} dev vx0 nud permanent`);
    cap = await capture(b, 'ul0', 'udp port 4789', FIELDS, ['-d', 'udp.port==4789,vxlan']);
  });
  afterAll(async () => {
    await cap?.stop();
    await lab.cleanup();
  });

  it('answers ARP from the table with nothing on the wire, and floods a miss', async () => {
    expect(await neigh(a, 'add', IP_B, 'lladdr', macB, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse((await neigh(a, 'show', 'dev', 'vxt0', '--json')).stdout)).toEqual([{ vni: 42, ip: IP_B, lladdr: macB, dev: 'vxt0' }]);
    const before = (await proxyStats()).proxy;
    const hit = await during(() => a.ping(IP_B, 1).then(() => undefined));
    expect(neighState(IP_B)).toMatch(new RegExp(`^${macB} `));
    expect(hit.echo, 'the echo request inside VXLAN on b\'s underlay').toBeGreaterThanOrEqual(1);
    expect(hit.arp, 'no ARP request on the underlay').toBe(0);
    const after = (await proxyStats()).proxy;
    expect(after.arp_replies).toBe(before.arp_replies + 1);
    expect(after.arp_misses).toBe(before.arp_misses);

    // The kernel's answers to the same mistakes.
    const twice = await neigh(a, 'add', IP_B, 'lladdr', macB, 'dev', 'vxt0');
    expect(twice.code).toBe(2);
    expect(twice.stderr).toBe(`vxtap: neigh: ${IP_B} has an entry on VNI 42 (EEXIST): use replace to overwrite it\n`);

    expect(await neigh(a, 'del', IP_B, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    const gone = await neigh(a, 'del', IP_B, 'dev', 'vxt0');
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('(ENOENT)');
    a.ip('neigh flush dev vxt0');
    const miss = await during(() => a.ping(IP_B, 1).then(() => undefined));
    expect(miss.arp, 'the flooded ARP request on b\'s underlay').toBeGreaterThanOrEqual(1);
    expect((await proxyStats()).proxy.arp_misses).toBeGreaterThan(after.arp_misses);
    expect((await proxyStats()).proxy.arp_replies).toBe(after.arp_replies);
  });

  it('answers a neighbour solicitation from the table with nothing on the wire, and floods a miss', async () => {
    expect(await neigh(a, 'replace', IP6_B, 'lladdr', macB, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    const before = (await proxyStats()).proxy;
    const hit = await during(() => a.ping(IP6_B, 1).then(() => undefined));
    expect(neighState(IP6_B)).toMatch(new RegExp(`^${macB} `));
    expect(hit.echo, 'the ICMPv6 echo request inside VXLAN on b\'s underlay').toBeGreaterThanOrEqual(1);
    expect(hit.ns, 'no neighbour solicitation on the underlay').toEqual([]);
    const after = (await proxyStats()).proxy;
    expect(after.nd_replies).toBe(before.nd_replies + 1);
    expect(after.nd_invalid).toBe(before.nd_invalid);

    expect(await neigh(a, 'del', IP6_B, 'lladdr', macB, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    a.ip('neigh flush dev vxt0');
    const miss = await during(() => a.ping(IP6_B, 1).then(() => undefined));
    expect(miss.ns.length, 'the flooded solicitation on b\'s underlay').toBeGreaterThanOrEqual(1);
    expect((await proxyStats()).proxy.nd_misses).toBeGreaterThan(after.nd_misses);
  });

  it('answers duplicate address detection for an address the table gives a remote host, and lets it pass otherwise', async () => {
    expect(await neigh(a, 'add', IP6_TAKEN, 'lladdr', macB, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    const replies = (await proxyStats()).proxy.nd_replies;
    const flags = (ip: string) => (JSON.parse(a.run('ip', '-j', 'address', 'show', 'dev', 'vxt0')) as Array<{ addr_info: Array<{ local: string; dadfailed?: boolean; tentative?: boolean }> }>)[0]
      .addr_info.find((x) => x.local === ip);
    const taken = await during(async () => {
      a.ip(`address add ${IP6_TAKEN}/64 dev vxt0`); // with DAD
      await eventually('DAD to fail', () => flags(IP6_TAKEN)?.dadfailed === true);
    });
    expect((await proxyStats()).proxy.nd_replies).toBe(replies + 1);
    expect(taken.ns, 'the DAD solicitation stayed on a').toEqual([]);
    a.ip(`address del ${IP6_TAKEN}/64 dev vxt0`);

    // Not in the table: the solicitation (from ::) goes to b, which has no such address, and DAD succeeds.
    const free = `${OVERLAY6}8`;
    const passed = await during(async () => {
      a.ip(`address add ${free}/64 dev vxt0`);
      await eventually('DAD to succeed', () => flags(free) !== undefined && flags(free)!.tentative !== true && flags(free)!.dadfailed !== true);
    });
    expect(passed.ns.some((r) => r[3].split(',').includes('::')), 'the DAD solicitation on b\'s underlay').toBe(true);
  });

  it('refuses bad commands with one line naming the word, exit 2', async () => {
    for (const [words, expected] of [
      [['add', IP_B, 'dev', 'vxt0'], "'add' needs 'lladdr MAC'"],
      [['add', '203.0.113', 'lladdr', macB, 'dev', 'vxt0'], "'203.0.113' is not an IPv4 or IPv6 address"],
      [['add', IP_B, 'lladdr', 'ff:ff:ff:ff:ff:ff', 'dev', 'vxt0'], "lladdr 'ff:ff:ff:ff:ff:ff'"],
      [['change', IP_B, 'lladdr', macB, 'dev', 'vxt0'], '(ENOENT)'],
      [['add', IP_B, 'lladdr', macB, 'dev', 'vxt9', '--control', va.control], "dev 'vxt9' is not a port of this instance"],
      [['add', IP_B, 'lladdr', macB, 'dev', 'vxt0', 'nud', 'stale'], "nud 'stale'"],
    ] as Array<[string[], string]>) {
      const r = await neigh(a, ...words);
      expect(r.code, words.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^vxtap: neigh: [^\n]*\n$/);
      expect(r.stderr).toContain(expected);
    }
  });
});

describe('neighbour entries with --queues 2', () => {
  const lab = new Lab('proxymq');
  const N = 16;
  let a: Host, b: Host, va: Vxtap, macB: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1), '--proxy', '--queues', '2']);
    a.address6('vxt0', `${IP6_A}/64`);
    macB = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true }).mac;
  });
  afterAll(() => lab.cleanup());

  it('reaches every queue before the command returns: solicitations for N targets, spread by flow, are all answered', async () => {
    const targets = Array.from({ length: N }, (_, i) => `${OVERLAY6}${(0x10 + i).toString(16)}`);
    for (const t of targets) expect(await neigh(a, 'add', t, 'lladdr', macB, 'dev', 'vxt0')).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(JSON.parse((await neigh(a, 'show', 'dev', 'vxt0', '--json')).stdout)).toHaveLength(N);
    // Each target has its own solicited-node address, so the TAP hashes the solicitations over both queues.
    await Promise.all(targets.map((t) => a.exec('ping', ['-c', '1', '-W', '1', t]).catch(() => undefined)));
    const stats = (await va.stats()) as unknown as { vnis: Record<string, { proxy: { nd_replies: number; nd_misses: number } }>; queue_packets: number[] };
    expect(stats.vnis['42'].proxy).toMatchObject({ nd_replies: N, nd_misses: 0 });
    expect(stats.queue_packets.every((n) => n > 0), `packets per queue: ${stats.queue_packets.join(', ')}`).toBe(true);
    for (const t of targets) {
      const n = (JSON.parse(a.run('ip', '-j', 'neigh', 'show', 'to', t, 'dev', 'vxt0')) as Array<{ lladdr?: string }>)[0];
      expect(n?.lladdr, t).toBe(macB);
    }
  });
});
