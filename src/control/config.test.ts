import { describe, expect, it } from 'vitest';
import { toSpecs, validateConfig } from './config.js';
import { VxtapError } from '../core/errors.js';

const minimal = { local: '198.51.100.1', networks: [{ vni: 42, ports: [{ dev: 'vxt0' }] }] };

function problems(raw: unknown): string {
  try {
    validateConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(VxtapError);
    expect((e as VxtapError).code).toBe('E_CONFIG');
    return (e as Error).message;
  }
  throw new Error('config was accepted');
}

describe('validateConfig', () => {
  it('fills in the kernel-like defaults', () => {
    const c = validateConfig(minimal);
    expect(c).toMatchObject({ dstport: 4789, srcport: [49152, 65535], ignoreReserved: false, offload: true });
    expect(c.networks[0]).toMatchObject({ remotes: [], learning: true, stickyLocal: true, ageing: 300, maxaddress: 0, innerVlan: false });
    expect(c.networks[0].ports[0].mtu).toBe(1450);
  });

  it('names the field of each problem', () => {
    expect(problems({ ...minimal, local: '198.51.100' })).toMatch(/^local: expected an IPv4 address/);
    expect(problems({ ...minimal, networks: [{ vni: 1 << 24, ports: [{ dev: 'vxt0' }] }] })).toMatch(/^networks\[0\]\.vni: /);
    expect(problems({ ...minimal, srcport: [60000, 50000] })).toMatch(/^srcport: the first port \(MIN\) must not exceed/);
    expect(problems({ ...minimal, networks: [{ vni: 1, ports: [{ dev: 'a-name-longer-than-15' }] }] })).toMatch(/^networks\[0\]\.ports\[0\]\.dev: a device name is at most 15 bytes/);
    expect(problems({ ...minimal, networks: [{ vni: 1, ageng: 5, ports: [{ dev: 'x' }] }] })).toMatch(/^networks\[0\]: unknown field\(s\) "ageng"/);
    expect(problems({ ...minimal, networks: [{ vni: 1, ports: [] }] })).toMatch(/a network needs at least one port/);
    expect(problems({ ...minimal, networks: [{ vni: 1, ports: [{ dev: '..' }] }] })).toMatch(/^networks\[0\]\.ports\[0\]\.dev: a device name cannot be "\.\."/);
    expect(problems({ ...minimal, control: `/run/${'c'.repeat(110)}` })).toMatch(/^control: a unix socket path is at most 107 bytes/);
    expect(problems({ ...minimal, metrics: '127.0.0.1' })).toMatch(/^metrics: expected ADDR:PORT such as 127\.0\.0\.1:9100/);
    expect(validateConfig({ ...minimal, metrics: '127.0.0.1:9100' }).metrics).toBe('127.0.0.1:9100');
  });

  it('checks references and duplicates across networks', () => {
    const two = {
      local: '198.51.100.1',
      networks: [
        { vni: 7, ports: [{ dev: 'a' }], static: [{ mac: '02:00:00:00:00:01', dev: 'b' }] },
        { vni: 7, ports: [{ dev: 'a' }] },
      ],
    };
    const msg = problems(two);
    expect(msg).toContain('networks[0].static[0].dev: "b" is not a port of this network');
    expect(msg).toContain('networks[1].vni: VNI 7 appears twice');
    expect(msg).toContain('networks[1].ports[0].dev: device "a" appears twice');
    expect(problems({ ...minimal, networks: [{ vni: 1, ports: [{ dev: 'a' }], static: [{ mac: '02:00:00:00:00:01' }] }] }))
      .toContain('give exactly one of "dst"');
  });
});

describe('maxaddress and static entries (issue 16, item 7)', () => {
  const statics = (n: number) => Array.from({ length: n }, (_, i) => ({ mac: `02:00:00:00:00:0${i + 1}`, dst: '198.51.100.2' }));
  const net = (maxaddress: number, st: object[]) => ({ ...minimal, networks: [{ vni: 1, maxaddress, static: st, ports: [{ dev: 'a' }] }] });

  it('refuses more static entries than maxaddress, naming the field', () => {
    expect(problems(net(2, statics(3)))).toBe('networks[0].maxaddress: 2 is less than the 3 static entries, which count toward it: raise it to at least 3, or 0 for no cap');
  });

  it('accepts as many as maxaddress, a MAC given twice as one, and any number without a cap', () => {
    expect(() => validateConfig(net(3, statics(3)))).not.toThrow();
    expect(() => validateConfig(net(1, [...statics(1), { mac: '02-00-00-00-00-01', dst: '198.51.100.3' }]))).not.toThrow();
    expect(() => validateConfig(net(0, statics(5)))).not.toThrow();
  });
});

describe('toSpecs', () => {
  it('turns addresses and MACs into numbers for the data path', () => {
    const spec = toSpecs(validateConfig({
      local: '198.51.100.1',
      dstport: 8472,
      srcport: [1000, 2000],
      networks: [{
        vni: 9, remotes: ['198.51.100.2'], learning: false, stickyLocal: false, ageing: 5, maxaddress: 10, proxy: true,
        static: [{ mac: '02:00:00:00:00:0a', dst: '198.51.100.3' }, { mac: '02:00:00:00:00:0b', dev: 'p' }],
        ports: [{ dev: 'p', address: '203.0.113.1/24', mtu: 1400 }],
      }],
    }));
    expect(spec.udp).toBeUndefined();
    expect(spec.vtep).toEqual({
      local: 0xc6336401, dstPort: 8472, srcPortMin: 1000, srcPortMax: 2000, ignoreReserved: false, offload: true, flowCache: true, queues: 1,
      networks: [{
        vni: 9, remotes: [0xc6336402], learning: false, stickyLocal: false, ageingSec: 5, maxAddress: 10, allowInnerVlan: false, proxy: true,
        statics: [{ mac: 0x02000000000a, remote: 0xc6336403 }, { mac: 0x02000000000b, dev: 'p' }],
        ports: [{ dev: 'p', address: '203.0.113.1/24', mtu: 1400, mac: undefined }],
      }],
    });
  });

  it('builds the UDP overlay with routes and the underlay MTU minus 28 by default', () => {
    const c = validateConfig({
      local: '198.51.100.1',
      udp: { dev: 'tun0', address: '198.18.1.1/16', routes: [{ subnet: '198.18.2.0/24', peer: '198.51.100.2' }, { subnet: '198.18.3.9/24', peer: '198.51.100.3', port: 9000 }] },
    });
    const { vtep, udp } = toSpecs(c, (ip) => (ip === '198.51.100.1' ? 1400 : 0));
    expect(vtep).toBeUndefined();
    expect(udp).toEqual({
      local: 0xc6336401, port: 8285, dev: 'tun0', address: 0xc6120101, cidr: '198.18.1.1/16', mtu: 1372,
      routes: [{ addr: 0xc6120200, len: 24, peer: 0xc6336402, port: 8285 }, { addr: 0xc6120300, len: 24, peer: 0xc6336403, port: 9000 }],
      kernelRoutes: true,
      offload: true,
    });
  });

  it('wants a network or a udp overlay, and device names unique across both', () => {
    expect(() => validateConfig({ local: '198.51.100.1' })).toThrow(/networks: give at least one VXLAN network, or a "udp" overlay/);
    expect(() => validateConfig({
      local: '198.51.100.1', udp: { dev: 'x', address: '198.18.1.1/16' }, networks: [{ vni: 1, ports: [{ dev: 'x' }] }],
    })).toThrow(/networks\[0\]\.ports\[0\]\.dev: device "x" appears twice/);
  });
});
