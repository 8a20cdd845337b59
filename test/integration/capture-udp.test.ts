// Capture from `vxtap udp` (the udp overlay: a raw IPv4 packet as the whole
// UDP payload, port 8285), with offloads on: a vxtap udp pair, a third host
// that is no peer. tshark reads what `vxtap capture --dev TUN` writes, TUN
// points as raw IP and wire points as outer Ethernet/IPv4/UDP frames around
// the inner packet; `vxtap decode` prints the overlay lines; and a TCP
// transfer with every point captured arrives intact, with each datagram of
// the GSO sends and GRO trains, and each packet of the coalesced TUN writes,
// mirrored one by one. Then `vxtap run` with a VXLAN network and the udp
// overlay in one process: one capture takes both.
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, transfer, type Vxtap } from '../../src/lab/netns.js';
import { type Packet, LINKTYPE_RAW, readCapture } from '../../src/capture/pcapng.js';
import { IPPROTO_UDP, ipv4, udp } from '../helpers/packets.js';
import { TRANSFER_BYTES, eventually, macOf, sendDatagrams } from '../helpers/peers.js';

const A = '198.18.1.1';
const B = '198.18.2.1';
const PORT = 8285;
/** a's TUN, which `vxtap capture --dev` in a's namespace finds by its default control socket. */
const TUN = `vxc${process.pid.toString(36)}`;

interface CaptureProc {
  proc: ChildProcess;
  stdout: Buffer[];
  stderr: string;
  exit: Promise<number | null>;
}

interface UdpStats {
  udp: { offloads: { tunVnetHdr: boolean; tunTso: boolean; udpGso: boolean; udpGro: boolean }; unreachable_sent: number };
  drops: Record<string, number>;
  capture: { sessions: number; captured: number; lost: number };
}

const re = (s: string) => s.replaceAll('.', '\\.');

