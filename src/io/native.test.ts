// The addon's contract at its edges (issue 16): arguments are checked before
// any byte is touched, a device write that fails is reported frame by frame,
// and a descriptor that can never be read again stops its poll and says so.
//
// The TAP devices here are never brought up, under names unique to this
// process: nothing they hold reaches a network, and deleting them is the
// event under test.
import { execFileSync, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice } from './device.js';
import { ADDON_PATH, addon, Kind, type NativeEndpoint, WriteMode } from './native.js';

const EIO = 5;
const ECONNREFUSED = 111;
const EINVAL = 22;
const EBADFD = 77;

/**
 * A TCP/IPv4 segment whose IP header starts at l3off (after Ethernet when
 * l3off is 14), with its checksum left partial as a kernel sender leaves it:
 * what GRO accepts to start a run.
 */
function segment(l3off: number, seq: number, payload = 100): Buffer {
  const b = Buffer.alloc(l3off + 40 + payload, 0x11);
  if (l3off === 14) b.writeUInt16BE(0x0800, 12);
  const ip = l3off;
  b.fill(0, ip, ip + 40);
  b[ip] = 0x45;
  b.writeUInt16BE(40 + payload, ip + 2);
  b.writeUInt16BE(0x4000, ip + 6);
  b[ip + 8] = 64;
  b[ip + 9] = 6;
  b.writeUInt32BE(0xcb007101, ip + 12);
  b.writeUInt32BE(0xcb007102, ip + 16);
  const tcp = ip + 20;
  b.writeUInt32BE(seq, tcp + 4);
  b[tcp + 12] = 5 << 4;
  b[tcp + 13] = 0x10;
  b.writeUInt16BE(501, tcp + 14);
  let sum = 0x0006 + 20 + payload;
  for (let k = 12; k < 20; k += 2) sum += b.readUInt16BE(ip + k);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(sum, tcp + 16);
  return b;
}

/** Two consecutive segments back to back, with their offsets and lengths. */
function run(l3off: number): { buf: Buffer; offs: Uint32Array; lens: Uint32Array } {
  const a = segment(l3off, 1000);
  const b = segment(l3off, 1100);
  return { buf: Buffer.concat([a, b]), offs: Uint32Array.of(0, a.length), lens: Uint32Array.of(a.length, b.length) };
}

/**
 * Runs `body` (JS, with `addon` and `buf` bound; buf is `buf`, or the JS
 * expression `make`) in a child process, so that a crash fails the test
 * instead of vitest; returns what it printed.
 */
function isolated(body: string, buf: Buffer | null, make = ''): string {
  const script = [
    `const addon = require(${JSON.stringify(ADDON_PATH)});`,
    `const buf = ${buf === null ? make : `Buffer.from(${JSON.stringify(buf.toString('base64'))}, 'base64')`};`,
    `try { console.log('returned', ${body}); } catch (e) { console.log(e.constructor.name, e.message); }`,
  ].join('\n');
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  return r.signal !== null ? `killed by ${r.signal}` : r.stdout.trim();
}

const opened: NativeEndpoint[] = [];
afterEach(() => {
  for (const e of opened.splice(0)) e.close();
});

/** A UDP socket on loopback that nothing is sent from: something to call the methods on. */
function socket(): NativeEndpoint {
  const ep = new addon.Endpoint(addon.openUdp('127.0.0.1', 0, 0, 0), Kind.Datagram);
  opened.push(ep);
  return ep;
}

let devices = 0;
/** A TAP that is never brought up, under a name unique to this process. */
function tap(): { name: string; endpoint: NativeEndpoint } {
  const dev = openDevice(`vxnt${process.pid % 100000}x${devices++}`, { tap: true });
  opened.push(dev.endpoint);
  return dev;
}

