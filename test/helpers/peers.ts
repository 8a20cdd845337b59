// Real peers for the integration tests: the Linux kernel's vxlan device,
// programmed with ip/bridge exactly as a user would, and raw UDP senders.
import { once } from 'node:events';
import { ADDON_PATH } from '../../src/io/native.js';
import { type Host, OVERLAY, transfer } from '../../src/lab/netns.js';

export interface KernelVxlan {
  dev: string;
  mac: string;
}

/** `ip link add vx0 type vxlan ...` plus a flood entry per remote. */
export function kernelVxlan(h: Host, o: { vni: number; local: string; remotes: string[]; address: string; learning: boolean; dstport?: number; dev?: string }): KernelVxlan {
  const dev = o.dev ?? 'vx0';
  h.ip(
    `link add ${dev} type vxlan id ${o.vni} dstport ${o.dstport ?? 4789} local ${o.local} dev ul0${o.learning ? '' : ' nolearning'}`,
    `link set ${dev} mtu 1450`,
    `address add ${o.address} dev ${dev}`,
    `link set ${dev} up`,
  );
  for (const r of o.remotes) h.run('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', dev, 'dst', r);
  return { dev, mac: macOf(h, dev) };
}

export function macOf(h: Host, dev: string): string {
  return (JSON.parse(h.run('ip', '-j', 'link', 'show', 'dev', dev)) as Array<{ address: string }>)[0].address;
}

/** The kernel's FDB on a vxlan device as `bridge -j fdb show` reports it. */
export function kernelFdb(h: Host, dev: string): Array<{ mac: string; dst?: string }> {
  return JSON.parse(h.run('bridge', '-j', 'fdb', 'show', 'dev', dev)) as Array<{ mac: string; dst?: string }>;
}

/** Sends each hex payload as one UDP datagram to dst:port from inside h. */
export async function sendDatagrams(h: Host, dst: string, port: number, payloads: Buffer[]): Promise<void> {
  const script = `
    const s = require('node:dgram').createSocket('udp4');
    const [dst, port, ...hex] = process.argv.slice(1);
    let i = 0;
    const next = () => i < hex.length ? s.send(Buffer.from(hex[i++], 'hex'), Number(port), dst, next) : s.close();
    next();`;
  await h.exec(process.execPath, ['-e', script, dst, String(port), ...payloads.map((p) => p.toString('hex'))]);
}

/**
 * Sends `count` datagrams of `size` bytes from `from` to dst:port as one UDP
 * GSO send (UDP_SEGMENT, through vxtap's own addon: Node's dgram has no
 * GSO), and collects them with an ordinary socket on `to`. Returns the
 * lengths received, in order, and whether their bytes are the ones sent.
 */
export async function udpGsoTrain(from: Host, to: Host, dst: string, port: number, count: number, size: number): Promise<{ lens: number[]; intact: boolean }> {
  const receiver = `
    const s = require('node:dgram').createSocket('udp4');
    const [port, count] = process.argv.slice(1).map(Number);
    const got = [];
    const done = () => { process.stdout.write(JSON.stringify(got.map((b) => b.toString('hex')))); process.exit(0); };
    s.on('message', (m) => { got.push(m); if (got.length === count) done(); });
    s.bind(port, () => console.log('ready'));
    setTimeout(done, 5000);`;
  const sender = `
    const addon = require(process.argv[1]);
    const [dst, port, count, size] = [process.argv[2], ...process.argv.slice(3).map(Number)];
    const fd = addon.openUdp('0.0.0.0', 0, 0, 0, 0);
    if (addon.setUdpOption(fd, 'gso', 0) !== 0) throw new Error('no UDP GSO on this kernel');
    const ep = new addon.Endpoint(fd, addon.KIND_DATAGRAM, false, 0);
    const payload = Buffer.alloc(count * size);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    const addr = dst.split('.').reduce((a, o) => a * 256 + Number(o), 0);
    const status = new Int32Array(1);
    ep.sendDatagrams(null, 0, 0, payload, Uint32Array.of(0), Uint32Array.of(payload.length), Uint32Array.of(addr),
      Uint16Array.of(port), 1, status, Uint16Array.of(size));
    if (status[0] !== 0) throw new Error('send failed: errno ' + status[0]);
    ep.close();`;
  const rx = to.spawn(process.execPath, ['-e', receiver, String(port), String(count)]);
  const exited = once(rx, 'exit'); // before sending: the receiver may be done before the sender is
  let out = '';
  rx.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await eventually('the receiver to bind', () => out.startsWith('ready\n'));
  await from.exec(process.execPath, ['-e', sender, ADDON_PATH, dst, String(port), String(count), String(size)]);
  await exited;
  const got = (JSON.parse(out.slice('ready\n'.length)) as string[]).map((h) => Buffer.from(h, 'hex'));
  const sent = Buffer.alloc(count * size);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) % 251;
  return { lens: got.map((b) => b.length), intact: Buffer.concat(got).equals(sent) };
}