describe('capture from vxtap udp (offloads on)', () => {
  const lab = new Lab('capudp');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-capture-udp-'));
  let a: Host, b: Host, c: Host, va: Vxtap, ipA: string, ipB: string, ipC: string;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB, ipC] = lab.underlay([a, b, c]);
    // No --control: the default, which `vxtap capture --dev` derives too.
    va = await a.vxtap(['udp', '--dev', TUN, '--local', ipA, '--address', `${A}/16`, '--route', `198.18.2.0/24=${ipB}`]);
    await b.vxtap(['udp', '--dev', 'tun0', '--local', ipB, '--address', `${B}/16`, '--route', `198.18.1.0/24=${ipA}`,
      '--control', `/run/vxtap/${lab.id}-b.sock`]);
    // Resolve the underlay neighbours first, so the outer MACs are known and the captures hold only the test's packets.
    await a.ping(B, 1);
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  const stats = () => va.stats() as unknown as Promise<UdpStats>;

  it('has the offloads the tests below rely on: TUN TSO, UDP GSO and UDP GRO', async () => {
    expect((await stats()).udp.offloads).toMatchObject({ tunVnetHdr: true, tunTso: true, udpGso: true, udpGro: true });
  });

  async function startCapture(args: string[]): Promise<CaptureProc> {
    const proc = a.spawn(process.execPath, [CLI, 'capture', '--dev', TUN, ...args]);
    const cp: CaptureProc = { proc, stdout: [], stderr: '', exit: once(proc, 'exit').then(([code]) => code as number | null) };
    proc.stdout!.on('data', (d: Buffer) => cp.stdout.push(d));
    proc.stderr!.on('data', (d: Buffer) => (cp.stderr += d.toString()));
    await eventually('vxtap capture to attach', () => cp.stderr.includes('capturing at') || proc.exitCode !== null);
    expect(proc.exitCode, cp.stderr).toBeNull();
    return cp;
  }

  async function stopCapture(cp: CaptureProc): Promise<void> {
    cp.proc.kill('SIGINT');
    expect(await cp.exit, cp.stderr).toBe(0);
  }

  /** tshark's fields per packet (every layer's value, outer first), reading UDP 8285 as IP in UDP. */
  function tshark(file: string, fields: string[]): Array<Record<string, string[]>> {
    const out = a.run('env', 'TZ=UTC', 'tshark', '-r', file, '-d', `udp.port==${PORT},ip`, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      ...fields.flatMap((f) => ['-e', f]));
    return out.split('\n').filter(Boolean).map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, cols[i] === '' ? [] : cols[i].split(',')]));
    });
  }

  const decode = (file: string) => a.run('env', 'TZ=UTC', process.execPath, CLI, 'decode', file).trim().split('\n');

  /** Sends one UDP datagram from a to 198.18.9.9, which no route covers. */
  const probeNoRoute = () => a.exec(process.execPath, ['-e', "const s = require('node:dgram').createSocket('udp4'); s.send('probe', 9, '198.18.9.9', () => s.close());"]);

  describe('a capture of every point during a ping, a packet with no route and a datagram from a stranger', () => {
    const file = join(dir, 'all.pcapng');
    let rows: Array<Record<string, string[]>>;
    let summary: string;

    beforeAll(async () => {
      const cp = await startCapture(['-w', file]);
      const before = await stats();
      await a.ping(B, 3);
      await probeNoRoute();
      // From c, which is no route's peer: an IPv4/UDP packet that claims to come from B.
      await sendDatagrams(c, ipA, PORT, [ipv4(B, A, IPPROTO_UDP, udp(4000, 7, Buffer.from('spoof')))]);
      await eventually('vxtap to drop both', async () => {
        const s = await stats();
        return s.drops.no_route === before.drops.no_route + 1 && s.drops.unknown_sender === before.drops.unknown_sender + 1 &&
          s.udp.unreachable_sent === before.udp.unreachable_sent + 1;
      });
      await stopCapture(cp);
      summary = cp.stderr;
      rows = tshark(file, ['frame.interface_name', 'ip.src', 'ip.dst', 'ip.ttl', 'udp.srcport', 'udp.dstport', 'eth.src', 'eth.dst',
        'icmp.type', 'icmp.code', 'icmp.ident', 'icmp.seq', 'frame.comment']);
    });

    const at = (point: string, icmpType?: string) =>
      rows.filter((r) => r['frame.interface_name'][0] === point && (icmpType === undefined || r['icmp.type'][0] === icmpType));

    it('leaves a complete file, one interface per point: the TUN points and drop raw IP, the wire points Ethernet', () => {
      expect(summary).toMatch(/\d+ packets captured\n\d+ packets matched at vxtap\n0 packets lost by vxtap/);
      const cap = readCapture(readFileSync(file));
      expect(cap.ifaces.map((i) => [i.name, i.linktype])).toEqual([['tap-rx', 101], ['tap-tx', 101], ['wire-rx', 1], ['wire-tx', 1], ['drop', 101]]);
      expect(cap.ifaces.every((i) => i.received !== undefined && i.dropped === 0)).toBe(true);
    });

    it('tap-rx: the echo requests as read from the TUN, raw IP before the TTL step', () => {
      const r = at('tap-rx', '8');
      expect(r).toHaveLength(3);
      for (const p of r) expect([p['ip.src'], p['ip.dst'], p['ip.ttl'], p['eth.src']]).toEqual([[A], [B], ['64'], []]);
    });

    it('wire-tx: each request as the whole payload of a datagram 8285 -> 8285, outer headers as on the wire', () => {
      const r = at('wire-tx', '8');
      expect(r).toHaveLength(3);
      for (const p of r) {
        expect([p['ip.src'], p['ip.dst'], p['ip.ttl']]).toEqual([[ipA, A], [ipB, B], ['64', '63']]);
        expect([p['udp.srcport'], p['udp.dstport']]).toEqual([[String(PORT)], [String(PORT)]]);
        expect([p['eth.src'], p['eth.dst']]).toEqual([[macOf(a, 'ul0')], [macOf(b, 'ul0')]]);
      }
    });

    it('wire-rx: b\'s replies and the stranger\'s datagram; tap-tx: the replies and the ICMP net unreachable, raw IP', () => {
      const rx = at('wire-rx', '0');
      expect(rx).toHaveLength(3);
      for (const p of rx) {
        expect([p['ip.src'], p['ip.dst'], p['ip.ttl']]).toEqual([[ipB, B], [ipA, A], ['64', '63']]);
        expect([p['eth.src'], p['eth.dst']]).toEqual([[macOf(b, 'ul0')], [macOf(a, 'ul0')]]);
      }
      expect(at('wire-rx').filter((p) => p['ip.src'][0] === ipC).map((p) => p['ip.src'])).toEqual([[ipC, B]]);
      const tx = at('tap-tx', '0');
      expect(tx).toHaveLength(3);
      for (const p of tx) expect([p['ip.src'], p['ip.dst'], p['ip.ttl'], p['eth.src']]).toEqual([[B], [A], ['62'], []]);
      const unreachable = at('tap-tx', '3');
      expect(unreachable).toHaveLength(1);
      // From the TUN's address to the sender, quoting the probe's header.
      expect([unreachable[0]['ip.src'], unreachable[0]['ip.dst'], unreachable[0]['icmp.code'], unreachable[0]['udp.dstport']])
        .toEqual([[A, A], [A, '198.18.9.9'], ['0'], ['9']]);
    });

    it('drop: the packet with no route and the stranger\'s datagram, each with its reason as the comment', () => {
      const drops = at('drop');
      expect(drops.map((p) => p['frame.comment'])).toEqual([['no_route'], ['unknown_sender']]);
      expect([drops[0]['ip.src'], drops[0]['ip.dst'], drops[0]['udp.dstport'], drops[0]['eth.src']]).toEqual([[A], ['198.18.9.9'], ['9'], []]);
      // A dropped datagram: its outer IPv4/UDP, then the packet it carried.
      expect([drops[1]['ip.src'], drops[1]['ip.dst'], drops[1]['udp.dstport'], drops[1]['eth.src']]).toEqual([[ipC, B], [ipA, A], [String(PORT), '7'], []]);
    });

    it('vxtap decode prints each packet as tshark reads it, outer -> inner on the wire points', () => {
      const lines = decode(file);
      expect(lines).toHaveLength(rows.length);
      const body = (l: string) => l.replace(/^\d\d:\d\d:\d\d\.\d{6} /, '');
      const echo = (p: Record<string, string[]>, what: string, src: string, dst: string) =>
        `IP ${src} > ${dst}: ICMP echo ${what}, id ${Number(p['icmp.ident'].at(-1))}, seq ${p['icmp.seq'].at(-1)}, length 64`;
      const pick = (prefix: string) => lines.map(body).filter((l) => l.startsWith(prefix) && l.includes('ICMP echo'));
      expect(pick('tap-rx ')).toEqual(at('tap-rx', '8').map((p) => `tap-rx ${echo(p, 'request', A, B)}`));
      expect(pick('wire-tx ')).toEqual(at('wire-tx', '8').map((p) => `wire-tx IP ${ipA}.${PORT} > ${ipB}.${PORT}: UDP-overlay: ${echo(p, 'request', A, B)}`));
      expect(pick('wire-rx ')).toEqual(at('wire-rx', '0').map((p) => `wire-rx IP ${ipB}.${PORT} > ${ipA}.${PORT}: UDP-overlay: ${echo(p, 'reply', B, A)}`));
      expect(pick('tap-tx ')).toEqual(at('tap-tx', '0').map((p) => `tap-tx ${echo(p, 'reply', B, A)}`));
      expect(lines.map(body).filter((l) => l.startsWith('tap-tx ') && l.includes('unreachable'))).toEqual([`tap-tx IP ${A} > ${A}: ICMP unreachable, code 0, length 36`]);
      expect(lines.map(body).filter((l) => l.startsWith('drop '))).toEqual([
        expect.stringMatching(new RegExp(`^drop IP ${re(A)}\\.\\d+ > 198\\.18\\.9\\.9\\.9: UDP, length 5 \\[comment: no_route\\]$`)),
        expect.stringMatching(new RegExp(`^drop IP ${re(ipC)}\\.\\d+ > ${re(ipA)}\\.${PORT}: UDP-overlay: IP ${re(B)}\\.4000 > ${re(A)}\\.7: UDP, length 5 \\[comment: unknown_sender\\]$`)),
      ]);
    });
  });

  it('without -w prints a line per packet through --point and --filter, on raw IP and wire points alike', async () => {
    const cp = await startCapture(['--point', 'tap-rx,wire-tx', '--filter', `icmp and host ${B}`, '-c', '4']);
    await a.ping(B, 3);
    expect(await cp.exit, cp.stderr).toBe(0);
    const lines = Buffer.concat(cp.stdout).toString().trim().split('\n');
    expect(lines.map((l) => / (tap-rx|wire-tx) (.*)$/.exec(l)?.[1])).toEqual(['tap-rx', 'wire-tx', 'tap-rx', 'wire-tx']);
    for (const l of lines.filter((x) => x.includes(' wire-tx '))) {
      expect(l).toMatch(new RegExp(`wire-tx IP ${re(ipA)}\\.${PORT} > ${re(ipB)}\\.${PORT}: UDP-overlay: IP ${re(A)} > ${re(B)}: ICMP echo request`));
    }
  });

  it('refuses --vni: the udp overlay has no VNI', async () => {
    const out = await a.exec('sh', ['-c', `${process.execPath} ${CLI} capture --dev ${TUN} --vni 42 -c 1 2>&1; echo "exit $?"`]);
    expect(out).toMatch(/^vxtap: capture: vni: this instance runs only the udp overlay, whose packets have no VNI\nexit 2\n$/);
  });

  describe('under load', () => {
    /** A 50 MB TCP transfer; returns the change in every vxtap drop counter, which must stay zero. */
    async function loaded(from: Host, to: Host, dst: string, what: string): Promise<{ drops: number; seconds: number }> {
      const before = await stats();
      const { sent, received } = await transfer(from, to, dst, TRANSFER_BYTES);
      expect(received.bytes, `${what}: bytes`).toBe(TRANSFER_BYTES);
      expect(received.sha256, `${what}: SHA-256`).toBe(sent.sha256);
      const after = await stats();
      return { drops: Object.keys(after.drops).reduce((n, k) => n + after.drops[k] - before.drops[k], 0), seconds: received.seconds };
    }

    /** TCP payload bytes of an inner packet from src to dst, or -1; `ip` is where the inner IPv4 header starts. */
    function tcpPayload(p: Packet, src: string, dst: string): number {
      const ip = p.iface.linktype === LINKTYPE_RAW ? 0 : 14 + 28;
      const d = p.data;
      if (d.length < ip + 40 || d[ip + 9] !== 6 || d.subarray(ip + 12, ip + 16).join('.') !== src || d.subarray(ip + 16, ip + 20).join('.') !== dst) return -1;
      const ihl = (d[ip] & 0x0f) * 4;
      return d.readUInt16BE(ip + 2) - ihl - (d[ip + ihl + 12] >> 4) * 4;
    }

    it('with every point captured, 50 MB each way arrives intact, vxtap drops nothing, and each datagram and packet is mirrored', async () => {
      const offloads = (await stats()).udp.offloads;
      const bareAB = await loaded(a, b, B, 'a -> b without capture');
      const bareBA = await loaded(b, a, A, 'b -> a without capture');
      const file = join(dir, 'load.pcapng');
      // A short snap length keeps the file small; a 32 MiB ring takes any burst the writer lags behind.
      const cp = await startCapture(['-w', file, '--snaplen', '128', '-B', '32768']);
      const capAB = await loaded(a, b, B, 'a -> b with capture');
      const capBA = await loaded(b, a, A, 'b -> a with capture');
      await stopCapture(cp);
      const m = /(\d+) packets captured\n(\d+) packets matched at vxtap\n(\d+) packets lost/.exec(cp.stderr);
      expect(m, cp.stderr).not.toBeNull();
      const [packets, matched, lost] = m!.slice(1).map(Number);

      const cap = readCapture(readFileSync(file));
      const sum = (point: string, src: string, dst: string) => {
        let bytes = 0;
        let frames = 0;
        let maxLen = 0;
        for (const p of cap.packets) {
          if (p.iface.name !== point) continue;
          const n = tcpPayload(p, src, dst);
          if (n <= 0) continue;
          bytes += n;
          frames++;
          maxLen = Math.max(maxLen, p.origLen);
        }
        return { bytes, frames, maxLen };
      };
      const tunRx = sum('tap-rx', A, B);
      const wireTx = sum('wire-tx', A, B);
      const wireRx = sum('wire-rx', B, A);
      const tunTx = sum('tap-tx', B, A);
      const mbps = (s: number) => ((TRANSFER_BYTES * 8) / s / 1e6).toFixed(0);
      console.log(`udp overlay, offloads ${JSON.stringify(offloads)}: 50 MB a -> b ${bareAB.seconds.toFixed(2)} s (${mbps(bareAB.seconds)} Mbit/s) ` +
        `without capture, ${capAB.seconds.toFixed(2)} s (${mbps(capAB.seconds)} Mbit/s) with every point captured; b -> a ${bareBA.seconds.toFixed(2)} s ` +
        `(${mbps(bareBA.seconds)} Mbit/s) and ${capBA.seconds.toFixed(2)} s (${mbps(capBA.seconds)} Mbit/s); vxtap drops ${bareAB.drops + bareBA.drops} and ` +
        `${capAB.drops + capBA.drops}; capture: ${packets} packets written (${(statSync(file).size / 1e6).toFixed(1)} MB), ${matched} matched, ${lost} lost; ` +
        `a -> b data: ${tunRx.frames} TUN reads (largest ${tunRx.maxLen} B) = ${wireTx.frames} datagrams sent; b -> a data: ${wireRx.frames} datagrams received = ${tunTx.frames} TUN packets written`);

      expect(bareAB.drops + bareBA.drops).toBe(0);
      expect(capAB.drops + capBA.drops).toBe(0);
      expect(lost).toBe(0);
      expect(packets).toBe(matched);
      expect(cap.packets).toHaveLength(packets);
      // Every byte of the stream, retransmissions included, crosses each point once.
      expect(wireTx.bytes).toBeGreaterThanOrEqual(TRANSFER_BYTES);
      expect(tunRx.bytes).toBe(wireTx.bytes);
      expect(wireRx.bytes).toBeGreaterThanOrEqual(TRANSFER_BYTES);
      expect(tunTx.bytes).toBe(wireRx.bytes);
      // On the wire, one frame per datagram (the GSO sends and GRO trains taken apart); at tap-tx one per packet, as queued.
      const mtu = 1472;
      expect(wireTx.maxLen).toBeLessThanOrEqual(14 + 28 + mtu);
      expect(wireRx.maxLen).toBeLessThanOrEqual(14 + 28 + mtu);
      expect(tunTx.maxLen).toBeLessThanOrEqual(mtu);
      // The TUN hands over TSO super-frames, each split into many datagrams
      // (the offloads are there: the first test asserts them).
      expect(tunRx.maxLen).toBeGreaterThan(mtu);
      expect(wireTx.frames).toBeGreaterThan(tunRx.frames);
    });
  });

  // Last: it stops the instance.
  it('ends an attached capture with a complete file when the instance stops', async () => {
    const file = join(dir, 'stopped.pcapng');
    const cp = await startCapture(['-w', file]);
    await a.ping(B, 2);
    expect(await va.stop()).toBe(0);
    expect(await cp.exit, cp.stderr).toBe(0);
    const cap = readCapture(readFileSync(file));
    expect(cap.packets.length).toBeGreaterThanOrEqual(8); // 2 requests and 2 replies, each at two points
    expect(cap.ifaces.every((i) => i.received !== undefined && i.dropped === 0)).toBe(true);
  });
});