describe('issue 16.1: offsets and lengths are checked against the buffers', () => {
  it('groCoalesce with l3off 4000 throws a TypeError instead of copying 4060 bytes into the 94-byte run header', () => {
    const r = run(4000);
    const body = `addon.groCoalesce(buf, Uint32Array.of(${r.offs.join(',')}), Uint32Array.of(${r.lens.join(',')}), 2, 4000, Buffer.alloc(70000))`;
    expect(isolated(body, r.buf)).toMatch(/^TypeError groCoalesce: argument 4 \(l3off\)/);
  });

  it('groCoalesce throws a TypeError for a lone frame longer than out, instead of writing past it', () => {
    expect(isolated('addon.groCoalesce(buf, Uint32Array.of(0), Uint32Array.of(100000), 1, 0, Buffer.alloc(65535))', null, 'Buffer.alloc(100000)'))
      .toMatch(/^TypeError groCoalesce: a frame lies outside buf, or is longer than out/);
  });

  it('every entry point throws a TypeError for an offset, length or count beyond its buffers', () => {
    const r = run(14);
    const out = Buffer.alloc(65549);
    const u32 = (n: number) => new Uint32Array(n);
    expect(() => addon.groCoalesce(r.buf, r.offs, Uint32Array.of(r.lens[0], r.buf.length), 2, 14, out)).toThrow(TypeError);
    expect(() => addon.groCoalesce(r.buf, r.offs, r.lens, 3, 14, out)).toThrow(TypeError);
    expect(() => addon.groCoalesce(r.buf, r.offs, r.lens, 2, 14, Buffer.alloc(1000))).toThrow(TypeError);
    expect(() => addon.tsoSplit(r.buf, 10, Uint32Array.of(r.buf.length), Uint32Array.of(1), 1, true, null, out, u32(8), u32(8), u32(1), u32(1))).toThrow(TypeError);
    expect(() => addon.tsoSplit(r.buf, 4, Uint32Array.of(20), u32(1), 1, true, null, out, u32(8), u32(8), u32(1), u32(1))).toThrow(TypeError);
    expect(() => addon.tsoSplit(r.buf, 10, r.offs, r.lens, 2, true, null, out, u32(8), u32(8), u32(1), u32(2))).toThrow(TypeError);
    expect(() => addon.tsoSplit(r.buf, 10, r.offs, r.lens, 2, true, Buffer.alloc(300), out, u32(8), u32(8), u32(2), u32(2))).toThrow(TypeError);
    const ep = socket();
    const status = new Int32Array(2);
    expect(() => ep.writeFrames(r.buf, r.offs, Uint32Array.of(1, r.buf.length), 2, WriteMode.Plain, 0, null, status)).toThrow(TypeError);
    expect(() => ep.writeFrames(r.buf, r.offs, r.lens, 2, WriteMode.Plain, 0, null, new Int32Array(1))).toThrow(TypeError);
    expect(() => ep.writeFrames(r.buf, r.offs, r.lens, 2, 7 as WriteMode, 0, null, status)).toThrow(TypeError);
    const addrs = u32(2);
    const ports = new Uint16Array(2);
    expect(() => ep.sendDatagrams(null, 0, 0, r.buf, r.offs, Uint32Array.of(1, r.buf.length), addrs, ports, 2, status)).toThrow(TypeError);
    expect(() => ep.sendDatagrams(Buffer.alloc(32), 32, 28, r.buf, r.offs, r.lens, addrs, ports, 2, status)).toThrow(TypeError);
    expect(() => ep.sendDatagrams(null, 0, 0, r.buf, r.offs, r.lens, addrs, ports, -1, status)).toThrow(TypeError);
    const cb = () => undefined;
    expect(() => ep.startRx(Buffer.alloc(2048 * 3), 2048, 0, 4, u32(4), u32(4), new Uint16Array(4), null, cb)).toThrow(TypeError);
    expect(() => ep.startRx(Buffer.alloc(2048 * 4), 2048, 0, 4, u32(3), u32(4), new Uint16Array(4), null, cb)).toThrow(TypeError);
    expect(() => ep.startRx(Buffer.alloc(2048 * 4), 2048, 2048, 4, u32(4), u32(4), new Uint16Array(4), null, cb)).toThrow(TypeError);
    expect(() => ep.startRx(Buffer.alloc(1 << 20), 1, 0, 1 << 20, u32(1 << 20), u32(1 << 20), new Uint16Array(1 << 20), null, cb)).toThrow(TypeError);
    expect(() => new addon.Endpoint(100000, Kind.Device, true, 4000)).toThrow(TypeError);
    expect(() => new addon.Endpoint(100000, 3 as Kind)).toThrow(TypeError);
    expect(() => addon.openUdp('127.0.0.1', 65536, 0, 0)).toThrow(TypeError);
    // Checked before the syscall, so these change nothing.
    expect(() => addon.capSet(-1, 0, 0)).toThrow(TypeError);
    expect(() => addon.capSet(2 ** 53, 0, 0)).toThrow(TypeError);
    expect(() => addon.ambientRaise(64)).toThrow(TypeError);
    expect(() => addon.setKeepCaps(1 as unknown as boolean)).toThrow(TypeError);
  });
});

