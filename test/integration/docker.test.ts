// The Docker network driver against real dockerds (Debian's docker.io, no
// registry: a busybox image made with `docker import`). Hosts a and b each
// run a dockerd and `vxtap docker-plugin`; host c is a kernel VTEP. They share
// one underlay bridge (198.51.100.0/24). Each host creates the network itself
// (the driver is local scope) with the same VNI, and a disjoint --ip-range so
// that Docker's IPAM on the two hosts never hands out one address twice.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, TCPXFER, Vxtap } from '../../src/lab/netns.js';
import { eventually, kernelVxlan } from '../helpers/peers.js';
import { busyboxImage, DockerHost, dockerMissing } from './docker-helpers.js';

const SUBNET = `${OVERLAY}.0/24`;
/** Each host's share of the subnet for Docker's IPAM (the gateway is the range's first address). */
const RANGES = { a: `${OVERLAY}.64/27`, b: `${OVERLAY}.96/27` };
const KERNEL_IP = `${OVERLAY}.200`;
const TRANSFER_BYTES = 20_000_000;
/** Each plugin's metrics server, on its host's own loopback. */
const METRICS = '127.0.0.1:9109';

interface DockerStats {
  vnis: Record<string, { rx_packets: number; tx_packets: number }>;
  ports: Record<string, { vni: number; rx_packets: number; tx_packets: number }>;
  drops: Record<string, number>;
  docker: { networks: Array<{ id: string; vni: number; endpoints: Array<{ dev: string; joined: boolean }> }> };
}

