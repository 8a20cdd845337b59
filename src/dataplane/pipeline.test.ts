// Issue 16, item 9: the two pipelines had drifted apart. vtep.ts counted a
// super-frame that cannot be split as bad_gso without mirroring it to the
// capture drop point, and overlay.ts did mirror it. Both now split through
// Pipeline.sendSegments; this checks each pipeline, as constructed for the
// CLI, with a real capture session and the native splitter.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETHERTYPE_IPV4, IPPROTO_UDP, ethernet, ipv4, udp } from '../../test/helpers/packets.js';
import type { CaptureHub } from '../capture/hub.js';
import { type Capture, readCapture } from '../capture/pcapng.js';
import { DROP_BAD_GSO, DROP_NAMES } from '../core/drops.js';
import { TsoSplitter } from '../io/offload.js';
import { UdpOverlay } from '../udp/overlay.js';
import { Vtep } from '../vxlan/vtep.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import type { Pipeline } from './pipeline.js';

const LOCAL = parseIpv4Addr('198.51.100.1');
const dir = mkdtempSync(join(tmpdir(), 'vxtap-pipeline-'));
const sock = join(dir, 'c.sock');
let server: Server;
let hub: CaptureHub;

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (s) => {
    s.once('data', (line) => void hub.attach(JSON.parse(line.toString()), s));
  });
  await new Promise<void>((r) => server.listen(sock, r));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Attaches a capture of the drop point to `h`; done() half-closes and reads the stream. */
async function captureDrops(h: CaptureHub): Promise<() => Promise<Capture>> {
  hub = h;
  const c = createConnection(sock);
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  c.write(JSON.stringify({ cmd: 'capture', points: ['drop'] }) + '\n');
  while (!h.active) await new Promise((r) => setTimeout(r, 5));
  return async () => {
    c.end();
    if (!c.closed) await once(c, 'close');
    return readCapture(Buffer.concat(chunks));
  };
}

/** The virtio-net header's length, in front of each frame a vnet TAP/TUN hands over. */
const VNET_HDR = 10;
const GSO_TCPV4 = 1;

/**
 * `frame` behind a virtio-net header claiming a TCP/IPv4 super-frame
 * (gso_size 1000) whose transport header starts at `l4`: the splitter
 * refuses it, since what follows the IP header is UDP.
 */
function unsplittable(frame: Buffer, l4: number): { buf: Buffer; off: number } {
  const buf = Buffer.alloc(64 + frame.length);
  const off = 64;
  buf[off - VNET_HDR] = 1; // NEEDS_CSUM
  buf[off - VNET_HDR + 1] = GSO_TCPV4;
  buf.writeUInt16LE(l4 + 20, off - VNET_HDR + 2);
  buf.writeUInt16LE(1000, off - VNET_HDR + 4);
  buf.writeUInt16LE(l4, off - VNET_HDR + 6);
  buf.writeUInt16LE(16, off - VNET_HDR + 8);
  frame.copy(buf, off);
  return { buf, off };
}

type Splitting = { sendSegments(src: Buffer, s: TsoSplitter, frames: number, vni: number): void };

/** Splits the frame as the pipeline's batch handler does, then hands the result to its sendSegments. */
function split(p: Pipeline, frame: Buffer, l4: number, ethernet: boolean, vni: number): void {
  const { buf, off } = unsplittable(frame, l4);
  const s = new TsoSplitter(4);
  s.push(off, frame.length, 0);
  (p as unknown as Splitting).sendSegments(buf, s, s.split(buf, VNET_HDR, ethernet, null), vni);
}

const packet = ipv4('203.0.113.1', '203.0.113.2', IPPROTO_UDP, udp(40000, 5201, Buffer.alloc(3000, 0x5a)));

describe('bad_gso (issue 16, item 9)', () => {
  it('is counted and mirrored to the drop point by the VXLAN pipeline', async () => {
    const vtep = new Vtep({ local: LOCAL, dstPort: 4789, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false, offload: true, networks: [] });
    const done = await captureDrops(vtep.capture);
    const frame = ethernet('02:00:00:00:00:01', '02:00:00:00:00:02', ETHERTYPE_IPV4, packet);
    split(vtep, frame, 14 + 20, true, 42);
    const cap = await done();
    expect(vtep.drops[DROP_BAD_GSO]).toBe(1);
    expect(cap.packets.map((p) => [p.iface.name, p.comment, p.data.equals(frame)])).toEqual([['drop', DROP_NAMES[DROP_BAD_GSO], true]]);
  });

  it('is counted and mirrored to the drop point by the udp overlay', async () => {
    const overlay = new UdpOverlay({
      local: LOCAL, port: 8285, dev: 'unused0', address: parseIpv4Addr('198.18.1.1'), cidr: '198.18.1.1/16', mtu: 1472,
      routes: [], kernelRoutes: false, offload: true,
    });
    const done = await captureDrops(overlay.capture);
    split(overlay, packet, 20, false, -1);
    const cap = await done();
    expect(overlay.drops[DROP_BAD_GSO]).toBe(1);
    expect(cap.packets.map((p) => [p.iface.name, p.comment, p.data.equals(packet)])).toEqual([['drop', DROP_NAMES[DROP_BAD_GSO], true]]);
  });
});
