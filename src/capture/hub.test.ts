import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_UDP, arp, echo, ethernet, ipv4, udp, vxlan } from '../../test/helpers/packets.js';
import { DROP_NAMES, DROP_NO_ROUTE, DROP_TAP_BUSY, DROP_UNKNOWN_SENDER, DROP_UNKNOWN_VNI } from '../core/drops.js';
import { HEADER_STRIDE } from '../io/queues.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { OUTER_HLEN, writeOuterHeaders } from '../wire/outer.js';
import { summarize } from './decode.js';
import { CaptureHub } from './hub.js';
import { type Capture, LINKTYPE_ETHERNET, LINKTYPE_RAW, readCapture } from './pcapng.js';
import {
  DROP, NO_REASON, OVERLAY_DROP, OVERLAY_WIRE_RX, OVERLAY_WIRE_TX, TAP_RX, TAP_TX, TUN_RX, TUN_TX, WIRE_RX, WIRE_TX,
} from './points.js';
import { ControlServer } from '../control/server.js';
import { DEFAULT_BUFFER_KIB } from './session.js';

const LOCAL = parseIpv4Addr('198.51.100.1');
const PEER = parseIpv4Addr('198.51.100.2');
const LOCAL_MAC = 0x0a_00_00_00_00_01;
const PEER_MAC = 0x0a_00_00_00_00_02;
const macs = { macOf: (ip: number) => (ip === LOCAL ? LOCAL_MAC : ip === PEER ? PEER_MAC : 0), refresh: async () => {} };

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';
const ping = ethernet(A, B, ETHERTYPE_IPV4, ipv4('203.0.113.1', '203.0.113.2', IPPROTO_ICMP, echo(8, 7, 1)));
const arpFrame = ethernet(A, 'ff:ff:ff:ff:ff:ff', ETHERTYPE_ARP, arp(1, A, '203.0.113.1', '00:00:00:00:00:00', '203.0.113.2'));
const INNER = `${A} > ${B}, IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id 7, seq 1, length 64`;

const dir = mkdtempSync(join(tmpdir(), 'vxtap-hub-'));
let server: Server;
let hub: CaptureHub;

beforeAll(async () => {
  server = createServer({ allowHalfOpen: true }, (sock) => {
    sock.once('data', (line) => void hub.attach(JSON.parse(line.toString()), sock).catch((e: Error) => sock.end(`{"error":${JSON.stringify(e.message)}}\n`)));
  });
  await new Promise<void>((r) => server.listen(join(dir, 'c.sock'), r));
});
afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A client that attaches with `req` and collects the stream; call done() to half-close and read it all. */
async function attach(req: object): Promise<{ sock: Socket; done: () => Promise<Capture> }> {
  const sock = createConnection(join(dir, 'c.sock'));
  const chunks: Buffer[] = [];
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.write(JSON.stringify({ cmd: 'capture', ...req }) + '\n');
  // Attached when the header arrives.
  while (chunks.length === 0 && !sock.destroyed) await new Promise((r) => setTimeout(r, 5));
  return {
    sock,
    done: async () => {
      sock.end();
      if (!sock.closed) await once(sock, 'close');
      return readCapture(Buffer.concat(chunks));
    },
  };
}

