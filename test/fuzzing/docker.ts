// Fuzz target for the Docker driver: sequences of remote-driver requests, as
// dockerd sends them (CreateNetwork, CreateEndpoint, Join, Leave, ...) with
// their fields bent, cut short or replaced, and random paths and bodies, fed
// to dispatch() in front of a real DockerDriver over a real dataplane (TAPs,
// UDP sockets) in the fuzzing namespace.
//
// Every reply is 200, 400 or 404 with a JSON object; an Err is one line; a
// 500 (a bug) fails. After each case every network it made is deleted again:
// then no VTEP runs, the FDB is empty, and the state file the driver wrote
// reads back with no network.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createLogger } from '../../src/control/log.js';
import { DockerDriver } from '../../src/docker/driver.js';
import { dispatch, type Reply } from '../../src/docker/protocol.js';
import { loadState } from '../../src/docker/state.js';
import { checkOneLine, type Fuzzer, type Target } from './harness.js';

const NETS = ['n1', 'n2', 'a'.repeat(64)];
const EPS = ['e1', 'e2', 'e3', 'f'.repeat(64)];

const validGeneric = fc.record({
  vni: fc.constantFrom('42', '43'),
  remote: fc.constantFrom('127.0.0.2', '127.0.0.2,127.0.0.3'),
  port: fc.constantFrom('4789', '8472'),
  mode: fc.constantFrom('bridge', 'private'),
}, { requiredKeys: ['vni'] });
const bentGeneric = fc.record({
  vni: fc.constantFrom('42', '43', '0', '16777215', '16777216', '-1', '4x', '', ' 42', '042'),
  remote: fc.constantFrom('127.0.0.2', '127.0.0.2,127.0.0.3', '127.0.0.2,127.0.0.2', '', ',', '198.51.100', '1.2.3.4.5', 'x'.repeat(5000)),
  port: fc.constantFrom('4789', '8472', '0', '65536', 'x', '1e3'),
  mode: fc.constantFrom('bridge', 'private', 'vepa', ''),
  'com.docker.network.driver.mtu': fc.constantFrom('1400', '1450', '68', '67', '1451', '9000'),
  vlan: fc.constant('3'),
}, { requiredKeys: [] });
const generic = fc.oneof({ weight: 3, arbitrary: validGeneric }, { weight: 1, arbitrary: bentGeneric });

/** A well-formed request of each method, from dockerd's own (see protocol.ts). */
const template = fc.oneof(
  fc.tuple(fc.constantFrom(...NETS), generic, fc.constantFrom('203.0.113.1/24', '203.0.113.64/24', '', 'x')).map(([id, g, gw]) => ['CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': g },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Gateway: gw, Pool: '203.0.113.0/24' }], IPv6Data: [],
  }] as const),
  fc.tuple(fc.constantFrom(...NETS), fc.constantFrom(...EPS), fc.constantFrom('203.0.113.65/24', '', '203.0.113.300/24', '2001:db8::1/64'),
    fc.constantFrom('', '02:42:cb:00:71:41', '01:00:5e:00:00:01', 'zz', '02-42-cb-00-71-42')).map(([nid, eid, addr, mac]) => ['CreateEndpoint', {
    NetworkID: nid, EndpointID: eid, Interface: { Address: addr, AddressIPv6: '', MacAddress: mac },
    Options: { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] },
  }] as const),
  fc.tuple(fc.constantFrom(...NETS), fc.constantFrom(...EPS)).map(([nid, eid]) => ['Join', { NetworkID: nid, EndpointID: eid, SandboxKey: '/var/run/docker/netns/x', Options: {} }] as const),
  fc.tuple(fc.constantFrom('Leave', 'DeleteEndpoint', 'EndpointOperInfo', 'RevokeExternalConnectivity'), fc.constantFrom(...NETS), fc.constantFrom(...EPS))
    .map(([m, nid, eid]) => [m, { NetworkID: nid, EndpointID: eid }] as const),
  fc.tuple(fc.constantFrom(...NETS), fc.constantFrom(...EPS), fc.constantFrom([], [{ HostPort: 80 }])).map(([nid, eid, pm]) => ['ProgramExternalConnectivity', {
    NetworkID: nid, EndpointID: eid, Options: { 'com.docker.network.portmap': pm },
  }] as const),
  fc.constantFrom(...NETS).map((id) => ['DeleteNetwork', { NetworkID: id }] as const),
  fc.constantFrom('AllocateNetwork', 'FreeNetwork').map((m) => [m, { NetworkID: 'n1' }] as const),
  fc.constantFrom(['DiscoverNew', { DiscoveryType: 1, DiscoveryData: { Address: '198.51.100.2', self: false } }] as const),
);

const leaf = fc.oneof(fc.constantFrom(null, true, 0, -1, 2 ** 53, '', 'x'.repeat(300), '__proto__', 'a\nb', [], {}), fc.jsonValue({ maxDepth: 2 }));

/** Replaces one field of a request (or adds one) with a leaf. */
function bend(body: Record<string, unknown>, keyIndex: number, key: string, value: unknown, add: boolean): Record<string, unknown> {
  const keys = Object.keys(body);
  const k = add || keys.length === 0 ? key : keys[keyIndex % keys.length];
  const out = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
  Object.defineProperty(out, k, { value, enumerable: true, configurable: true, writable: true });
  return out;
}