/** Whether one echo request from h to dst is answered (ARP included). */
export function pings(h: Host, dst: string): Promise<boolean> {
  return h.exec('ping', ['-c', '1', '-W', '1', dst]).then(() => true, () => false);
}

/** Whether h has a link named dev. */
export function hasLink(h: Host, dev: string): boolean {
  try {
    h.run('ip', 'link', 'show', 'dev', dev);
    return true;
  } catch {
    return false;
  }
}

/** A UDP listener on h at ip:port; `received` holds each datagram's text, in order. */
export async function udpListener(h: Host, ip: string, port: number): Promise<{ received: string[]; stop: () => void }> {
  const lines: string[] = [];
  const p = h.spawn(process.execPath, ['-e', `
    const s = require('node:dgram').createSocket('udp4');
    s.on('message', (m) => process.stdout.write(m + '\\n'));
    s.bind(${port}, '${ip}', () => process.stdout.write('bound\\n'));`]);
  p.stdout!.on('data', (d: Buffer) => lines.push(...d.toString().split('\n').filter((l) => l !== '')));
  await eventually(`the UDP listener on ${h.name}`, () => lines.includes('bound'));
  lines.length = 0;
  return { received: lines, stop: () => p.kill() };
}

/** n datagrams `${tag}${i}` from h to dst:port, each from its own socket: its own source port, its own flow (spread over queues). */
export function udpFlows(h: Host, dst: string, port: number, tag: string, n: number): Promise<string> {
  return h.exec(process.execPath, ['-e', `
    const dgram = require('node:dgram');
    for (let i = 0; i < ${n}; i++) {
      const s = dgram.createSocket('udp4');
      s.send(Buffer.from('${tag}' + i), ${port}, '${dst}', () => s.close());
    }`]);
}

/** Overlay address of host number n (1-based). */
export function overlay(n: number, len = 24): string {
  return `${OVERLAY}.${n}/${len}`;
}

