// Capture from a running vxtap, checked by independent decoders: vxtap on
// host a, the kernel's vxlan device on host b. tshark reads what `vxtap
// capture` writes; `vxtap decode` must print what tshark reads in captures
// tshark made itself; a capture under load costs the dataplane nothing, and a
// reader that does not read only loses capture frames, which are counted.
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, transfer, type Vxtap, type VxtapStats } from '../../src/lab/netns.js';
import { readCapture } from '../../src/capture/pcapng.js';
import { ETHERTYPE_IPV4, IPPROTO_ICMP, echo, ethernet, ipv4, vxlan } from '../helpers/packets.js';
import { TRANSFER_BYTES, eventually, kernelVxlan, macOf, overlay, sendDatagrams } from '../helpers/peers.js';

const VNI = 42;
const PORT = 4789;
const OV1 = `${OVERLAY}.1`;
const OV2 = `${OVERLAY}.2`;

interface CaptureProc {
  proc: ChildProcess;
  stdout: Buffer[];
  stderr: string;
  exit: Promise<number | null>;
}

type CaptureStats = VxtapStats & { capture: { sessions: number; captured: number; lost: number } };

describe('capture from vxtap, with a kernel vxlan peer', () => {
  const lab = new Lab('capture');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-capture-'));
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, control: string, kernelMac: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    control = `/run/vxtap/${lab.id}-a.sock`;
    va = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', ipA, '--remote', ipB, '--address', overlay(1), '--control', control,
    ]);
    kernelMac = kernelVxlan(b, { vni: VNI, local: ipB, remotes: [ipA], address: overlay(2), learning: true }).mac;
    // Resolve ARP on the overlay and the underlay first, so the captures hold only the pings.
    await a.ping(OV2, 1);
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = () => va.stats() as Promise<CaptureStats>;

  /** Starts `vxtap capture` inside host a and waits until it is attached. */
  async function startCapture(args: string[]): Promise<CaptureProc> {
    const proc = a.spawn(process.execPath, [CLI, 'capture', '--control', control, ...args]);
    const c: CaptureProc = { proc, stdout: [], stderr: '', exit: once(proc, 'exit').then(([code]) => code as number | null) };
    proc.stdout!.on('data', (d: Buffer) => c.stdout.push(d));
    proc.stderr!.on('data', (d: Buffer) => (c.stderr += d.toString()));
    await eventually('vxtap capture to attach', () => c.stderr.includes('capturing at') || proc.exitCode !== null);
    expect(proc.exitCode, c.stderr).toBeNull();
    return c;
  }

  async function stopCapture(c: CaptureProc): Promise<void> {
    c.proc.kill('SIGINT');
    expect(await c.exit, c.stderr).toBe(0);
  }

  /**
   * tshark's fields, one record per packet; with occurrence=a each field lists every layer's value, outer first.
   * tshark and vxtap decode both run with TZ=UTC, so their clock columns compare.
   */
  function tshark(file: string, fields: string[], extra: string[] = []): Array<Record<string, string[]>> {
    const out = a.run('env', 'TZ=UTC', 'tshark', '-r', file, ...extra, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      ...fields.flatMap((f) => ['-e', f]));
    return out.split('\n').filter(Boolean).map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, cols[i] === '' ? [] : cols[i].split(',')]));
    });
  }

  const decode = (file: string) => a.run('env', 'TZ=UTC', process.execPath, CLI, 'decode', file).trim().split('\n');

  /** A VXLAN datagram from b that vxtap must drop: VNI 43 is not configured. */
  const unknownVni = vxlan(43, ethernet('02:00:5e:00:00:99', '02:00:5e:00:00:98', ETHERTYPE_IPV4, ipv4(OV2, OV1, IPPROTO_ICMP, echo(8, 9, 9))));

  describe('a capture of every point during a ping', () => {
    const file = join(dir, 'all.pcapng');
    let rows: Array<Record<string, string[]>>;
    let summary: string;

    beforeAll(async () => {
      const c = await startCapture(['-w', file]);
      const before = await stats();
      await a.ping(OV2, 3);
      await sendDatagrams(b, ipA, PORT, [unknownVni, unknownVni.subarray(0, 4)]);
      await eventually('vxtap to drop both datagrams', async () => {
        const s = await stats();
        return s.drops.unknown_vni > before.drops.unknown_vni && s.drops.truncated > before.drops.truncated;
      });
      await stopCapture(c);
      summary = c.stderr;
      rows = tshark(file, ['frame.interface_name', 'vxlan.vni', 'ip.src', 'ip.dst', 'eth.src', 'eth.dst', 'icmp.type', 'icmp.ident', 'icmp.seq', 'frame.comment']);
    });

    const at = (point: string, icmpType?: string) =>
      rows.filter((r) => r['frame.interface_name'][0] === point && (icmpType === undefined || r['icmp.type'].at(-1) === icmpType));

    it('leaves a complete file and reports nothing lost', () => {
      expect(() => readCapture(readFileSync(file))).not.toThrow();
      expect(summary).toMatch(/\d+ packets captured\n\d+ packets matched at vxtap\n0 packets lost by vxtap/);
    });

    it('tap-rx: the echo requests as read from the TAP', () => {
      const r = at('tap-rx', '8');
      expect(r).toHaveLength(3);
      for (const p of r) expect([p['ip.src'], p['ip.dst'], p['eth.src'], p['vxlan.vni']]).toEqual([[OV1], [OV2], [macOf(a, 'vxt0')], []]);
    });

    it('wire-tx: the requests in VXLAN, with the outer headers as on the wire', () => {
      const r = at('wire-tx', '8');
      expect(r).toHaveLength(3);
      for (const p of r) {
        expect(p['vxlan.vni']).toEqual([String(VNI)]);
        expect(p['ip.src']).toEqual([ipA, OV1]);
        expect(p['ip.dst']).toEqual([ipB, OV2]);
        // Outer MACs from the kernel's tables: a's underlay veth, and b's as a's neighbour.
        expect(p['eth.src']).toEqual([macOf(a, 'ul0'), macOf(a, 'vxt0')]);
        expect(p['eth.dst']).toEqual([macOf(b, 'ul0'), kernelMac]);
      }
    });

    it('wire-rx: the kernel\'s replies in VXLAN; tap-tx: the replies written to the TAP', () => {
      const rx = at('wire-rx', '0');
      expect(rx).toHaveLength(3);
      for (const p of rx) {
        expect([p['vxlan.vni'], p['ip.src'], p['ip.dst']]).toEqual([[String(VNI)], [ipB, OV2], [ipA, OV1]]);
        expect([p['eth.src'], p['eth.dst']]).toEqual([[macOf(b, 'ul0'), kernelMac], [macOf(a, 'ul0'), macOf(a, 'vxt0')]]);
      }
      const tx = at('tap-tx', '0');
      expect(tx).toHaveLength(3);
      for (const p of tx) expect([p['ip.src'], p['eth.src']]).toEqual([[OV2], [kernelMac]]);
    });

    it('drop: the malformed datagrams, each with its reason as the comment', () => {
      const drops = at('drop');
      expect(drops.map((p) => p['frame.comment'])).toEqual([['unknown_vni'], ['truncated']]);
      expect(drops[0]['vxlan.vni']).toEqual(['43']);
      expect(drops[0]['ip.src']).toEqual([ipB, OV2]);
      expect(drops[1]['ip.src']).toEqual([ipB]);
      // They came in at wire-rx first.
      expect(at('wire-rx').filter((p) => p['vxlan.vni'][0] === '43')).toHaveLength(1);
    });

    it('vxtap decode prints each packet as tshark reads it', () => {
      const lines = decode(file);
      expect(lines).toHaveLength(rows.length);
      const outerA = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} wire-tx IP ${ipA}\\.\\d+ > ${ipB}\\.${PORT}: VXLAN vni ${VNI}: `);
      const requests = lines.filter((l) => outerA.test(l) && l.includes('echo request'));
      expect(requests.map((l) => l.replace(outerA, ''))).toEqual(at('wire-tx', '8').map((p) =>
        `${macOf(a, 'vxt0')} > ${kernelMac}, IP ${OV1} > ${OV2}: ICMP echo request, id ${Number(p['icmp.ident'].at(-1))}, seq ${p['icmp.seq'].at(-1)}, length 64`));
      const dropped = `IP ${ipB.replaceAll('.', '\\.')}\\.\\d+ > ${ipA.replaceAll('.', '\\.')}\\.${PORT}: `;
      expect(lines.filter((l) => l.includes(' drop '))).toEqual([
        expect.stringMatching(new RegExp(`drop ${dropped}VXLAN vni 43: 02:00:5e:00:00:99 > 02:00:5e:00:00:98, IP ${OV2} > ${OV1}: ICMP echo request, id 9, seq 9, length 64 \\[comment: unknown_vni\\]$`)),
        expect.stringMatching(new RegExp(`drop ${dropped}\\[\\|vxlan\\] \\[comment: truncated\\]$`)),
      ]);
    });
  });

  it('vxtap decode prints what tshark reads in tshark\'s own captures, pcapng and pcap', async () => {
    const ng = join(dir, 'tshark.pcapng');
    const classic = join(dir, 'tshark.pcap');
    const t = a.spawn('tshark', ['-i', 'ul0', '-f', `udp port ${PORT}`, '-w', ng, '-P', '-l']);
    let out = '';
    let err = '';
    t.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    t.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually('tshark to start capturing', () => err.includes('Capturing on') || t.exitCode !== null);
    const replies = () => (out.match(/Echo \(ping\) reply/g) ?? []).length;
    // "Capturing on" can come before packets do: ping until tshark sees one.
    await eventually('tshark to see a ping', async () => replies() > 0 || void (await a.ping(OV2, 1)));
    const seen = replies();
    a.run('ip', 'neigh', 'flush', 'dev', 'vxt0'); // so that ARP crosses the overlay too
    await a.ping(OV2, 3);
    await eventually('tshark to see the pings', () => replies() >= seen + 3);
    t.kill('SIGINT');
    await once(t, 'exit');
    a.run('editcap', '-F', 'pcap', ng, classic);

    const fields = ['_ws.col.Time', 'ip.src', 'ip.dst', 'udp.srcport', 'udp.dstport', 'udp.length', 'vxlan.vni', 'eth.src', 'eth.dst',
      'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4', 'icmp.type', 'icmp.ident', 'icmp.seq', 'ip.len'];
    for (const file of [ng, classic]) {
      const expected = tshark(file, fields, ['-t', 'a']).map((p) => {
        const outer = `${p['_ws.col.Time'][0]} IP ${p['ip.src'][0]}.${p['udp.srcport'][0]} > ${p['ip.dst'][0]}.${p['udp.dstport'][0]}`;
        const inner = `VXLAN vni ${p['vxlan.vni'][0]}: ${p['eth.src'][1]} > ${p['eth.dst'][1]}`;
        const arpLen = Number(p['udp.length'][0]) - 8 - 8 - 14;
        const what = p['arp.opcode'][0] === '1' ? `ARP, Request who-has ${p['arp.dst.proto_ipv4'][0]} tell ${p['arp.src.proto_ipv4'][0]}, length ${arpLen}`
          : p['arp.opcode'][0] === '2' ? `ARP, Reply ${p['arp.src.proto_ipv4'][0]} is-at ${p['arp.src.hw_mac'][0]}, length ${arpLen}`
            : `IP ${p['ip.src'][1]} > ${p['ip.dst'][1]}: ICMP echo ${p['icmp.type'][0] === '8' ? 'request' : 'reply'}, ` +
              `id ${Number(p['icmp.ident'][0])}, seq ${p['icmp.seq'][0]}, length ${Number(p['ip.len'][1]) - 20}`;
        return `${outer}: ${inner}, ${what}`;
      });
      expect(expected.filter((l) => l.includes('ARP, Request')).length, 'an ARP request in the sample').toBeGreaterThan(0);
      expect(expected.filter((l) => l.includes('echo reply')).length, 'echo replies in the sample').toBeGreaterThanOrEqual(4);
      expect(decode(file)).toEqual(expected);
    }
  });

  it('stops by itself after -c packets and writes pcapng to stdout with -w -', async () => {
    // Only ICMP counts: the kernel peer may re-check its ARP entry meanwhile.
    const c = await startCapture(['--point', 'wire-tx', '--filter', 'icmp', '-c', '4', '-w', '-']);
    await a.ping(OV2, 6);
    expect(await c.exit, c.stderr).toBe(0);
    const bytes = Buffer.concat(c.stdout);
    const cap = readCapture(bytes);
    expect(cap.packets).toHaveLength(4);
    expect(cap.ifaces.map((i) => i.name)).toEqual(['wire-tx']);
    const file = join(dir, 'stdout.pcapng');
    writeFileSync(file, bytes);
    expect(tshark(file, ['vxlan.vni', 'icmp.type']).map((p) => [p['vxlan.vni'][0], p['icmp.type'][0]])).toEqual(Array(4).fill([String(VNI), '8']));
  });

  it('without -w prints a line per packet, naming the point, through --vni and --filter', async () => {
    const c = await startCapture(['--point', 'wire-tx,wire-rx', '--vni', String(VNI), '--filter', `icmp and host ${OV2}`, '-c', '4']);
    await a.ping(OV2, 3);
    expect(await c.exit, c.stderr).toBe(0);
    const lines = Buffer.concat(c.stdout).toString().trim().split('\n');
    expect(lines.map((l) => / (wire-tx|wire-rx) .*ICMP echo (request|reply)/.exec(l)?.slice(1))).toEqual([
      ['wire-tx', 'request'], ['wire-rx', 'reply'], ['wire-tx', 'request'], ['wire-rx', 'reply'],
    ]);
  });

  describe('under load', () => {
    /** Frames the kernel dropped on their way into vxtap's TAP (its queue was full): vxtap read too slowly. */
    const tapQueueDrops = () => (JSON.parse(a.run('ip', '-s', '-j', 'link', 'show', 'dev', 'vxt0')) as Array<{ stats64: { tx: { dropped: number } } }>)[0].stats64.tx.dropped;

    /** A 50 MB TCP transfer a -> b; returns the change in every vxtap drop counter, which must stay zero. */
    async function loaded(what: string): Promise<{ drops: number; seconds: number; kernel: number }> {
      const before = await stats();
      const kernelBefore = tapQueueDrops();
      const { sent, received } = await transfer(a, b, OV2, TRANSFER_BYTES);
      expect(received.bytes, `${what}: bytes`).toBe(TRANSFER_BYTES);
      expect(received.sha256, `${what}: SHA-256`).toBe(sent.sha256);
      const after = await stats();
      const drops = Object.keys(after.drops).reduce((n, k) => n + after.drops[k] - before.drops[k], 0);
      return { drops, seconds: received.seconds, kernel: tapQueueDrops() - kernelBefore };
    }

    it('a capture of every point costs the dataplane no frames, and -C/-W keeps a ring of complete files', async () => {
      const bare = await loaded('without capture');
      const ring = join(dir, 'ring');
      const c = await startCapture(['-w', ring, '-C', '1', '-W', '3']);
      const captured = await loaded('with capture');
      await stopCapture(c);
      const m = /(\d+) packets captured\n(\d+) packets matched at vxtap\n(\d+) packets lost/.exec(c.stderr);
      expect(m, c.stderr).not.toBeNull();
      const [packets, matched, lost] = m!.slice(1).map(Number);
      console.log(`50 MB a -> b: ${bare.seconds.toFixed(2)} s without capture, ${captured.seconds.toFixed(2)} s with every point captured; ` +
        `vxtap drops ${bare.drops} and ${captured.drops} (kernel TAP queue drops ${bare.kernel} and ${captured.kernel}); ` +
        `capture: ${packets} packets written, ${matched} matched, ${lost} lost to a full ring`);
      expect(bare.drops).toBe(0);
      expect(captured.drops).toBe(0);
      // No frame lost before vxtap either: the kernel dropped none at the TAP's queue.
      expect(bare.kernel, 'kernel TAP queue drops without capture').toBe(0);
      expect(captured.kernel, 'kernel TAP queue drops with capture').toBe(0);
      expect(packets).toBe(matched - lost);
      // A ring of three files, each complete, none much over 1 MB (tcpdump's rule: rotate once past the size).
      for (const k of [0, 1, 2]) {
        const f = `${ring}${k}`;
        expect(existsSync(f), f).toBe(true);
        expect(statSync(f).size).toBeLessThan(1_000_000 + 70_000);
        const cap = readCapture(readFileSync(f));
        expect(cap.ifaces.map((i) => i.name)).toEqual(['tap-rx', 'tap-tx', 'wire-rx', 'wire-tx', 'drop']);
        expect(cap.packets.length).toBeGreaterThan(0);
        expect(a.run('capinfos', '-c', '-M', f)).toMatch(new RegExp(`Number of packets:\\s+${cap.packets.length}\\b`));
      }
      expect(existsSync(`${ring}3`)).toBe(false);
    });

    it('a reader that does not read loses capture frames, which are counted, and the dataplane none', async () => {
      const sock = createConnection(control);
      sock.write(JSON.stringify({ cmd: 'capture' }) + '\n');
      sock.pause();
      await eventually('the stalled capture to attach', async () => (await stats()).capture.sessions === 1);
      const before = (await stats()).capture;
      const r = await loaded('with a stalled reader');
      const after = (await stats()).capture;
      console.log(`stalled reader: ${after.captured - before.captured} frames queued, ${after.lost - before.lost} lost and counted; dataplane drops ${r.drops}`);
      expect(r.drops).toBe(0);
      expect(r.kernel, 'kernel TAP queue drops').toBe(0);
      expect(after.lost - before.lost).toBeGreaterThan(0);
      expect(va.alive).toBe(true);
      sock.destroy();
      await eventually('the session to end', async () => (await stats()).capture.sessions === 0);
    });
  });

  it('vxtap sniff -i ul0 prints the VXLAN packets on the underlay live', async () => {
    const p = a.spawn(process.execPath, [CLI, 'sniff', '-i', 'ul0', '-c', '4', 'icmp']);
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually('sniff to start', () => err.includes('sniffing on') || p.exitCode !== null);
    const exit = once(p, 'exit');
    await a.ping(OV2, 3);
    const [code] = (await exit) as [number | null];
    expect(code, err).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const l of lines) {
      expect(l).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} IP 198\\.51\\.100\\.[12]\\.\\d+ > 198\\.51\\.100\\.[12]\\.${PORT}: ` +
        `VXLAN vni ${VNI}: \\S+ > \\S+, IP 203\\.0\\.113\\.[12] > 203\\.0\\.113\\.[12]: ICMP echo (request|reply), id \\d+, seq \\d, length 64$`));
    }
    expect(err).toMatch(/4 packets captured/);
  });

  // Last: it stops the instance.
  it('ends an attached capture with a complete file when the instance stops', async () => {
    const file = join(dir, 'stopped.pcapng');
    const c = await startCapture(['-w', file]);
    await a.ping(OV2, 2);
    expect(await va.stop()).toBe(0);
    expect(await c.exit, c.stderr).toBe(0);
    const cap = readCapture(readFileSync(file));
    expect(cap.packets.length).toBeGreaterThanOrEqual(8); // 2 requests and 2 replies, each at two points
    // The statistics blocks came last: the stream was finished, not cut.
    expect(cap.ifaces.every((i) => i.received !== undefined && i.dropped === 0)).toBe(true);
  });
});
