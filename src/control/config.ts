// The JSON config of `vxtap run`, and the spec the data path is built from.
// `vxtap vxlan` builds the same JSON from its flags, so both go through one
// validator; an error names the field (or the flag) and what is wrong.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { IANA_VXLAN_PORT, VNI_MAX } from '../wire/vxlan.js';
import { parseCidr, parseIpv4Addr } from '../wire/ipaddr.js';
import { parseMac } from '../wire/mac.js';
import type { NetworkSpec, VtepSpec } from '../vxlan/vtep.js';
import type { UdpOverlaySpec } from '../udp/overlay.js';
import { mtuOfAddress } from '../io/device.js';
import { prefixMask } from '../switch/routes.js';
import { IPV4_HLEN } from '../wire/ipv4.js';
import { FLANNEL_UDP_PORT, UDP_HLEN } from '../wire/udp.js';
import { defaultControlPath, devNameProblem, UNIX_PATH_MAX } from './control-path.js';
import { formatPath, VxtapError } from '../core/errors.js';

/** The kernel's defaults: ageing 300 s; MTU is a 1500-byte underlay minus 50. */
export const DEFAULT_AGEING = 300;
export const DEFAULT_MTU = 1450;
/** RFC 7348 section 5: the dynamic/private range for the outer source port. */
export const DEFAULT_SRCPORT: [number, number] = [49152, 65535];

function valid(parse: (s: string) => unknown) {
  return (s: string) => {
    try {
      parse(s);
      return true;
    } catch {
      return false;
    }
  };
}

const ipv4 = z.string().refine(valid(parseIpv4Addr), { message: 'expected an IPv4 address such as 198.51.100.1' });
const cidr = z.string().refine(valid(parseCidr), { message: 'expected an IPv4 address with a prefix length, such as 203.0.113.1/24' });
const mac = z.string().refine(valid(parseMac), { message: 'expected a MAC address such as 02:00:00:00:00:01' });
const port = z.number().int().min(1).max(65535);
const devName = z.string().superRefine((s, ctx) => {
  const problem = devNameProblem(s);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: `a device name ${problem}` });
});
/** A unix socket path the kernel takes whole. */
const socketPath = z.string().min(1).refine((s) => Buffer.byteLength(s) <= UNIX_PATH_MAX, {
  message: `a unix socket path is at most ${UNIX_PATH_MAX} bytes: give a shorter path`,
});

/** ADDR:PORT of the metrics server, e.g. 127.0.0.1:9100 (port 0 picks a free one). */
const listenAddr = z.string().superRefine((s, ctx) => {
  const m = /^([^:]+):(\d{1,5})$/.exec(s);
  const problem = !m ? 'expected ADDR:PORT such as 127.0.0.1:9100'
    : !valid(parseIpv4Addr)(m[1]) ? 'expected an IPv4 address before the port, such as 127.0.0.1:9100'
      : Number(m[2]) > 65535 ? `${m[2]} is not a TCP port: give one of 1-65535`
        : null;
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

const portSchema = z.strictObject({
  dev: devName,
  address: cidr.optional(),
  mtu: z.number().int().min(68).max(65000).default(DEFAULT_MTU),
  mac: mac.optional(),
});

const staticSchema = z.strictObject({
  mac,
  dst: ipv4.optional(),
  dev: devName.optional(),
}).refine((s) => (s.dst === undefined) !== (s.dev === undefined), { message: 'give exactly one of "dst" (a remote VTEP) or "dev" (a local port)' });

const networkSchema = z.strictObject({
  vni: z.number().int().min(0).max(VNI_MAX),
  remotes: z.array(ipv4).default([]),
  learning: z.boolean().default(true),
  /** A MAC learned on a local port does not move to a remote while it is fresh. */
  stickyLocal: z.boolean().default(true),
  ageing: z.number().int().min(1).default(DEFAULT_AGEING),
  maxaddress: z.number().int().min(0).default(0),
  innerVlan: z.boolean().default(false),
  /** Answer ARP requests and neighbour solicitations from the neighbour table (README: Neighbours and the ARP/ND proxy). */
  proxy: z.boolean().default(false),
  static: z.array(staticSchema).default([]),
  ports: z.array(portSchema).min(1, { message: 'a network needs at least one port' }),
}).superRefine((n, ctx) => {
  const devs = new Set(n.ports.map((p) => p.dev));
  n.static.forEach((s, i) => {
    if (s.dev !== undefined && !devs.has(s.dev)) {
      ctx.addIssue({ code: 'custom', path: ['static', i, 'dev'], message: `"${s.dev}" is not a port of this network` });
    }
  });
  // As in the kernel, static entries count toward maxaddress (a MAC given twice is one entry).
  const statics = new Set(n.static.map((s) => s.mac.toLowerCase().replaceAll('-', ':'))).size;
  if (n.maxaddress > 0 && statics > n.maxaddress) {
    ctx.addIssue({
      code: 'custom', path: ['maxaddress'],
      message: `${n.maxaddress} is less than the ${statics} static entries, which count toward it: raise it to at least ${statics}, or 0 for no cap`,
    });
  }
});

const routeSchema = z.strictObject({
  subnet: cidr,
  peer: ipv4,
  port: port.default(FLANNEL_UDP_PORT),
});

const udpSchema = z.strictObject({
  dev: devName,
  address: cidr,
  port: port.default(FLANNEL_UDP_PORT),
  /** Default: the underlay MTU minus 28 (IPv4 + UDP headers). */
  mtu: z.number().int().min(68).max(65000).optional(),
  routes: z.array(routeSchema).default([]),
});

export const configSchema = z.strictObject({
  local: ipv4,
  dstport: port.default(IANA_VXLAN_PORT),
  srcport: z.tuple([port, port]).default(DEFAULT_SRCPORT)
    .refine(([a, b]) => a <= b, { message: 'the first port (MIN) must not exceed the second (MAX)' }),
  ignoreReserved: z.boolean().default(false),
  /** TAP/TUN TSO and GRO, UDP GSO and GRO, each where the kernel has it. */
  offload: z.boolean().default(true),
  /** Packets of a flow already forwarded go by the flow cache, in native code (README: Latency). */
  flowCache: z.boolean().default(true),
  /** VXLAN pipelines, one per thread, on IFF_MULTI_QUEUE TAPs and SO_REUSEPORT sockets. */
  queues: z.number().int().min(1).max(16).default(1),
  control: socketPath.optional(),
  /** A group whose members may use the control socket (0660); without it, root only (0600). */
  controlGroup: z.string().min(1).optional(),
  /** The user to run as once set-up is done (README: Privileges); without it, the user vxtap was started as. */
  user: z.string().min(1).optional(),
  /** Serves /metrics, /healthz and /readyz over HTTP (README: Metrics). */
  metrics: listenAddr.optional(),
  networks: z.array(networkSchema).default([]),
  udp: udpSchema.optional(),
}).superRefine((c, ctx) => {
  if (c.networks.length === 0 && c.udp === undefined) {
    ctx.addIssue({ code: 'custom', path: ['networks'], message: 'give at least one VXLAN network, or a "udp" overlay' });
  }
  const vnis = new Set<number>();
  const devs = new Set<string>(c.udp ? [c.udp.dev] : []);
  c.networks.forEach((n, i) => {
    if (vnis.has(n.vni)) ctx.addIssue({ code: 'custom', path: ['networks', i, 'vni'], message: `VNI ${n.vni} appears twice` });
    vnis.add(n.vni);
    n.ports.forEach((p, j) => {
      if (devs.has(p.dev)) ctx.addIssue({ code: 'custom', path: ['networks', i, 'ports', j, 'dev'], message: `device "${p.dev}" appears twice` });
      devs.add(p.dev);
    });
  });
});

export type Config = z.infer<typeof configSchema>;

/**
 * Validates a parsed config. `describe` turns a field path into what the user
 * typed (a flag for `vxtap vxlan`); the error lists every problem.
 */
export function validateConfig(raw: unknown, describe: (path: string) => string = (p) => p): Config {
  const r = configSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    const where = describe(formatPath(i.path));
    const msg = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}` : i.message;
    return `${where}: ${msg}`;
  });
  throw new VxtapError('E_CONFIG', problems.join('; '));
}

export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VxtapError('E_CONFIG', `--config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new VxtapError('E_CONFIG', `--config ${path}: not valid JSON (${(e as Error).message})`);
  }
  return validateConfig(raw, (p) => `${path}: ${p}`);
}

