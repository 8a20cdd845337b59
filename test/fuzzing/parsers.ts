// Fuzz targets for the parsers that run in-process with no devices: the
// capture filter, the config file, the flags (the flag parser under any flag
// table, and `vxtap flannel`'s), and what a flannel node reads from its store
// (lease keys and values, the network config).
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFilter, MAX_FILTER_LENGTH } from '../../src/capture/filter.js';
import { parseFlags, type FlagSpec } from '../../src/control/args.js';
import { type Config, loadConfigFile, toSpecs, validateConfig } from '../../src/control/config.js';
import { planReload, RESTART_FIELDS } from '../../src/control/reload.js';
import { VxtapError } from '../../src/core/errors.js';
import { parseNetworkConfig } from '../../src/flannel/config.js';
import { parseFlannelFlags } from '../../src/flannel/flags.js';
import { decodeAttrs, encodeAttrs, parseSubnetKey, subnetKey } from '../../src/flannel/lease.js';
import { capturedFrame } from './frames.js';
import { plainErrorOnly, userErrorOnly, type Target } from './harness.js';
import { configPair, replay, touched } from './reload-model.js';

const sync = <T extends unknown[]>(arb: fc.Arbitrary<T>, pred: (...a: T) => void) =>
  ({ property: fc.property(arb, (a) => pred(...a)) as unknown as fc.IRawProperty<never, boolean> });

// ---- capture filter ---------------------------------------------------------

const WORDS = [
  'vni', 'mac', 'host', 'port', 'proto', 'tcp', 'udp', 'icmp', 'arp', 'and', 'or', '&&', '||', 'not', '!', '(', ')',
  '42', '0', '16777215', '16777216', '-1', '1e3', '02:00:00:00:00:01', 'zz:00:00:00:00:00', '203.0.113.2', '1.2.3',
  '65535', '65536', '&', '|', '\u00e9', '0x10', '__proto__', 'constructor',
];
export const filterText = fc.oneof(
  { weight: 6, arbitrary: fc.array(fc.constantFrom(...WORDS), { maxLength: 24 }).chain((ws) =>
    fc.array(fc.constantFrom(' ', '  ', '', '\t', '\n'), { minLength: ws.length, maxLength: ws.length })
      .map((sp) => ws.map((w, i) => w + sp[i]).join(''))) },
  // Deep nesting and long runs: the bounds, from both sides of them.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), fc.constantFrom('(', 'not ', '! ', '((tcp or ')).map(([n, m, open]) => open.repeat(n) + 'tcp' + ')'.repeat(m)) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 1, max: 1200 }), fc.constantFrom(' or ', ' and ', ' || ')).map(([n, op]) => Array(n).fill('port 53').join(op)) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(' and ', ' or '), { maxLength: 150 }).map((ops) => 'tcp' + ops.map((op) => op + 'udp').join('')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: MAX_FILTER_LENGTH - 2, maxLength: MAX_FILTER_LENGTH + 2 }) },
);

const filterTarget: Target = {
  name: 'filter',
  what: 'capture filter text, compiled and run on captured frames',
  cases: 30_000,
  netns: false,
  open: async () => sync(fc.tuple(filterText, fc.option(fc.integer({ min: 0, max: 0xffffff })), fc.array(capturedFrame, { maxLength: 4 })), (text, vni, frames) => {
    const f = userErrorOnly(() => compileFilter(text, { vxlanPort: 4789, overlayPort: 8285, ...(vni !== null && { vni }) }));
    if (f instanceof VxtapError) return;
    for (const b of frames) {
      if (typeof f(b, 0, b.length, -1) !== 'boolean') throw new Error('the predicate returned a non-boolean');
    }
  }),
};

// ---- config -----------------------------------------------------------------