describe('issue 16.2: typed arrays must have the element type each argument takes', () => {
  it('throws a TypeError for a Uint16Array where a Uint32Array is due, and the like', () => {
    const r = run(14);
    const out = Buffer.alloc(65549);
    const u32 = (n: number) => new Uint32Array(n);
    expect(() => addon.groCoalesce(r.buf, Uint16Array.from(r.offs), r.lens, 2, 14, out)).toThrow(TypeError);
    expect(() => addon.groCoalesce(r.buf, r.offs, r.lens, 2, 14, new Uint16Array(40000) as unknown as Buffer)).toThrow(TypeError);
    expect(() => addon.tsoSplit(r.buf, 10, r.offs, r.lens, 2, true, null, out, u32(8), u32(8), new Int32Array(2) as unknown as Uint32Array, u32(2)))
      .toThrow(TypeError);
    const ep = socket();
    const status = new Int32Array(2);
    expect(() => ep.writeFrames(r.buf, r.offs, r.lens, 0, WriteMode.Plain, 0, null, new Uint32Array(2) as unknown as Int32Array)).toThrow(TypeError);
    expect(() => ep.writeFrames(r.buf, r.offs, r.lens, 0, WriteMode.Plain, 0, new Uint32Array(2) as unknown as Uint16Array, status)).toThrow(TypeError);
    expect(() => ep.sendDatagrams(null, 0, 0, r.buf, r.offs, r.lens, u32(2), u32(2) as unknown as Uint16Array, 0, status)).toThrow(TypeError);
    expect(() => ep.startRx(Buffer.alloc(8192), 2048, 0, 4, new Uint16Array(8) as unknown as Uint32Array, u32(4), new Uint16Array(4), null, () => undefined))
      .toThrow(TypeError);
  });
});

/** Resolves once `done()` holds, polling the event loop (the poll callbacks run on it); rejects after 10 s. */
async function until(done: () => boolean): Promise<void> {
  for (let k = 0; k < 1000 && !done(); k++) await new Promise((r) => setTimeout(r, 10));
  if (!done()) throw new Error('the event did not come');
}

describe('issue 16.3: a descriptor that polls POLLERR does not go silently dead', () => {
  it('reports EBADFD once, with stopped, when its TAP is deleted, and can be closed after', async () => {
    const dev = tap();
    const events: Array<[number, boolean]> = [];
    dev.endpoint.startRx(Buffer.alloc(4 * 2048), 2048, 64, 4, new Uint32Array(4), null, null, null, (n, stopped) => events.push([n, stopped]));
    execFileSync('ip', ['link', 'del', 'dev', dev.name]);
    await until(() => events.length > 0 && events[events.length - 1][1]);
    // One more turn of the loop: a stopped poll calls back no more.
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual([[-EBADFD, true]]);
  });
});