describe('vxtap docker-plugin with real dockerds', () => {
  const lab = new Lab('dk');
  const dir = `/tmp/${lab.id}`;
  let a: Host, b: Host, c: Host;
  let ipA: string, ipB: string, ipC: string;
  let da: DockerHost, db: DockerHost;
  const plugins: Record<string, Vxtap> = {};

  /**
   * Starts (or restarts) host h's plugin beside its dockerd, on the default
   * /run/docker/plugins/vxtap.sock, with its state and control socket in the host's folder.
   */
  const startPlugin = async (h: Host, d: DockerHost, local: string): Promise<Vxtap> => {
    const control = `${d.dir}/control.sock`;
    const v = new Vxtap(d.spawnBeside(process.execPath, [CLI, 'docker-plugin', '--local', local, '--state-dir', `${d.dir}/state`, '--control', control,
      '--metrics', METRICS]), control);
    await v.ready();
    plugins[h.name] = v;
    return v;
  };
  const stats = async (h: Host) => (await plugins[h.name].stats()) as unknown as DockerStats;
  /** Devices in the host's own namespace (the plugin's and dockerd's), by kind. */
  const links = (h: Host) => (JSON.parse(h.run('ip', '-d', '-j', 'link', 'show')) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>)
    .map((l) => ({ name: l.ifname, kind: l.linkinfo?.info_kind ?? '' }));
  /** The plugin's TAP for the container's endpoint on `network`: vxd and the endpoint id's first 12 digits. */
  const tapOf = async (d: DockerHost, ctr: string, network: string) =>
    `vxd${(await d.docker('inspect', '-f', `{{(index .NetworkSettings.Networks "${network}").EndpointID}}`, ctr)).slice(0, 12)}`;
  /** `ping` in a container; resolves whether every reply came. */
  const pings = async (d: DockerHost, ctr: string, ip: string, count = 3) => (await d.run(['exec', ctr, 'ping', '-c', String(count), '-W', '2', ip])).code === 0;
  const create = (d: DockerHost, name: string, subnet: string, range: string, ...opts: string[]) =>
    d.docker('network', 'create', '-d', 'vxtap', '--subnet', subnet, '--ip-range', range, ...opts.flatMap((o) => ['-o', o]), name);

  beforeAll(async () => {
    const missing = dockerMissing();
    if (missing !== null) throw new Error(missing);
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB, ipC] = lab.underlay([a, b, c]);
    mkdirSync(dir, { recursive: true });
    const image = busyboxImage(dir);
    da = new DockerHost(a, `${dir}/a`, `${lab.id}-a`);
    db = new DockerHost(b, `${dir}/b`, `${lab.id}-b`);
    await Promise.all([da.start(image), db.start(image)]);
    await Promise.all([startPlugin(a, da, ipA), startPlugin(b, db, ipB)]);
    kernelVxlan(c, { vni: 42, local: ipC, remotes: [ipA, ipB], address: `${KERNEL_IP}/24`, learning: true });
    await create(da, 'ov', SUBNET, RANGES.a, 'vni=42', `remote=${ipB},${ipC}`);
    await create(db, 'ov', SUBNET, RANGES.b, 'vni=42', `remote=${ipA},${ipC}`);
    await Promise.all([da.container('a1', 'ov'), db.container('b1', 'ov')]);
    await da.container('a2', 'ov');
  });
  afterAll(async () => {
    for (const d of [da, db]) await d?.stop();
    for (const p of Object.values(plugins)) await p.stop();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives each container a vxtap TAP as its eth0, with Docker's MAC and address and the overlay MTU, and no veth or bridge", async () => {
    const mac = await da.docker('inspect', '-f', '{{(index .NetworkSettings.Networks "ov").MacAddress}}', 'a1');
    const ip = await da.address('a1', 'ov');
    const eth0 = await da.exec('a1', 'ip', '-o', 'link', 'show', 'eth0');
    expect(eth0).toContain('mtu 1450');
    expect(eth0).toContain(`link/ether ${mac}`);
    expect(await da.exec('a1', 'ip', '-o', '-4', 'addr', 'show', 'eth0')).toContain(`inet ${ip}/24`);
    expect(ip.startsWith(`${OVERLAY}.`) && Number(ip.split('.')[3]) > 64 && Number(ip.split('.')[3]) < 96, `${ip} is in a's --ip-range`).toBe(true);
    // The TAP is vxtap's port, now inside the container: not in the host's namespace, and nothing else was made for it.
    const s = await stats(a);
    const tap = await tapOf(da, 'a1', 'ov');
    expect(Object.keys(s.ports).sort()).toEqual([tap, await tapOf(da, 'a2', 'ov')].sort());
    expect(s.ports[tap].vni).toBe(42);
    // The underlay's veth ul0 is the lab's; Docker and the plugin made nothing.
    expect(links(a)).toEqual([{ name: 'lo', kind: '' }, { name: 'ul0', kind: 'veth' }]);
    expect(s.docker.networks[0].endpoints).toContainEqual({ id: expect.any(String), dev: tap, mac, joined: true });
  });

  it('lets containers on two hosts ping each other, and two containers on one host reach each other', async () => {
    const [a1, a2, b1] = await Promise.all([da.address('a1', 'ov'), da.address('a2', 'ov'), db.address('b1', 'ov')]);
    expect(await pings(da, 'a1', b1), 'a1 -> b1 across the overlay').toBe(true);
    expect(await pings(db, 'b1', a1), 'b1 -> a1').toBe(true);
    const before = await stats(a);
    expect(await pings(da, 'a1', a2), 'a1 -> a2 on host a').toBe(true);
    expect(await pings(da, 'a2', a1), 'a2 -> a1').toBe(true);
    const after = await stats(a);
    // Switched locally: the 12 ICMP packets went from TAP to TAP; only broadcasts (ARP) went to the wire as well.
    for (const ctr of ['a1', 'a2']) {
      const dev = await tapOf(da, ctr, 'ov');
      expect(after.ports[dev].tx_packets - before.ports[dev].tx_packets, `frames vxtap wrote to ${ctr}'s TAP`).toBeGreaterThanOrEqual(6);
    }
    expect(after.vnis['42'].tx_packets - before.vnis['42'].tx_packets, 'VXLAN packets sent meanwhile').toBeLessThan(6);
  });

  it('carries a checked TCP transfer each way between a container and a kernel VTEP on the same VNI', async () => {
    expect(await pings(da, 'a1', KERNEL_IP)).toBe(true);
    // container -> kernel host: busybox's nc sends a file whose SHA-256 the container prints; the kernel host's sink hashes what arrives.
    const sink = c.spawn(process.execPath, [TCPXFER, 'sink', '5201']);
    let out = '';
    let err = '';
    sink.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    sink.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await eventually('the sink to listen', () => err.includes('listening'));
    const sent = await da.exec('a1', 'sh', '-c', `head -c ${TRANSFER_BYTES} /dev/urandom > /tmp/out && sha256sum /tmp/out && nc ${KERNEL_IP} 5201 < /tmp/out`);
    const received = await eventually('the sink to report', () => out.includes('\n') && (JSON.parse(out) as { bytes: number; sha256: string }));
    expect(received.bytes).toBe(TRANSFER_BYTES);
    expect(sent.split(/\s+/)[0]).toBe(received.sha256);
    // kernel host -> container: nc listens in the container, the kernel host's source sends.
    const ipA1 = await da.address('a1', 'ov');
    // nc's stdin is a FIFO no one writes: at EOF of its stdin busybox's nc would half-close the connection.
    await da.docker('exec', '-d', 'a1', 'sh', '-c', 'mkfifo /tmp/idle; sleep 600 > /tmp/idle & nc -l -p 5202 < /tmp/idle > /tmp/in; kill $!; echo done > /tmp/in.done');
    const source = JSON.parse(await eventually('the source to connect and send', async () => {
      try {
        return await c.exec(process.execPath, [TCPXFER, 'source', ipA1, '5202', String(TRANSFER_BYTES)]);
      } catch {
        return undefined; // nc not listening yet
      }
    }, 15_000)) as { sha256: string };
    await eventually('nc to finish', async () => (await da.run(['exec', 'a1', 'cat', '/tmp/in.done'])).code === 0);
    const got = await da.exec('a1', 'sh', '-c', 'wc -c /tmp/in; sha256sum /tmp/in');
    expect(got.split(/\s+/).filter((w) => w !== '/tmp/in')).toEqual([String(TRANSFER_BYTES), source.sha256]);
  });

  it('in mode=private keeps containers on one host from reaching each other, and lets each reach the other host', async () => {
    await create(da, 'priv', '198.18.2.0/24', '198.18.2.0/25', 'vni=43', `remote=${ipB}`, 'mode=private');
    await create(db, 'priv', '198.18.2.0/24', '198.18.2.128/25', 'vni=43', `remote=${ipA}`, 'mode=private');
    await Promise.all([da.container('p1', 'priv'), da.container('p2', 'priv'), db.container('p3', 'priv')]);
    const [p1, p2, p3] = await Promise.all([da.address('p1', 'priv'), da.address('p2', 'priv'), db.address('p3', 'priv')]);
    expect(await pings(da, 'p1', p3), 'p1 -> p3 across the overlay').toBe(true);
    expect(await pings(da, 'p2', p3), 'p2 -> p3 across the overlay').toBe(true);
    const before = (await stats(a)).drops.isolated;
    expect(await pings(da, 'p1', p2, 2), 'p1 -> p2 on host a').toBe(false);
    expect(await pings(da, 'p2', p1, 2), 'p2 -> p1 on host a').toBe(false);
    expect((await stats(a)).drops.isolated - before, 'frames withheld from the other local port').toBeGreaterThan(0);
    // The bridge-mode network of the same host still switches locally.
    expect(await pings(da, 'a1', await da.address('a2', 'ov'))).toBe(true);
  });

  it('refuses an invalid option in one line through docker network create', async () => {
    const cases: Array<[string[], string]> = [
      [['-o', 'vni=16777216'], '-o vni="16777216": not a VXLAN network identifier: give -o vni=N with N in 0-16777215'],
      [[], '-o vni is required: give -o vni=N (0-16777215), the same on every host of the network'],
      [['-o', 'vni=7', '-o', 'remote=198.51.100'], '-o remote: "198.51.100" is not an IPv4 address: give -o remote=IP[,IP...], the other hosts\' underlay addresses'],
      [['-o', 'vni=7', '-o', 'mode=vepa'], '-o mode="vepa": give -o mode=bridge (containers on a host reach each other) or -o mode=private (only across the overlay)'],
      [['-o', 'vni=7', '-o', 'vlan=3'], '-o "vlan": not an option of vxtap: give vni, remote, port, mode or com.docker.network.driver.mtu'],
      [['-o', 'vni=42'], '-o vni=42: network '],
    ];
    for (const [opts, line] of cases) {
      const r = await da.run(['network', 'create', '-d', 'vxtap', '--subnet', '198.18.0.0/24', ...opts, 'bad']);
      expect(r.code, opts.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), opts.join(' ')).toHaveLength(1);
      expect(r.stderr.trim(), opts.join(' ')).toContain(`Error response from daemon: remote: ${line}`);
    }
    expect(await da.docker('network', 'ls', '-q', '--filter', 'name=^bad$')).toBe('');
  });

  it('leaves no device and no FDB entry behind after container removal and docker network rm', async () => {
    await create(da, 'gone', '198.18.3.0/24', '198.18.3.0/25', 'vni=45', `remote=${ipB}`);
    await Promise.all([da.container('g1', 'gone'), da.container('g2', 'gone')]);
    expect(await pings(da, 'g1', await da.address('g2', 'gone'))).toBe(true);
    const devs = [await tapOf(da, 'g1', 'gone'), await tapOf(da, 'g2', 'gone')].sort();
    const learned = (await plugins.a.fdb()).filter((r) => r.vni === 45 && r.dev !== undefined).map((r) => r.dev).sort();
    expect(learned, 'each container learned on its TAP').toEqual(devs);
    await da.docker('rm', '-f', 'g1', 'g2');
    expect(Object.keys((await stats(a)).ports).filter((p) => devs.includes(p))).toEqual([]);
    expect((await plugins.a.fdb()).filter((r) => r.vni === 45 && r.dev !== undefined)).toEqual([]);
    await da.docker('network', 'rm', 'gone');
    expect((await plugins.a.fdb()).filter((r) => r.vni === 45)).toEqual([]);
    expect(Object.keys((await stats(a)).vnis)).not.toContain('45');
    expect(links(a).map((l) => l.name).filter((n) => n.startsWith('vxd'))).toEqual([]);
    // The last network of a UDP port takes its VTEP with it: no socket stays on that port.
    const sockets = (h: Host) => h.run('ss', '-Hluna', 'sport', '= :8472').trim();
    await da.docker('network', 'create', '-d', 'vxtap', '--subnet', '198.18.1.0/24', '-o', 'vni=44', '-o', 'port=8472', 'alt');
    expect(sockets(a)).not.toBe('');
    await da.docker('network', 'rm', 'alt');
    expect(sockets(a)).toBe('');
  });

  it("changes a network's flood list at runtime with vxtap fdb, naming a container's TAP", async () => {
    const tap = await tapOf(da, 'a1', 'ov');
    const fdb = (...words: string[]) => a.run(process.execPath, CLI, 'fdb', ...words, '--control', `${da.dir}/control.sock`);
    const flood = async () => (await plugins.a.fdb()).filter((r) => r.vni === 42 && r.mac === '00:00:00:00:00:00').map((r) => r.dst).sort();
    expect(await flood()).toEqual([ipB, ipC]);
    fdb('del', '00:00:00:00:00:00', 'dev', tap, 'dst', ipC);
    expect(await flood()).toEqual([ipB]);
    fdb('append', '00:00:00:00:00:00', 'dev', tap, 'dst', ipC);
    expect(await flood()).toEqual([ipB, ipC]);
    expect(await pings(da, 'a1', KERNEL_IP)).toBe(true);
  });

  it('serves /metrics with the counters vxtap stats shows, summed over its VTEPs (one per UDP port)', async () => {
    await da.docker('network', 'create', '-d', 'vxtap', '--subnet', '198.18.4.0/24', '-o', 'vni=46', '-o', 'port=8472', '-o', `remote=${ipB}`, 'other');
    await da.container('o1', 'other');
    expect(await pings(da, 'o1', '198.18.4.250', 1), 'nobody has that address: the ARP goes out on port 8472').toBe(false);
    const script = `fetch('http://${METRICS}/metrics').then(async (r) => process.stdout.write(await r.text()))`;
    const sample = (text: string, name: string, labels: string) => Number(text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `))?.split(' ')[1]);
    const { text, s } = await eventually('stats that hold still across a scrape', async () => {
      const before = JSON.stringify((await stats(a)).vnis);
      const t = a.run(process.execPath, '-e', script);
      const after = await stats(a);
      return before === JSON.stringify(after.vnis) && { text: t, s: after };
    });
    expect(Object.keys(s.vnis)).toEqual(expect.arrayContaining(['42', '46']));
    for (const vni of Object.keys(s.vnis)) {
      expect([sample(text, 'vxtap_rx_packets_total', `vni="${vni}"`), sample(text, 'vxtap_tx_packets_total', `vni="${vni}"`)], `VNI ${vni}`)
        .toEqual([s.vnis[vni].rx_packets, s.vnis[vni].tx_packets]);
    }
    expect(s.vnis['46'].tx_packets, 'the ARP requests of o1 sent on port 8472').toBeGreaterThan(0);
    expect(sample(text, 'vxtap_drops_total', 'reason="isolated"')).toBe(s.drops.isolated);
    await da.docker('rm', '-f', 'o1');
    await da.docker('network', 'rm', 'other');
  });

  it('after a restart gives running containers their interface back, and names the ones it cannot', async () => {
    await db.container('b2', 'ov');
    const [a1, b1, b2] = await Promise.all([da.address('a1', 'ov'), db.address('b1', 'ov'), db.address('b2', 'ov')]);
    const [tap1, tap2] = await Promise.all([tapOf(db, 'b1', 'ov'), tapOf(db, 'b2', 'ov')]);
    expect(await plugins.b.stop()).toBe(0);
    expect((await db.run(['exec', 'b1', 'ip', 'link', 'show', 'eth0'])).code, 'b1 has no eth0 while the plugin is down').not.toBe(0);
    // As if b2's container had gone while the plugin was down: its sandbox no longer exists.
    const file = `${db.dir}/state/state.json`;
    const state = JSON.parse(readFileSync(file, 'utf8')) as { endpoints: Array<{ dev: string; sandbox?: string }> };
    state.endpoints.find((e) => e.dev === tap2)!.sandbox = `${db.dir}/exec/netns/gone`;
    writeFileSync(file, JSON.stringify(state));
    const restarted = await startPlugin(b, db, ipB);
    expect(restarted.stderr).toContain(`port ${tap1} given back as eth0`);
    expect(restarted.stderr).toContain(`lost its port ${tap2} when the plugin stopped, and it cannot be given back (sandbox ${db.dir}/exec/netns/gone is gone (the container stopped)): reconnect the container (docker network disconnect NETWORK CONTAINER, then docker network connect NETWORK CONTAINER) or restart it`);
    // b1 has its eth0 back, with its address and default route, and reaches host a; so does b2 once reconnected.
    expect(await db.exec('b1', 'ip', '-o', '-4', 'addr', 'show', 'eth0')).toContain(`inet ${b1}/24`);
    expect(await db.exec('b1', 'ip', 'route', 'show', 'default')).toContain(`default via ${RANGES.b.split('/')[0]} dev eth0`);
    expect(await pings(db, 'b1', a1)).toBe(true);
    expect((await db.run(['exec', 'b2', 'ip', 'link', 'show', 'eth0'])).code).not.toBe(0);
    await db.docker('network', 'disconnect', 'ov', 'b2');
    await db.docker('network', 'connect', 'ov', 'b2');
    expect(await pings(db, 'b2', a1)).toBe(true);
    expect(await db.address('b2', 'ov')).toBe(b2);
  });
});