/** Polls until cond() holds, or throws after timeoutMs. */
export async function eventually<T>(what: string, cond: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 8000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Bytes each overlay transfer moves: at least 50 MB, as the issue asks. */
export const TRANSFER_BYTES = 50_000_000;

/** Bytes each IPv6 overlay transfer moves: enough for many TSO super-frames and GRO trains. */
export const TRANSFER6_BYTES = 10_000_000;

/** One end of an overlay check: a host, its overlay address and the device that holds it. */
export interface OverlayEnd {
  host: Host;
  ip: string;
  dev: string;
}

/**
 * The overlay checks run against every kind of peer: ARP resolves to the
 * peer's MAC, ping works both ways and a 50 MB TCP stream crosses intact in
 * each direction.
 */
export async function checkOverlay(a: OverlayEnd, b: OverlayEnd, expectEqual: (x: unknown, y: unknown, what: string) => void): Promise<void> {
  await crossOverlay(a, b, TRANSFER_BYTES, expectEqual);
}

/**
 * The same checks for inner IPv6: each end's IPv6 address (a /64) is added
 * to its device without DAD, neighbour discovery resolves the peer's MAC,
 * ping works both ways and a TCP stream over IPv6 crosses intact in each
 * direction.
 */
export async function checkOverlay6(a: OverlayEnd, b: OverlayEnd, expectEqual: (x: unknown, y: unknown, what: string) => void): Promise<void> {
  for (const e of [a, b]) e.host.address6(e.dev, `${e.ip}/64`);
  await crossOverlay(a, b, TRANSFER6_BYTES, expectEqual);
}

async function crossOverlay(a: OverlayEnd, b: OverlayEnd, bytes: number, expectEqual: (x: unknown, y: unknown, what: string) => void): Promise<void> {
  await a.host.ping(b.ip);
  await b.host.ping(a.ip);
  for (const [x, y] of [[a, b], [b, a]] as const) {
    const neigh = JSON.parse(x.host.run('ip', '-j', 'neigh', 'show', y.ip, 'dev', x.dev)) as Array<{ lladdr?: string }>;
    expectEqual(neigh[0]?.lladdr, macOf(y.host, y.dev), `${x.host.name} resolves ${y.ip} to ${y.host.name}'s MAC`);
  }
  for (const [from, to] of [[a, b], [b, a]] as const) {
    const { sent, received } = await transfer(from.host, to.host, to.ip, bytes);
    expectEqual(received.bytes, bytes, `${from.host.name} -> ${to.host.name} byte count`);
    expectEqual(received.sha256, sent.sha256, `${from.host.name} -> ${to.host.name} SHA-256`);
  }
}

/**
 * The lengths of the frames carrying UDP to `port` that tshark sees on each
 * (host, dev) while `action` runs, in order. tshark says "Capturing on" a
 * moment before it really captures, so probe datagrams (UDP to port + 1,
 * sent from probe.from to probe.dst across the same devices) go until every
 * capture has seen one; one to port + 2 after the action marks the end, since
 * a capture that has printed it has printed every frame before it.
 */
export async function framesDuring(
  places: Array<{ host: Host; dev: string }>,
  port: number,
  probe: { from: Host; dst: string },
  action: () => Promise<void>,
): Promise<number[][]> {
  const caps = places.map(({ host, dev }) => {
    const p = host.spawn('tshark', ['-i', dev, '-l', '-n', '-f', `udp dst portrange ${port}-${port + 2}`,
      '-T', 'fields', '-e', 'udp.dstport', '-e', 'frame.len']);
    const c = { lines: [] as Array<[number, number]>, partial: '', exited: once(p, 'exit'), proc: p };
    p.stdout!.on('data', (d: Buffer) => {
      const text = c.partial + d.toString();
      const rows = text.split('\n');
      c.partial = rows.pop()!;
      for (const r of rows) c.lines.push(r.split('\t').map(Number) as [number, number]);
    });
    return c;
  });
  const seen = (c: (typeof caps)[number], to: number) => c.lines.some(([p]) => p === to);
  const sendProbe = (to: number) => probe.from.exec(process.execPath, ['-e',
    `const s = require('node:dgram').createSocket('${probe.dst.includes(':') ? 'udp6' : 'udp4'}'); s.send('probe', ${to}, '${probe.dst}', () => s.close());`]);
  try {
    await eventually('tshark to capture on every device', async () => caps.every((c) => seen(c, port + 1)) || void (await sendProbe(port + 1)), 15_000);
    const start = caps.map((c) => c.lines.length);
    await action();
    await sendProbe(port + 2);
    await eventually('tshark to see the end probe', () => caps.every((c) => seen(c, port + 2)));
    return caps.map((c, i) => c.lines.slice(start[i]).filter(([p]) => p === port).map(([, len]) => len));
  } finally {
    for (const c of caps) c.proc.kill('SIGINT');
    await Promise.all(caps.map((c) => c.exited));
  }
}