/** A UDP port on loopback that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

describe('issue 16.3: a socket error (POLLERR) is reported and receiving goes on', () => {
  it('reports ECONNREFUSED from a port unreachable, then receives the next datagram', async () => {
    const [peer, port] = [await freePort(), await freePort()];
    const ep = new addon.Endpoint(addon.openUdp('127.0.0.1', port, 0, 0), Kind.Datagram);
    opened.push(ep);
    // Connected to a closed loopback port (through the shared descriptor), the socket
    // gets the ICMP port unreachable as a pending error, which polls as POLLERR.
    const py = spawnSync('python3', ['-c', `import socket; s = socket.socket(fileno=3); s.connect(('127.0.0.1', ${peer})); s.detach()`],
      { stdio: ['ignore', 'inherit', 'inherit', ep.fd] });
    expect(py.status).toBe(0);
    const events: Array<[number, boolean]> = [];
    const lens = new Uint32Array(4);
    ep.startRx(Buffer.alloc(4 * 2048), 2048, 0, 4, lens, new Uint32Array(4), new Uint16Array(4), null, (n, stopped) => events.push([n, stopped]));
    const status = new Int32Array(1);
    expect(ep.sendDatagrams(null, 0, 0, Buffer.from('x'), Uint32Array.of(0), Uint32Array.of(1), Uint32Array.of(0x7f000001), Uint16Array.of(peer), 1, status)).toBe(1);
    await until(() => events.length > 0);
    expect(events).toEqual([[-ECONNREFUSED, false]]);
    // The connected peer's port, bound now, sends: the poll still runs.
    const s = createSocket('udp4');
    s.bind(peer, '127.0.0.1');
    await once(s, 'listening');
    s.send(Buffer.from('hello'), port, '127.0.0.1');
    await until(() => events.length > 1);
    s.close();
    expect(events).toEqual([[-ECONNREFUSED, false], [1, false]]);
    expect(lens[0]).toBe(5);
  });
});

describe('issue 12: a datagram batch resets only the headers the batch before it filled', () => {
  it('reports each batch\'s own lengths, sources and cut-off datagrams, whatever the batch before held', async () => {
    const port = await freePort();
    const ep = new addon.Endpoint(addon.openUdp('127.0.0.1', port, 0, 0), Kind.Datagram);
    opened.push(ep);
    const [a, b] = [createSocket('udp4'), createSocket('udp4')];
    a.bind(0, '127.0.0.1');
    b.bind(0, '127.0.0.1');
    await Promise.all([once(a, 'listening'), once(b, 'listening')]);
    // libuv sends at once when its queue is empty: the datagrams of one call
    // are all queued on the socket before the poll can run.
    const send = (s: typeof a, sizes: number[]): Promise<unknown> =>
      Promise.all(sizes.map((n) => new Promise((r) => s.send(Buffer.alloc(n, 7), port, '127.0.0.1', r))));
    // Queued before the poll starts, so that the first read takes all three.
    await send(a, [100, 10, 20]);
    const batches: Array<{ lens: number[]; ports: number[] }> = [];
    const lens = new Uint32Array(4);
    const ports = new Uint16Array(4);
    ep.startRx(Buffer.alloc(4 * 64), 64, 0, 4, lens, new Uint32Array(4), ports, null,
      (n) => batches.push({ lens: [...lens.subarray(0, n)], ports: [...ports.subarray(0, n)] }));
    await until(() => batches.length === 1);
    await send(b, [30]);
    await until(() => batches.length === 2);
    await send(a, [5, 100]);
    await until(() => batches.length === 3);
    const [pa, pb] = [a.address().port, b.address().port];
    a.close();
    b.close();
    // 65 is the slot (64) + 1: a datagram cut off.
    expect(batches).toEqual([
      { lens: [65, 10, 20], ports: [pa, pa, pa] },
      { lens: [30], ports: [pb] },
      { lens: [5, 65], ports: [pa, pa] },
    ]);
  });
});

describe('issue 16.5: a device write that fails is a frame lost, with its errno', () => {
  it('reports EIO for each frame written to a TAP that is down, and EINVAL for a runt it refuses', () => {
    const dev = tap();
    const buf = Buffer.alloc(120);
    buf.writeUIntBE(0x020000000001, 0, 6); // a unicast destination
    buf.writeUInt16BE(0x0800, 12);
    const status = new Int32Array(3).fill(-1);
    const written = dev.endpoint.writeFrames(buf, Uint32Array.of(0, 60, 0), Uint32Array.of(60, 10, 60), 3, WriteMode.Plain, 0, null, status);
    expect(written).toBe(0);
    expect([...status]).toEqual([EIO, EINVAL, EIO]);
  });
});