const EXAMPLE = {
  local: '198.51.100.1', dstport: 4789, srcport: [49152, 65535], ignoreReserved: false, control: '/run/vxtap/h1.sock',
  networks: [
    {
      vni: 42, remotes: ['198.51.100.2'], learning: true, stickyLocal: true, ageing: 300, maxaddress: 0, innerVlan: false, proxy: true,
      static: [{ mac: '02:00:00:00:00:0a', dst: '198.51.100.3' }, { mac: '02:00:00:00:00:0b', dev: 'vxa1' }],
      ports: [{ dev: 'vxa0', address: '203.0.113.1/25', mtu: 1450 }, { dev: 'vxa1' }],
    },
  ],
  udp: { dev: 'tun0', address: '198.18.1.1/16', port: 8285, routes: [{ subnet: '198.18.2.0/24', peer: '198.51.100.2', port: 8285 }] },
  offload: true,
  queues: 1,
};

const jsonLeaf = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 65536, 2 ** 53, '', '198.51.100.999', '0.0.0.0/33', 'x'.repeat(300), '__proto__', 'a\nb', [], {}),
  fc.jsonValue({ maxDepth: 2 }),
);
const weirdKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'a\nb', '', 'toString', 'vni '), fc.string({ maxLength: 10 }));

/** Replaces the value at a random path of `v` (or adds a key there). */
function mutate(v: unknown, path: number[], leaf: unknown, key: string, addKey: boolean): unknown {
  if (path.length === 0 || v === null || typeof v !== 'object') return leaf;
  if (Array.isArray(v)) {
    if (v.length === 0) return [leaf];
    const i = path[0] % v.length;
    return v.map((x, j) => (j === i ? mutate(x, path.slice(1), leaf, key, addKey) : x));
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (addKey || keys.length === 0) {
    const out = { ...o };
    Object.defineProperty(out, key, { value: leaf, enumerable: true, configurable: true, writable: true });
    return out;
  }
  const k = keys[path[0] % keys.length];
  return { ...o, [k]: mutate(o[k], path.slice(1), leaf, key, addKey) };
}

const mutatedConfig = fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), jsonLeaf, weirdKey, fc.boolean(), fc.integer({ min: 1, max: 3 }))
  .map(([path, leaf, key, add, times]) => {
    let c: unknown = EXAMPLE;
    for (let t = 0; t < times; t++) c = mutate(c, path.slice(t), leaf, key, add && t === 0);
    return c;
  });

let configDir: string | null = null;

const configTarget: Target = {
  name: 'config',
  what: 'config files: mutated examples and any JSON, validated and turned into pipeline specs; text through loadConfigFile',
  cases: 3_000,
  netns: false,
  open: async () => {
    configDir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-config-'));
    const file = join(configDir, 'c.json');
    const raw = fc.oneof({ weight: 4, arbitrary: mutatedConfig }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
    const text = fc.oneof(raw.map((v) => JSON.stringify(v) ?? ''), fc.string({ maxLength: 200 }), raw.chain((v) => fc.nat().map((n) => (JSON.stringify(v) ?? '').slice(0, n % 400))));
    return {
      // Through a file one case in eight: the write costs more than the parse.
      ...sync(fc.tuple(raw, fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: text })), (value, t) => {
        const c = userErrorOnly(() => validateConfig(value));
        if (!(c instanceof VxtapError)) {
          // Validation is idempotent: what it gives back passes again, unchanged.
          const again = validateConfig(JSON.parse(JSON.stringify(c)));
          if (JSON.stringify(again) !== JSON.stringify(c)) throw new Error('validate(validate(c)) differs from validate(c)');
          userErrorOnly(() => toSpecs(c, () => 1500));
        }
        if (t === null) return;
        writeFileSync(file, t);
        userErrorOnly(() => loadConfigFile(file));
      }),
      close: () => {
        rmSync(configDir!, { recursive: true, force: true });
      },
    };
  },
};

// ---- flags --------------------------------------------------------------------

const FLAG_NAMES = ['dev', 'vni', 'srcport', 'remote', 'c', 'nolearning', '__proto__', 'constructor', 'hasOwnProperty', 'toString'];
const flagSpec: fc.Arbitrary<FlagSpec> = fc.record({
  arity: fc.constantFrom(0 as const, 1 as const, 2 as const),
  repeat: fc.boolean(),
  int: fc.boolean(),
  short: fc.option(fc.constantFrom('c', 'w', 'B', 'x'), { nil: undefined }),
}, { requiredKeys: ['arity'] });
const specTable = fc.uniqueArray(fc.constantFrom(...FLAG_NAMES.slice(0, 6)), { maxLength: 6 }).chain((names) =>
  fc.tuple(...names.map(() => flagSpec)).map((specs) => Object.fromEntries(names.map((n, i) => [n, specs[i]])) as Record<string, FlagSpec>));
