// The userspace UDP overlay (flannel's udp backend format: a raw IPv4 packet
// as the whole UDP payload, port 8285) against itself and against socat, the
// flannel-udp-style reference peer. Overlay addresses come from 198.18.0.0/15.
import { type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, type Vxtap } from '../../src/lab/netns.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { checkOverlay, eventually, framesDuring, sendDatagrams, udpGsoTrain } from '../helpers/peers.js';

const A = '198.18.1.1';
const B = '198.18.2.1';

function vxtapUdp(h: Host, lab: Lab, local: string, address: string, routes: string[], offload: boolean): Promise<Vxtap> {
  return h.vxtap([
    'udp', '--dev', 'tun0', '--local', local, '--address', address, ...routes.flatMap((r) => ['--route', r]),
    '--control', `/run/vxtap/${lab.id}-${h.name}.sock`, ...(offload ? [] : ['--no-offload']),
  ]);
}

// Every case runs with TUN TSO/GRO and UDP GSO/GRO on, and with them off.
const MODES = [{ offload: true }, { offload: false }];

/** An IPv4/UDP packet from b's overlay address to a's, as it would leave a TUN. */
function innerPacket(ttl = 64): Buffer {
  const b = Buffer.alloc(20 + 8 + 4, 0x42);
  emitIpv4({ src: 0xc6120201, dst: 0xc6120101, protocol: 17, ttl, tos: 0, id: 1, dontFragment: true, payloadLen: 12 }, b, 0);
  return b;
}

