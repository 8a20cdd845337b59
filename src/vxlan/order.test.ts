// Order on the wire: a TSO super-frame and a later frame of the same flow in
// one batch from a TAP leave in the order they came, whether they go to a
// remote VTEP the FDB names or to the flood list. The splitter sends its
// segments after the batch; a small frame must not overtake them (a TCP
// receiver counts that as reordering: TcpExtTCPOFOQueue, TCPSACKReorder).
//
// A real VTEP on 127.0.0.1 whose port is one end of a socket pair (as the
// warm-up's are, warmup.ts), its remote a UDP socket on 127.0.0.2: nothing
// leaves loopback.
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { ETHERTYPE_IPV4, IPPROTO_TCP, ethernet, ipv4, tcp } from '../../test/helpers/packets.js';
import { addon, Kind, type NativeEndpoint, WriteMode } from '../io/native.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { Vtep, type PortDevices } from './vtep.js';

const VNET_HDR = 10;
const GSO_TCPV4 = 1;
const MSS = 1400;
const SLOT = 8192;
const MAC_A = '02:00:00:00:0a:01';
const MAC_B = '02:00:00:00:0a:02';
const MAC_UNKNOWN = '02:00:00:00:0a:03';
/** How long the datagrams may take to arrive before the test fails (loopback takes microseconds). */
const ARRIVE_MS = 2000;

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const c of open.splice(0)) c.close();
});

/** A TCP/IPv4 frame of `payload` bytes at `seq`, from A to `dst`. */
function segment(dst: string, seq: number, payload: number): Buffer {
  const t = tcp({ sport: 40000, dport: 5201, seq, ack: 1, flags: 0x18, win: 0xffff, payload: Buffer.alloc(payload, seq & 0xff) });
  return ethernet(MAC_A, dst, ETHERTYPE_IPV4, ipv4('203.0.113.1', '203.0.113.2', IPPROTO_TCP, t));
}

/** Writes frames to the host end in one call, each behind its virtio-net header (a super-frame's with TSO). */
function writeBatch(host: NativeEndpoint, frames: Array<{ frame: Buffer; gso: number }>): void {
  const buf = Buffer.alloc(frames.length * SLOT);
  const offs = new Uint32Array(frames.length);
  const lens = new Uint32Array(frames.length);
  frames.forEach(({ frame, gso }, k) => {
    const o = k * SLOT + VNET_HDR;
    if (gso > 0) {
      buf[o - 10] = 1; // NEEDS_CSUM
      buf[o - 9] = GSO_TCPV4;
      buf.writeUInt16LE(14 + 40, o - 8);
      buf.writeUInt16LE(gso, o - 6);
      buf.writeUInt16LE(14 + 20, o - 4);
      buf.writeUInt16LE(16, o - 2);
    }
    frame.copy(buf, o);
    offs[k] = o;
    lens[k] = frame.length;
  });
  host.writeFrames(buf, offs, lens, frames.length, WriteMode.InBuffer, VNET_HDR, null, new Int32Array(frames.length));
}

/** A VTEP with one port (a socket pair) on VNI 42, B behind the remote 127.0.0.2, which also is the flood list. */
async function start(): Promise<{ host: NativeEndpoint; remote: Socket; vtep: Vtep }> {
  const remoteAddr = parseIpv4Addr('127.0.0.2');
  let host: NativeEndpoint | null = null;
  const devices: PortDevices = {
    links: false,
    open(name) {
      const [tap, h] = addon.socketPair();
      host = new addon.Endpoint(h, Kind.Device, true, 14);
      return { name, endpoint: new addon.Endpoint(tap, Kind.Device, true, 14), tso: true, uso: true };
    },
  };
  const remote = createSocket('udp4');
  open.push(remote);
  await new Promise<void>((r) => remote.bind(0, '127.0.0.2', r));
  const vtep = new Vtep({
    local: parseIpv4Addr('127.0.0.1'), dstPort: remote.address().port, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false,
    offload: true, queues: 1, queue: 0,
    networks: [{
      vni: 42, remotes: [remoteAddr], learning: false, stickyLocal: false, ageingSec: 300, maxAddress: 0, allowInnerVlan: false,
      proxy: false, statics: [{ mac: 0x02000000_0a02, remote: remoteAddr }], ports: [{ dev: 'order', mtu: 1500 }],
    }],
  }, devices);
  vtep.start();
  open.push(vtep);
  open.push(host!);
  return { host: host!, remote, vtep };
}

/** The inner TCP sequence numbers of the next `n` datagrams the remote gets, in arrival order. */
function sequences(remote: Socket, n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const seqs: number[] = [];
    const timer = setTimeout(() => reject(new Error(`${seqs.length} of ${n} datagrams arrived: ${seqs.join(' ')}`)), ARRIVE_MS);
    remote.on('message', (m: Buffer) => {
      seqs.push(m.readUInt32BE(8 + 14 + 20 + 4)); // VXLAN, Ethernet, IPv4, then the TCP sequence number
      if (seqs.length === n) {
        clearTimeout(timer);
        resolve(seqs);
      }
    });
  });
}

describe.each([
  { to: 'a remote the FDB names', dst: MAC_B },
  { to: 'the flood list', dst: MAC_UNKNOWN },
])('a batch from a TAP to $to', ({ dst }) => {
  it('leaves in the order it came: a super-frame\'s segments before the small frame after it', async () => {
    const { host, remote, vtep } = await start();
    const got = sequences(remote, 5);
    writeBatch(host, [
      { frame: segment(dst, 1000, 3 * MSS), gso: MSS },
      { frame: segment(dst, 1000 + 3 * MSS, 100), gso: 0 },
      { frame: segment(dst, 1000 + 3 * MSS + 100, 200), gso: 0 },
    ]);
    expect(await got).toEqual([1000, 1000 + MSS, 1000 + 2 * MSS, 1000 + 3 * MSS, 1000 + 3 * MSS + 100]);
    expect(Object.values((vtep.stats() as { drops: Record<string, number> }).drops).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('keeps a small frame before a later super-frame in front of its segments', async () => {
    const { host, remote } = await start();
    const got = sequences(remote, 4);
    writeBatch(host, [
      { frame: segment(dst, 5000, 100), gso: 0 },
      { frame: segment(dst, 5100, 3 * MSS), gso: MSS },
    ]);
    expect(await got).toEqual([5000, 5100, 5100 + MSS, 5100 + 2 * MSS]);
  });
});