const request = fc.oneof(
  { weight: 6, arbitrary: template.map(([m, b]) => [`/NetworkDriver.${m}`, JSON.stringify(b)] as const) },
  { weight: 3, arbitrary: fc.tuple(template, fc.nat(), fc.string({ maxLength: 12 }), leaf, fc.boolean()).map(([[m, b], i, k, v, add]) =>
    [`/NetworkDriver.${m}`, JSON.stringify(bend(b as Record<string, unknown>, i, k, v, add))] as const) },
  { weight: 1, arbitrary: fc.tuple(template, fc.nat()).map(([[m, b], n]) => { const t = JSON.stringify(b); return [`/NetworkDriver.${m}`, t.slice(0, n % t.length)] as const; }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/Plugin.Activate', '/NetworkDriver.GetCapabilities', '/NetworkDriver.', '/NetworkDriver.__proto__',
    '/NetworkDriver.constructor', '/NetworkDriver.toString', '/', '/IpamDriver.RequestPool', '/NetworkDriver.Join/x'), fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue().map((v) => JSON.stringify(v) ?? '')))
    .map(([p, b]) => [p, b] as const) },
);

/** A network's life as dockerd drives it, with random requests in between; the in-betweens may break it. */
const story = fc.tuple(template, fc.constantFrom(...NETS), fc.constantFrom(...EPS), fc.array(request, { maxLength: 3 })).chain(([, nid, eid, noise]) =>
  fc.tuple(generic, fc.constantFrom('', '02:42:cb:00:71:41')).map(([g, mac]) => [
    ['/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: nid, Options: { 'com.docker.network.generic': g }, IPv4Data: [{ Pool: '203.0.113.0/24', Gateway: '203.0.113.1/24' }] })],
    ['/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: nid, EndpointID: eid, Interface: { Address: '203.0.113.65/24', MacAddress: mac } })],
    ['/NetworkDriver.Join', JSON.stringify({ NetworkID: nid, EndpointID: eid, SandboxKey: '/var/run/docker/netns/x' })],
    ...noise,
    ['/NetworkDriver.Leave', JSON.stringify({ NetworkID: nid, EndpointID: eid })],
    ['/NetworkDriver.DeleteEndpoint', JSON.stringify({ NetworkID: nid, EndpointID: eid })],
  ] as ReadonlyArray<readonly [string, string]>));

function checkReply(path: string, r: Reply): void {
  if (![200, 400, 404].includes(r.status)) throw new Error(`${path}: status ${r.status}: ${JSON.stringify(r.body)}`);
  if (r.body === null || typeof r.body !== 'object' || Array.isArray(r.body)) throw new Error(`${path}: the reply is not an object`);
  const err = (r.body as { Err?: unknown }).Err;
  if (r.status !== 200 && typeof err !== 'string') throw new Error(`${path}: status ${r.status} without an Err`);
  if (err !== undefined) {
    if (typeof err !== 'string' || err === '') throw new Error(`${path}: Err is not a line of text`);
    checkOneLine(err);
  }
  if (r.status === 200 && err === undefined && path === '/NetworkDriver.Join') {
    const n = (r.body as { InterfaceName?: { SrcName?: unknown } }).InterfaceName;
    if (typeof n?.SrcName !== 'string') throw new Error(`Join answered without InterfaceName.SrcName: ${JSON.stringify(r.body)}`);
  }
}

export const dockerTarget: Target = {
  name: 'docker-plugin',
  what: "remote network driver requests (dockerd's, bent) to a real driver and dataplane",
  cases: 200,
  netns: true,
  open: async (): Promise<Fuzzer> => {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-docker-'));
    const stateFile = join(dir, 'state.json');
    const log = createLogger({ VXTAP_LOG_LEVEL: 'silent' });
    const driver = new DockerDriver({ local: '127.0.0.1', underlayMtu: 1500, stateFile, offload: true, log, onRxError: () => undefined });
    const handlers = driver.handlers();
    const bug = (e: unknown) => {
      throw new Error(`internal error: ${e instanceof Error ? e.stack : String(e)}`);
    };
    const requests = fc.oneof(fc.array(request, { minLength: 1, maxLength: 8 }), story);
    const property = fc.asyncProperty(requests, async (reqs) => {
      for (const [path, body] of reqs) checkReply(path, await dispatch(handlers, path, body, bug));
      for (const id of NETS) checkReply('DeleteNetwork', await dispatch(handlers, '/NetworkDriver.DeleteNetwork', JSON.stringify({ NetworkID: id }), bug));
      if (driver.running.size !== 0) throw new Error(`${driver.running.size} VTEPs run with no network`);
      if (driver.fdbRows().length !== 0) throw new Error('FDB rows with no network');
      const state = loadState(stateFile);
      if (state.networks.length !== 0 || state.endpoints.length !== 0) throw new Error(`state left: ${JSON.stringify(state)}`);
    });
    return {
      property: property as unknown as fc.IRawProperty<never, boolean>,
      close: () => {
        driver.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