const argWord = fc.oneof(
  fc.constantFrom(...FLAG_NAMES.map((n) => `--${n}`), '-c', '-w', '-B', '-', '--', '---', '-cc', '42', '0', '-1', '007', '1e3', '', ' ', '\n'),
  fc.string({ maxLength: 12 }),
);

const FLANNEL_WORDS = [
  '--etcd-endpoints', '--etcd-prefix', '--iface', '--public-ip', '--subnet-file', '--subnet-lease-renew-margin', '--healthz-ip',
  '--healthz-port', '--lease-file', '--network-config', '--subnet-lease-ttl', '--control', '--control-group', '-iface',
  '-etcd-endpoints', '--etcd-cafile', '--etcd-certfile', '--etcd-keyfile', '--etcd-username', '--etcd-password', '--iface-regex',
  '--iface-can-reach', '--ip-masq', '--user', '--kube-subnet-mgr', '-v', '[', '(a|b', 'eth.*', 'nobody', 'http://127.0.0.1:2379', 'https://x:1', 'http://a,http://b', '/x', 'x', '198.51.100.1',
  '0', '60', '1439', '1440', '86400', '86401', '2', '65536', '{"Network":"198.18.0.0/16"}', '',
];
const flannelArgv = fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FLANNEL_WORDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) }), { maxLength: 12 });
const flannelEnv = fc.dictionary(
  fc.constantFrom('FLANNELD_IFACE', 'FLANNELD_IFACE_REGEX', 'FLANNELD_ETCD_CAFILE', 'FLANNELD_IP_MASQ', 'FLANNELD_USER', 'FLANNELD_ETCD_ENDPOINTS', 'FLANNELD_SUBNET_LEASE_TTL', 'FLANNELD_HEALTHZ_PORT', 'FLANNELD_LEASE_FILE', 'FLANNELD_PUBLIC_IP', 'FLANNELD_ETCD_PREFIX'),
  fc.oneof(fc.constantFrom(...FLANNEL_WORDS), fc.string({ maxLength: 10 })),
  { maxKeys: 3 },
);

const flagsTarget: Target = {
  name: 'flags',
  what: 'command lines: the flag parser under random flag tables, and vxtap flannel with FLANNELD_* variables',
  cases: 19_800,
  netns: false,
  open: async () => sync(fc.tuple(specTable, fc.array(argWord, { maxLength: 10 }), flannelArgv, flannelEnv), (specs, argv, fargv, env) => {
    const p = userErrorOnly(() => parseFlags(argv, specs));
    if (!(p instanceof VxtapError)) {
      for (const [name, uses] of p.flags) {
        if (!Object.hasOwn(specs, name)) throw new Error(`parsed --${name}, which the table does not have`);
        const s = specs[name];
        if (uses.length > 1 && !s.repeat) throw new Error(`--${name} accepted twice`);
        for (const values of uses) {
          if (values.length !== s.arity) throw new Error(`--${name}: ${values.length} values for arity ${s.arity}`);
          // A long run of digits reads as a huge number (even Infinity): still a non-negative number, which the caller range-checks.
          if (s.int && values.some((v) => typeof v !== 'number' || !(v >= 0))) throw new Error(`--${name}: not a non-negative number: ${String(values)}`);
        }
      }
    }
    userErrorOnly(() => parseFlannelFlags(fargv, env));
  }),
};

// ---- what a flannel node reads from its store -------------------------------------