/** The data paths' view of a validated config. */
export interface Specs {
  vtep?: VtepSpec;
  udp?: UdpOverlaySpec;
}

/**
 * Turns a validated config into pipeline specs. `underlayMtu` finds the MTU
 * of the interface holding an address (the UDP overlay's default MTU is that
 * minus 28).
 */
export function toSpecs(c: Config, underlayMtu: (ip: string) => number = mtuOfAddress): Specs {
  const specs: Specs = {};
  if (c.networks.length > 0) specs.vtep = toVtepSpec(c);
  if (c.udp !== undefined) {
    const u = c.udp;
    specs.udp = {
      local: parseIpv4Addr(c.local),
      port: u.port,
      dev: u.dev,
      address: parseCidr(u.address).addr,
      cidr: u.address,
      mtu: u.mtu ?? underlayMtu(c.local) - IPV4_HLEN - UDP_HLEN,
      routes: u.routes.map((r) => {
        const { addr, len } = parseCidr(r.subnet);
        return { addr: (addr & prefixMask(len)) >>> 0, len, peer: parseIpv4Addr(r.peer), port: r.port };
      }),
      kernelRoutes: true,
      offload: c.offload,
    };
  }
  return specs;
}

function toVtepSpec(c: Config): VtepSpec {
  return {
    local: parseIpv4Addr(c.local),
    dstPort: c.dstport,
    srcPortMin: c.srcport[0],
    srcPortMax: c.srcport[1],
    ignoreReserved: c.ignoreReserved,
    offload: c.offload,
    flowCache: c.flowCache,
    queues: c.queues,
    networks: c.networks.map(toNetworkSpec),
  };
}

/** One network of a validated config as the data path takes it (also for a reload's changes). */
export function toNetworkSpec(n: Config['networks'][number]): NetworkSpec {
  return {
    vni: n.vni,
    remotes: n.remotes.map(parseIpv4Addr),
    learning: n.learning,
    stickyLocal: n.stickyLocal,
    ageingSec: n.ageing,
    maxAddress: n.maxaddress,
    allowInnerVlan: n.innerVlan,
    proxy: n.proxy,
    statics: n.static.map((s) => ({
      mac: parseMac(s.mac),
      ...(s.dst !== undefined ? { remote: parseIpv4Addr(s.dst) } : { dev: s.dev }),
    })),
    ports: n.ports.map((p) => ({ dev: p.dev, address: p.address, mtu: p.mtu, mac: p.mac })),
  };
}

export function controlPathOf(c: Config): string {
  return c.control ?? defaultControlPath(c.networks[0]?.ports[0].dev ?? c.udp!.dev);
}