describe('capture hub', () => {
  it('is inactive until a session attaches, and again after it leaves', async () => {
    hub = new CaptureHub(4789, macs);
    expect(hub.active).toBe(false);
    const c = await attach({});
    expect(hub.active).toBe(true);
    expect(hub.stats().sessions).toBe(1);
    await c.done();
    await new Promise((r) => setImmediate(r));
    expect(hub.active).toBe(false);
    expect(hub.stats()).toEqual({ sessions: 0, captured: 0, lost: 0 });
  });

  it('streams the chosen points through the filter, with synthesized outer headers, comments and statistics', async () => {
    hub = new CaptureHub(4789, macs);
    const c = await attach({ points: ['tap-rx', 'wire-rx', 'wire-tx', 'drop'], filter: 'icmp', snaplen: 120 });
    const t0 = Date.now() / 1000;
    const datagram = vxlan(42, ping);
    hub.frame(TAP_RX, ping, 0, ping.length, 42, NO_REASON);
    hub.frame(TAP_RX, arpFrame, 0, arpFrame.length, 42, NO_REASON); // filtered out
    hub.frame(TAP_TX, ping, 0, ping.length, 42, NO_REASON); // point not chosen
    hub.datagram(WIRE_RX, datagram, 0, datagram.length, PEER, 50000, LOCAL, 4789, NO_REASON);
    const hdr = Buffer.alloc(HEADER_STRIDE * 2);
    writeOuterHeaders(hdr, HEADER_STRIDE, LOCAL, PEER, 50001, 4789, datagram.length);
    hub.packet(WIRE_TX, hdr, HEADER_STRIDE, datagram, 0, datagram.length, NO_REASON);
    const unknown = vxlan(43, ping);
    hub.datagram(DROP, unknown, 0, unknown.length, PEER, 50000, LOCAL, 4789, DROP_UNKNOWN_VNI);
    const cap = await c.done();
    const t1 = Date.now() / 1000;

    expect(cap.ifaces.map((i) => i.name)).toEqual(['tap-rx', 'wire-rx', 'wire-tx', 'drop']);
    expect(cap.ifaces.every((i) => i.linktype === LINKTYPE_ETHERNET && i.snaplen === 120)).toBe(true);
    const outerLen = 14 + OUTER_HLEN + datagram.length;
    expect(cap.packets.map((p) => [p.iface.name, p.data.length, p.origLen, p.comment])).toEqual([
      ['tap-rx', ping.length, ping.length, undefined],
      ['wire-rx', 120, outerLen, undefined],
      ['wire-tx', 120, outerLen, undefined],
      ['drop', 120, outerLen, DROP_NAMES[DROP_UNKNOWN_VNI]],
    ]);
    const lines = cap.packets.map((p) => summarize(p.data, p.origLen, LINKTYPE_ETHERNET));
    expect(lines).toEqual([
      `IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id 7, seq 1, length 64`,
      `IP 198.51.100.2.50000 > 198.51.100.1.4789: VXLAN vni 42: ${INNER}`,
      `IP 198.51.100.1.50001 > 198.51.100.2.4789: VXLAN vni 42: ${INNER}`,
      `IP 198.51.100.2.50000 > 198.51.100.1.4789: VXLAN vni 43: ${INNER}`,
    ]);
    // Outer MACs: the peer's towards us at wire-rx, ours towards it at wire-tx.
    expect(cap.packets[1].data.subarray(0, 12).toString('hex')).toBe('0a0000000001' + '0a0000000002');
    expect(cap.packets[2].data.subarray(0, 12).toString('hex')).toBe('0a0000000002' + '0a0000000001');
    for (const p of cap.packets) {
      const t = p.sec + p.nsec / 1e9;
      expect(t).toBeGreaterThanOrEqual(t0 - 0.01);
      expect(t).toBeLessThanOrEqual(t1 + 0.01);
    }
    // The statistics blocks: one frame matched at each point, none lost.
    expect(cap.ifaces.map((i) => [i.received, i.dropped])).toEqual([[1, 0], [1, 0], [1, 0], [1, 0]]);
    expect(hub.stats()).toEqual({ sessions: 0, captured: 4, lost: 0 });
  });

  it('under a reader that does not read, loses capture frames (counted) and never blocks the caller', async () => {
    hub = new CaptureHub(4789, macs);
    const c = await attach({ points: ['tap-rx'], nano: true });
    c.sock.pause();
    const frame = Buffer.concat([ping, Buffer.alloc(1400, 0x5a)]);
    const total = Math.ceil((3 * DEFAULT_BUFFER_KIB * 1024) / frame.length);
    // The reader stays paused until every frame has been handed over: each
    // call returns at once (nothing to await), and each frame is either
    // captured or counted as lost, so the caller never waits for the reader.
    for (let i = 0; i < total; i++) {
      expect(hub.frame(TAP_RX, frame, 0, frame.length, 42, NO_REASON)).toBeUndefined();
      if (i % 500 === 0) await new Promise((r) => setImmediate(r)); // let the drain run, as between batches
    }
    const s = hub.stats();
    expect(s.lost).toBeGreaterThan(0);
    expect(s.captured + s.lost).toBe(total);
    expect(c.sock.isPaused(), 'the reader never read').toBe(true);
    c.sock.resume();
    const cap = await c.done();
    // Everything that was captured arrives, intact and in order; the file counts the rest as dropped.
    expect(cap.packets).toHaveLength(s.captured);
    expect(cap.packets.every((p) => p.data.equals(frame))).toBe(true);
    expect(cap.ifaces[0]).toMatchObject({ received: total, dropped: s.lost, unitsPerSec: 1_000_000_000n });
  });

  it('refuses a bad request with an error naming the field, before streaming anything', async () => {
    hub = new CaptureHub(4789, macs);
    for (const [req, msg] of [
      [{ points: ['nope'] }, /^capture: points\[0\]: /],
      [{ filter: 'vni x' }, /^filter: expected a VNI/],
      [{ snaplen: 0 }, /^capture: snaplen: /],
      [{ buffer: 1 }, /^capture: buffer: /],
      [{ vni: 'x' }, /^capture: vni: /],
      [{ frobnicate: 1 }, /^capture: \(top level\): unknown field\(s\) frobnicate/],
    ] as const) {
      const sock = createConnection(join(dir, 'c.sock'));
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString()));
      sock.write(JSON.stringify({ cmd: 'capture', ...req }) + '\n');
      await once(sock, 'close');
      expect((JSON.parse(text) as { error: string }).error).toMatch(msg);
    }
    expect(hub.active).toBe(false);
  });
});

