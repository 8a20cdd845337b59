// The vxlan backend's DirectRouting, on an underlay of two subnets: the
// store, n1 and n2 on 198.51.100.0/25, a router, and n3 alone on
// 198.51.100.128/25. n1 and n2 reach each other without a gateway, so their
// pods' traffic crosses unencapsulated; n3 is behind the router and still
// gets VXLAN. tshark on the receiving side shows which.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/control/server.js';
import type { Host } from '../../src/lab/netns.js';
import { eventually } from '../helpers/peers.js';
import { addPod, capture, FlannelBench, type FlannelNode, neighsOn, pingUntilCaptured, routesOn } from './flannel-helpers.js';

const DIRECT_CONFIG = '{"Network":"198.18.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan","DirectRouting":true}}';

let bench: FlannelBench;
let n1: Host, n2: Host, n3: Host;
let ip1: string, ip2: string, ip3: string;

beforeAll(async () => {
  bench = new FlannelBench(3, { routed: true });
  [n1, n2, n3] = bench.nodes;
  [ip1, ip2, ip3] = bench.nodes.map((h) => bench.ips.get(h)!);
  await bench.start();
});
afterAll(() => bench?.destroy());
afterEach(() => bench.reset());

const subnetOf = (n: FlannelNode): string => bench.keyOf(n).replace('-', '/');

describe('DirectRouting', () => {
  it('routes straight to a peer on the same underlay subnet (no UDP 8472 on the wire) and encapsulates to one behind a router', async () => {
    expect([ip1, ip2, ip3]).toEqual(['198.51.100.2', '198.51.100.3', '198.51.100.130']);
    const prefix = bench.prefix(DIRECT_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', 'ul0']);
    const b = await bench.startNode(n2, prefix, ['--iface', 'ul0']);
    const c = await bench.startNode(n3, prefix, ['--iface', 'ul0']);
    const [snA, snB, snC] = [a, b, c].map(subnetOf);

    // a: b's subnet via b's PublicIP on the underlay, c's into flannel.1 as without DirectRouting.
    await eventually('a to route b directly and c over VXLAN', () => {
      const direct = JSON.parse(n1.run('ip', '-j', '-4', 'route', 'show', snB)) as Array<{ gateway?: string; dev?: string }>;
      return direct[0]?.gateway === ip2 && direct[0]?.dev === 'ul0' && routesOn(n1, 'flannel.1').some((r) => r.dst === snC && r.gateway === snC.split('/')[0]);
    });
    expect(neighsOn(n1, 'flannel.1').map((e) => e.dst)).toEqual([snC.split('/')[0]]);
    expect(routesOn(n1, 'flannel.1').map((r) => r.dst)).toEqual([snC]);
    const routes = (await request(a.control, 'routes')) as Array<{ subnet: string; direct?: boolean }>;
    expect(routes.map((r) => [r.subnet, r.direct === true]).sort()).toEqual([[snB, true], [snC, false]].sort());
    // c, behind the router, reaches both a and b over VXLAN only.
    await eventually('c to route a and b over VXLAN', () => routesOn(n3, 'flannel.1').length === 2);
    expect(JSON.parse(n3.run('ip', '-j', '-4', 'route', 'show', snA))[0].dev).toBe('flannel.1');

    const podA = addPod(n1, bench.subnetEnv(a));
    const podB = addPod(n2, bench.subnetEnv(b));
    const podC = addPod(n3, bench.subnetEnv(c));

    // a -> b: the pods' packets themselves on b's underlay, and no VXLAN.
    const onB = await capture(n2, 'ul0', `icmp or udp port 8472`, ['ip.src', 'ip.dst', 'udp.dstport']);
    await pingUntilCaptured(n1, podA, podB, onB, 6);
    const seenB = await onB.stop();
    expect(seenB.filter(([, , port]) => port === '8472'), 'VXLAN between a and b').toEqual([]);
    expect(seenB.some(([src, dst]) => src === podA && dst === podB), JSON.stringify(seenB)).toBe(true);
    expect(seenB.some(([src, dst]) => src === podB && dst === podA), JSON.stringify(seenB)).toBe(true);

    // a -> c: VXLAN from a's PublicIP on port 8472, the pods inside.
    const onC = await capture(n3, 'ul0', `udp dst port 8472 and src host ${ip1}`, ['ip.src', 'ip.dst', 'udp.dstport'], ['-d', 'udp.port==8472,vxlan']);
    await pingUntilCaptured(n1, podA, podC, onC);
    const seenC = await onC.stop();
    expect(seenC.every(([src, dst, port]) => src === `${ip1},${podA}` && dst === `${ip3},${podC}` && port === '8472'), JSON.stringify(seenC)).toBe(true);
    // And the way back from c to b's pods is VXLAN too.
    await n3.exec('ping', ['-c', '2', '-I', podC, podB]);

    // b leaves: its direct route goes; c's lease stays programmed.
    expect(await b.v.stop()).toBe(0);
    bench.deleteLease(prefix, snB.replace('/', '-'));
    await eventually('a to drop the direct route to b', () => n1.run('ip', '-4', 'route', 'show', snB).trim() === '');
    expect(routesOn(n1, 'flannel.1').map((r) => r.dst)).toEqual([snC]);
    await n1.exec('ping', ['-c', '2', '-I', podA, podC]);
  });
});