const LEASE = '{"PublicIP":"198.51.100.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"02:00:00:00:00:07"}}';
const leaseText = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.array(fc.nat(), { maxLength: 4 }), jsonLeaf, weirdKey, fc.boolean()).map(([path, leaf, key, add]) => JSON.stringify(mutate(JSON.parse(LEASE), path, leaf, key, add)) ?? '') },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? '') },
  { weight: 1, arbitrary: fc.nat().map((n) => LEASE.slice(0, n % LEASE.length)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
);
const subnetKeyText = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 40 }))
    .map(([a, b, c, d, l]) => `${a}.${b}.${c}.${d}-${l}`),
  fc.constantFrom('10.5.52.0-24', '010.5.52.0-24', '10.5.52.0-24&fd00::-64', '10.5.52.1-24', '0.0.0.0-0', '255.255.255.255-32', '-24', '1.2.3.4-'),
  fc.string({ maxLength: 24 }),
);
const NETWORK_CONFIG = '{"Network":"198.18.0.0/16","SubnetLen":24,"SubnetMin":"198.18.1.0","SubnetMax":"198.18.200.0","Backend":{"Type":"vxlan","VNI":1,"Port":8472}}';
const networkConfigText = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.array(fc.nat(), { maxLength: 3 }), jsonLeaf, weirdKey, fc.boolean()).map(([path, leaf, key, add]) => JSON.stringify(mutate(JSON.parse(NETWORK_CONFIG), path, leaf, key, add)) ?? '') },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);

const leaseTarget: Target = {
  name: 'lease',
  what: 'etcd lease values and keys and the network config, as a store returns them',
  cases: 10_000,
  netns: false,
  open: async () => sync(fc.tuple(leaseText, subnetKeyText, networkConfigText), (text, key, config) => {
    const a = plainErrorOnly(() => decodeAttrs(text));
    if (!(a instanceof Error)) {
      // What vxtap writes for a lease it read, it reads back the same.
      const again = decodeAttrs(encodeAttrs(a));
      if (encodeAttrs(again) !== encodeAttrs(a)) throw new Error(`lease round trip: ${encodeAttrs(a)} -> ${encodeAttrs(again)}`);
    }
    const s = parseSubnetKey(key);
    if (s !== null) {
      const k = subnetKey(s);
      const back = parseSubnetKey(k);
      if (back === null || back.addr !== s.addr || back.len !== s.len) throw new Error(`subnet key round trip: ${key} -> ${k}`);
    }
    userErrorOnly(() => parseNetworkConfig(config, '/coreos.com/network/config'));
  }),
};

// ---- reload -----------------------------------------------------------------

/**
 * planReload on two valid configs: refused (one line) exactly when a field
 * fixed at start changed; otherwise its steps turn a model of the old config
 * into the new one, its undos take it back, and a network that is the same
 * in both is never touched.
 */
export function checkReload(old: Config, next: Config): void {
  const fixed = RESTART_FIELDS.some((f) => JSON.stringify(old[f]) !== JSON.stringify(next[f]));
  const steps = userErrorOnly(() => planReload(old, next));
  if (steps instanceof VxtapError) {
    if (!fixed) throw new Error(`refused a reload that changes no fixed field: ${steps.message}`);
    return;
  }
  if (fixed) throw new Error('accepted a reload that changes a field fixed at start');
  const { applied, undone } = replay(old, steps);
  const want = replay(next, []).applied;
  if (applied !== want) throw new Error(`the steps give ${applied}, the new config is ${want}`);
  if (undone !== replay(old, []).applied) throw new Error(`the undos give ${undone}, not the old config`);
  const unchanged = next.networks.filter((n) => old.networks.some((o) => JSON.stringify(o) === JSON.stringify(n)));
  for (const s of steps) {
    const t = touched(s.change);
    const hit = unchanged.find((n) => n.vni === t.vni || n.ports.some((p) => p.dev === t.dev));
    if (hit !== undefined) throw new Error(`VNI ${hit.vni} did not change, and a step touches it: ${JSON.stringify(s.change)}`);
  }
}

const reloadTarget: Target = {
  name: 'reload',
  what: 'config reloads: pairs of configs planned as steps, checked against a model of the VTEP',
  cases: 2_000,
  netns: false,
  open: async () => sync(fc.tuple(configPair), ({ old, next }) => {
    const a = userErrorOnly(() => validateConfig(old));
    const b = userErrorOnly(() => validateConfig(next));
    if (a instanceof VxtapError || b instanceof VxtapError) return;
    checkReload(a, b);
  }),
};

export const PARSER_TARGETS: Target[] = [filterTarget, configTarget, flagsTarget, leaseTarget, reloadTarget];