describe('capture from vxtap run with a VXLAN network and the udp overlay in one process', () => {
  const lab = new Lab('capboth');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-capture-both-'));
  let a: Host, b: Host, ipA: string, ipB: string, control: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    const ips = [ipA, ipB];
    for (const [i, h] of [a, b].entries()) {
      const file = join(dir, `${h.name}.json`);
      const ctl = `/run/vxtap/${lab.id}-${h.name}.sock`;
      writeFileSync(file, JSON.stringify({
        local: ips[i],
        control: ctl,
        networks: [{ vni: 42, remotes: [ips[1 - i]], ports: [{ dev: 'vxt0', address: `203.0.113.${i + 1}/24` }] }],
        udp: { dev: 'tun0', address: `198.18.${i + 1}.1/16`, routes: [{ subnet: `198.18.${2 - i}.0/24`, peer: ips[1 - i] }] },
      }));
      await h.vxtap(['run', '--config', file], ctl);
    }
    control = `/run/vxtap/${lab.id}-a.sock`;
    await a.ping('203.0.113.2', 1);
    await a.ping(B, 1);
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mirrors both pipelines into one stream, an interface per point of each, named by pipeline', async () => {
    const file = join(dir, 'both.pcapng');
    const proc = a.spawn(process.execPath, [CLI, 'capture', '--control', control, '--point', 'tap-rx,wire-tx', '-w', file]);
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exit = once(proc, 'exit');
    await eventually('vxtap capture to attach', () => err.includes('capturing at') || proc.exitCode !== null);
    await a.ping('203.0.113.2', 2);
    await a.ping(B, 2);
    proc.kill('SIGINT');
    expect((await exit)[0], err).toBe(0);

    const cap = readCapture(readFileSync(file));
    expect(cap.ifaces.map((i) => [i.name, i.linktype])).toEqual([['vxlan:tap-rx', 1], ['vxlan:wire-tx', 1], ['udp:tap-rx', 101], ['udp:wire-tx', 1]]);
    const rows = a.run('tshark', '-r', file, '-d', `udp.port==${PORT},ip`, '-Y', 'icmp.type == 8', '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'frame.interface_name', '-e', 'vxlan.vni', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport').trim().split('\n');
    const vx = ['vxlan:tap-rx\t\t203.0.113.1\t203.0.113.2\t', `vxlan:wire-tx\t42\t${ipA},203.0.113.1\t${ipB},203.0.113.2\t4789`];
    const ov = [`udp:tap-rx\t\t${A}\t${B}\t`, `udp:wire-tx\t\t${ipA},${A}\t${ipB},${B}\t${PORT}`];
    expect(rows).toEqual([...vx, ...vx, ...ov, ...ov]);
    const lines = a.run(process.execPath, CLI, 'decode', file).trim().split('\n').filter((l) => l.includes('echo request'));
    expect(lines.map((l) => l.replace(/^\S+ /, '').replace(/id \d+, seq \d/, 'id N, seq S').replace(/(\d+\.\d+\.\d+\.\d+)\.\d+ >/, '$1.P >'))).toEqual([
      ...[0, 1].flatMap(() => [
        `vxlan:tap-rx IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id N, seq S, length 64`,
        expect.stringMatching(new RegExp(`^vxlan:wire-tx IP ${re(ipA)}\\.P > ${re(ipB)}\\.4789: VXLAN vni 42: \\S+ > \\S+, IP 203\\.0\\.113\\.1 > 203\\.0\\.113\\.2: ICMP echo request, id N, seq S, length 64$`)),
      ]),
      ...[0, 1].flatMap(() => [
        `udp:tap-rx IP ${A} > ${B}: ICMP echo request, id N, seq S, length 64`,
        `udp:wire-tx IP ${ipA}.P > ${ipB}.${PORT}: UDP-overlay: IP ${A} > ${B}: ICMP echo request, id N, seq S, length 64`,
      ]),
    ]);
  });
});