describe('capture hub behind the control socket', () => {
  it('answers a filter of 9,000 terms with one error line naming --filter and keeps mirroring frames', async () => {
    hub = new CaptureHub(4789, macs);
    const control = new ControlServer(join(dir, 'filter.sock'), {}, { capture: (req, sock) => hub.attach(req, sock) });
    await control.listen();
    try {
      const sock = createConnection(control.path);
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString()));
      sock.write(JSON.stringify({ cmd: 'capture', filter: Array(9000).fill('tcp').join(' or ') }) + '\n');
      await once(sock, 'close');
      expect(text.endsWith('\n') && text.indexOf('\n') === text.length - 1).toBe(true);
      expect((JSON.parse(text) as { error: string }).error).toMatch(/^--filter: \d+ characters, more than the limit of \d+/);
      expect(hub.active).toBe(false);
      // The instance lives on: a frame passes the hub and a good request still attaches.
      hub.frame(TAP_RX, ping, 0, ping.length, 42, NO_REASON);
      const c = await attach({ points: ['tap-rx'], filter: 'icmp' });
      hub.frame(TAP_RX, ping, 0, ping.length, 42, NO_REASON);
      expect((await c.done()).packets).toHaveLength(1);
    } finally {
      control.close();
    }
  });
});

describe('capture hub with the udp overlay', () => {
  const OTHER = parseIpv4Addr('198.51.100.3');
  const request = ipv4('198.18.1.1', '198.18.2.1', IPPROTO_ICMP, echo(8, 7, 1));
  const reply = ipv4('198.18.2.1', '198.18.1.1', IPPROTO_ICMP, echo(0, 7, 1));
  const elsewhere = ipv4('198.18.1.1', '198.18.3.1', IPPROTO_ICMP, echo(8, 7, 2));
  const noRoute = ipv4('198.18.1.1', '198.18.9.9', IPPROTO_UDP, udp(40000, 9, Buffer.from('probe')));
  const REQ = 'IP 198.18.1.1 > 198.18.2.1: ICMP echo request, id 7, seq 1, length 64';
  const REP = 'IP 198.18.2.1 > 198.18.1.1: ICMP echo reply, id 7, seq 1, length 64';
  const summaries = (cap: Capture) => cap.packets.map((p) => [p.iface.name, summarize(p.data, p.origLen, p.iface.linktype), p.comment]);

  it('describes the TUN points and drop as raw IP, the wire points as Ethernet, and filters each by its link type', async () => {
    hub = new CaptureHub(null, macs);
    hub.addOverlay(8285);
    const c = await attach({ filter: 'host 198.18.2.1 or host 198.18.9.9' });
    hub.frame(TUN_RX, request, 0, request.length, -1, NO_REASON);
    hub.frame(TUN_RX, elsewhere, 0, elsewhere.length, -1, NO_REASON); // filtered out
    hub.datagram(OVERLAY_WIRE_TX, request, 0, request.length, LOCAL, 8285, PEER, 8285, NO_REASON);
    hub.datagram(OVERLAY_WIRE_RX, reply, 0, reply.length, PEER, 8285, LOCAL, 8285, NO_REASON);
    hub.frame(TUN_TX, reply, 0, reply.length, -1, NO_REASON);
    hub.frame(OVERLAY_DROP, noRoute, 0, noRoute.length, -1, DROP_NO_ROUTE);
    hub.datagram(OVERLAY_DROP, reply, 0, reply.length, OTHER, 8285, LOCAL, 8285, DROP_UNKNOWN_SENDER);
    hub.frame(OVERLAY_DROP, reply, 0, reply.length, -1, DROP_TAP_BUSY);
    const cap = await c.done();

    expect(cap.ifaces.map((i) => [i.name, i.linktype])).toEqual([
      ['tap-rx', LINKTYPE_RAW], ['tap-tx', LINKTYPE_RAW], ['wire-rx', LINKTYPE_ETHERNET], ['wire-tx', LINKTYPE_ETHERNET], ['drop', LINKTYPE_RAW],
    ]);
    expect(summaries(cap)).toEqual([
      ['tap-rx', REQ, undefined],
      ['wire-tx', `IP 198.51.100.1.8285 > 198.51.100.2.8285: UDP-overlay: ${REQ}`, undefined],
      ['wire-rx', `IP 198.51.100.2.8285 > 198.51.100.1.8285: UDP-overlay: ${REP}`, undefined],
      ['tap-tx', REP, undefined],
      ['drop', 'IP 198.18.1.1.40000 > 198.18.9.9.9: UDP, length 5', 'no_route'],
      ['drop', `IP 198.51.100.3.8285 > 198.51.100.1.8285: UDP-overlay: ${REP}`, 'unknown_sender'],
      ['drop', REP, DROP_NAMES[DROP_TAP_BUSY]],
    ]);
    // The wire points have outer MACs; the dropped datagram has no Ethernet header at all.
    expect(cap.packets[1].data.subarray(0, 14).toString('hex')).toBe('0a0000000002' + '0a0000000001' + '0800');
    expect(cap.packets[5].data.length).toBe(28 + reply.length);
    expect(cap.ifaces.map((i) => i.received)).toEqual([1, 1, 1, 1, 3]);
  });

  it('reads the overlay\'s own port as the udp overlay in filters', async () => {
    hub = new CaptureHub(null, macs);
    hub.addOverlay(9000);
    const c = await attach({ points: ['wire-tx'], filter: 'icmp and host 198.18.2.1' });
    hub.datagram(OVERLAY_WIRE_TX, request, 0, request.length, LOCAL, 9000, PEER, 9000, NO_REASON);
    hub.datagram(OVERLAY_WIRE_TX, elsewhere, 0, elsewhere.length, LOCAL, 9000, PEER, 9000, NO_REASON);
    expect((await c.done()).packets).toHaveLength(1);
  });

  it('refuses --vni when the instance runs only the udp overlay', async () => {
    hub = new CaptureHub(null, macs);
    hub.addOverlay(8285);
    const sock = createConnection(join(dir, 'c.sock'));
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString()));
    sock.write(JSON.stringify({ cmd: 'capture', vni: 42 }) + '\n');
    await once(sock, 'close');
    expect((JSON.parse(text) as { error: string }).error).toMatch(/^capture: vni: this instance runs only the udp overlay/);
    expect(hub.active).toBe(false);
  });

  it('serves a VXLAN network and the udp overlay in one process: one interface per point of each, named by pipeline', async () => {
    hub = new CaptureHub(4789, macs);
    hub.addOverlay(8285);
    const c = await attach({ points: ['tap-rx', 'drop'] });
    const vni = await attach({ points: ['tap-rx'], vni: 42 });
    hub.frame(TAP_RX, ping, 0, ping.length, 42, NO_REASON);
    hub.frame(TUN_RX, request, 0, request.length, -1, NO_REASON);
    hub.frame(OVERLAY_DROP, noRoute, 0, noRoute.length, -1, DROP_NO_ROUTE);
    const cap = await c.done();
    expect(cap.ifaces.map((i) => [i.name, i.linktype])).toEqual([
      ['vxlan:tap-rx', LINKTYPE_ETHERNET], ['vxlan:drop', LINKTYPE_ETHERNET], ['udp:tap-rx', LINKTYPE_RAW], ['udp:drop', LINKTYPE_RAW],
    ]);
    expect(summaries(cap)).toEqual([
      ['vxlan:tap-rx', 'IP 203.0.113.1 > 203.0.113.2: ICMP echo request, id 7, seq 1, length 64', undefined],
      ['udp:tap-rx', REQ, undefined],
      ['udp:drop', 'IP 198.18.1.1.40000 > 198.18.9.9.9: UDP, length 5', 'no_route'],
    ]);
    // --vni selects the VXLAN network: the overlay's packets have no VNI.
    expect((await vni.done()).packets.map((p) => p.iface.name)).toEqual(['vxlan:tap-rx']);
  });
});