describe.each(MODES)('vxtap udp <-> vxtap udp (offload: $offload)', ({ offload }) => {
  const lab = new Lab(offload ? 'udp' : 'udpnooff');
  let a: Host, b: Host, c: Host, va: Vxtap, ipA: string, ipB: string;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB] = lab.underlay([a, b, c]);
    va = await vxtapUdp(a, lab, ipA, `${A}/16`, [`198.18.2.0/24=${ipB}`], offload);
    await vxtapUdp(b, lab, ipB, `${B}/16`, [`198.18.1.0/24=${ipA}:8285`], offload);
  });
  afterAll(() => lab.cleanup());

  it('takes its MTU from the underlay (1500 - 28)', () => {
    expect(JSON.parse(a.run('ip', '-j', 'link', 'show', 'dev', 'tun0'))[0].mtu).toBe(1472);
  });

  it('pings both ways and moves 50 MB each way intact over TCP', async () => {
    await checkOverlay({ host: a, ip: A, dev: 'tun0' }, { host: b, ip: B, dev: 'tun0' }, (x, y, what) => expect(x, what).toBe(y));
  });

  it('carries a UDP GSO train as its datagrams, as one super-frame through each TUN (USO, UDP GRO) with offloads', async () => {
    // 20 datagrams of 1000 bytes: one 20 + 8 + 20 * 1000 = 20028-byte
    // super-frame on each TUN with offloads; without them the kernel cuts the
    // train before a's TUN, and b's vxtap writes its 20 packets of 1028 bytes one by one.
    let got = { lens: [] as number[], intact: false };
    const [onA, onB] = await framesDuring([{ host: a, dev: 'tun0' }, { host: b, dev: 'tun0' }], 9999, { from: a, dst: B },
      async () => void (got = await udpGsoTrain(a, b, B, 9999, 20, 1000)));
    expect(got.lens).toEqual(Array(20).fill(1000));
    expect(got.intact).toBe(true);
    const packets = offload ? [20 + 8 + 20 * 1000] : Array(20).fill(20 + 8 + 1000);
    expect(onA, 'packets a\'s TUN carried out to vxtap').toEqual(packets);
    expect(onB, 'packets b\'s vxtap wrote into its TUN').toEqual(packets);
    const stats = (await va.stats()) as unknown as { udp: { offloads: { tunUso: boolean } } };
    expect(stats.udp.offloads.tunUso).toBe(offload);
  });

  it('answers a packet with no route with an ICMP net unreachable from its TUN address', async () => {
    const before = (await va.stats()) as unknown as { udp: { unreachable_sent: number }; drops: Record<string, number> };
    // tshark on the TUN sees what vxtap writes back into it.
    const tshark = a.spawn('tshark', ['-i', 'tun0', '-l', '-c', '1', '-f', 'icmp', '-T', 'fields',
      '-e', 'ip.src', '-e', 'ip.dst', '-e', 'icmp.type', '-e', 'icmp.code', '-e', 'udp.dstport', '-E', 'occurrence=f']);
    let out = '';
    let err = '';
    tshark.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    tshark.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually('tshark to capture', () => err.includes('Capturing on'));
    // "Capturing on" can come a moment before tshark really captures: probe
    // until it has seen an answer.
    await eventually('the ICMP error', async () => {
      if (!out.includes('\n')) {
        await a.exec(process.execPath, ['-e', "const s = require('node:dgram').createSocket('udp4'); s.send('probe', 9, '198.18.9.9', () => s.close());"]);
      }
      return out.includes('\n');
    });
    expect(out.trim().split('\n')[0].split('\t')).toEqual([A, A, '3', '0', '9']);
    const after = (await va.stats()) as unknown as typeof before;
    const unreachables = after.udp.unreachable_sent - before.udp.unreachable_sent;
    expect(unreachables).toBeGreaterThanOrEqual(1);
    expect(after.drops.no_route - before.drops.no_route, 'one error per packet with no route').toBe(unreachables);
  });

  it('sends no ICMP error about an ICMP packet with no route', async () => {
    const before = (await va.stats()) as unknown as { udp: { unreachable_sent: number }; drops: Record<string, number> };
    const out = await a.exec('sh', ['-c', 'ping -c 2 -i 0.2 -W 1 198.18.9.9 || true']);
    expect(out).toContain('100% packet loss');
    expect(out).not.toContain('Unreachable');
    const after = (await va.stats()) as unknown as typeof before;
    expect(after.drops.no_route - before.drops.no_route).toBe(2);
    expect(after.udp.unreachable_sent).toBe(before.udp.unreachable_sent);
  });

  it('drops and counts datagrams from a sender that is not a peer', async () => {
    const before = await va.stats();
    const tunBefore = a.linkStats('tun0').rx_packets;
    await sendDatagrams(c, ipA, 8285, [innerPacket(), innerPacket()]);
    await eventually('the unknown sender\'s datagrams to be counted', async () => (await va.stats()).drops.unknown_sender - before.drops.unknown_sender === 2);
    expect(a.linkStats('tun0').rx_packets).toBe(tunBefore);
  });

  it('drops malformed packets from a peer under their reasons and stays up', async () => {
    const v6 = innerPacket();
    v6[0] = 0x65;
    const shortIhl = innerPacket();
    shortIhl[0] = 0x44;
    const long = innerPacket();
    long.writeUInt16BE(200, 2);
    const cases: Array<[string, Buffer[]]> = [
      ['truncated', [Buffer.alloc(0), Buffer.alloc(10, 0x45)]],
      ['bad_ip_version', [v6]],
      ['bad_ip_header', [shortIhl]],
      ['bad_ip_length', [long]],
      ['ttl_expired', [innerPacket(1)]],
    ];
    for (const [reason, datagrams] of cases) {
      const before = (await va.stats()).drops;
      await sendDatagrams(b, ipA, 8285, datagrams);
      await eventually(`${reason} to be counted`, async () => (await va.stats()).drops[reason] - before[reason] === datagrams.length);
      const after = (await va.stats()).drops;
      const others = Object.keys(after).filter((k) => k !== reason && after[k] !== before[k]);
      expect(others, `${reason}: no other counter moves`).toEqual([]);
    }
    expect(va.alive).toBe(true);
    await a.ping(B);
  });
});

// A veth pair with its default offloads (tx checksum on) passes the peer's
// UDP GSO trains whole, so each received datagram is a GRO train of up to 64
// packets.
describe('vxtap udp <-> vxtap udp over a veth pair', () => {
  const lab = new Lab('udptx');
  let a: Host, b: Host, va: Vxtap, vb: Vxtap;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b]);
    va = await vxtapUdp(a, lab, ipA, `${A}/16`, [`198.18.2.0/24=${ipB}`], true);
    vb = await vxtapUdp(b, lab, ipB, `${B}/16`, [`198.18.1.0/24=${ipA}`], true);
  });
  afterAll(() => lab.cleanup());

  it('moves 50 MB each way intact, and a TUN queue that GRO trains fill is written out, not dropped', async () => {
    await checkOverlay({ host: a, ip: A, dev: 'tun0' }, { host: b, ip: B, dev: 'tun0' }, (x, y, what) => expect(x, what).toBe(y));
    for (const v of [va, vb]) expect((await v.stats()).drops.dev_busy, 'dev_busy').toBe(0);
  });

  it('caps the TUN\'s super-frames at the packets one UDP GSO send carries (65507 / 1472 = 44)', async () => {
    expect(JSON.parse(a.run('ip', '-d', '-j', 'link', 'show', 'dev', 'tun0'))[0].gso_max_segs).toBe(44);
    const stats = (await va.stats()) as unknown as { udp: { offloads: { tunGsoMaxSegs: number } } };
    expect(stats.udp.offloads.tunGsoMaxSegs).toBe(44);
  });
});

// On the veth's default offloads and with tx checksum offload off, with
// socat's TUN sized as flanneld sizes flannel0 (underlay - 28 = 1472); and
// once at socat's own 1500, which vxtap does not need lowered: datagrams over
// the underlay MTU come to it fragmented and reassembled by the kernel.
describe.each([
  ...MODES.flatMap((m) => [{ ...m, txChecksum: true, socatMtu: 1472 }, { ...m, txChecksum: false, socatMtu: 1472 }]),
  { offload: true, txChecksum: true, socatMtu: 1500 },
])('vxtap udp <-> socat (flannel udp wire format; offload: $offload, underlay tx checksum: $txChecksum, socat MTU $socatMtu)', ({ offload, txChecksum, socatMtu }) => {
  const lab = new Lab(`socat${offload ? '' : 'nooff'}${txChecksum ? '' : 'x'}${socatMtu}`);
  let a: Host, b: Host, socat: ChildProcess;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500, { txChecksum });
    await vxtapUdp(a, lab, ipA, `${A}/16`, [`198.18.2.0/24=${ipB}`], offload);
    // The peer as DESIGN.md gives it, with the TUN named as flanneld names it.
    socat = b.spawn('socat', [`TUN:${B}/16,tun-type=tun,iff-up,iff-no-pi,tun-name=flannel0`, `UDP-DATAGRAM:${ipA}:8285,bind=${ipB}:8285`]);
    await eventually('socat\'s TUN', () => {
      try {
        b.run('ip', 'link', 'show', 'dev', 'flannel0');
        return true;
      } catch {
        return socat.exitCode === null ? false : Promise.reject(new Error(`socat exited ${socat.exitCode}`));
      }
    });
    if (socatMtu !== 1500) b.ip(`link set dev flannel0 mtu ${socatMtu}`);
  });
  afterAll(() => lab.cleanup());

  it('pings both ways and moves 50 MB each way intact over TCP', async () => {
    await checkOverlay({ host: a, ip: A, dev: 'tun0' }, { host: b, ip: B, dev: 'flannel0' }, (x, y, what) => expect(x, what).toBe(y));
  });

  it('answers a ping of a full socat-MTU packet from socat\'s side', async () => {
    // 1472 bytes of ICMP payload fill a 1500-byte packet: at socat's 1500 its
    // datagram (1528) crosses the underlay in fragments, and a's kernel
    // fragments the reply to fit vxtap's 1472-byte TUN.
    await b.ping(A, 2, 0.2, socatMtu - 28);
  });
});
