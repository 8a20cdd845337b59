import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkReload } from '../../test/fuzzing/parsers.js';
import { configPair } from '../../test/fuzzing/reload-model.js';
import { VxtapError } from '../core/errors.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { parseMac } from '../wire/mac.js';
import { type Config, validateConfig } from './config.js';
import { describeChange, planReload } from './reload.js';

const A = { vni: 42, remotes: ['198.51.100.2'], ports: [{ dev: 'vxa0', address: '203.0.113.1/24' }] };
const B = { vni: 43, remotes: ['198.51.100.2'], ports: [{ dev: 'vxb0' }], static: [{ mac: '02:00:00:00:00:0b', dev: 'vxb0' }] };
const config = (networks: object[], more: object = {}): Config => validateConfig({ local: '198.51.100.1', networks, ...more });
const plan = (old: Config, next: Config) => planReload(old, next).map((s) => describeChange(s.change));

describe('planReload', () => {
  it('changes nothing when nothing changed, or only the order of the flood list', () => {
    expect(planReload(config([A, B]), config([A, B]))).toEqual([]);
    const two = { ...A, remotes: ['198.51.100.2', '198.51.100.3'] };
    expect(planReload(config([two]), config([{ ...two, remotes: ['198.51.100.3', '198.51.100.2'] }]))).toEqual([]);
  });

  it('adds a VNI with its ports, and leaves the unchanged one alone', () => {
    const steps = planReload(config([A]), config([A, B]));
    expect(steps).toHaveLength(1);
    expect(steps[0].change).toMatchObject({ op: 'add-network', network: { vni: 43, ports: [{ dev: 'vxb0' }] } });
    expect(steps[0].undo).toEqual([{ op: 'remove-network', vni: 43 }]);
    expect(plan(config([A, B]), config([A]))).toEqual(['remove VNI 43']);
  });

  it('re-creates a network whose own settings changed, and a port whose settings changed', () => {
    expect(plan(config([A, B]), config([A, { ...B, ageing: 60 }]))).toEqual(['remove VNI 43', 'add VNI 43 with vxb0']);
    expect(plan(config([A, B]), config([A, { ...B, proxy: true }]))).toEqual(['remove VNI 43', 'add VNI 43 with vxb0']);
    // The static pointing at the re-created port is set again: removing the port dropped it.
    expect(plan(config([A, B]), config([A, { ...B, ports: [{ dev: 'vxb0', mtu: 1400 }] }]))).toEqual([
      'remove port vxb0', 'add port vxb0 to VNI 43', 'set static 02:00:00:00:00:0b on VNI 43 to dev vxb0',
    ]);
  });

  it('moves a port between VNIs: removed from the one before it is added to the other', () => {
    const next = config([{ ...A, ports: [...A.ports, { dev: 'vxm' }] }, B]);
    expect(plan(config([A, { ...B, ports: [...B.ports, { dev: 'vxm' }] }]), next)).toEqual(['remove port vxm', 'add port vxm to VNI 42']);
  });

  it('sets flood lists whole and statics one by one, deletions first', () => {
    const old = config([{ ...A, static: [{ mac: '02:00:00:00:00:01', dst: '198.51.100.3' }, { mac: '02:00:00:00:00:02', dev: 'vxa0' }] }]);
    const next = config([{ ...A, remotes: ['198.51.100.4'], static: [{ mac: '02:00:00:00:00:02', dst: '198.51.100.5' }] }]);
    const steps = planReload(old, next);
    expect(steps.map((s) => describeChange(s.change))).toEqual([
      'delete static 02:00:00:00:00:01 on VNI 42',
      'set the flood list of VNI 42 to 198.51.100.4',
      'set static 02:00:00:00:00:02 on VNI 42 to dst 198.51.100.5',
    ]);
    expect(steps[1].undo).toEqual([{ op: 'flood', vni: 42, remotes: [parseIpv4Addr('198.51.100.2')] }]);
    expect(steps[2].undo).toEqual([{ op: 'set', vni: 42, mac: parseMac('02:00:00:00:00:02'), dev: 'vxa0', remote: 0, isStatic: true }]);
  });

  it('refuses a change of what is fixed at start, naming every such field, and changes nothing', () => {
    const e = (() => {
      try {
        planReload(config([A]), config([A, B], { dstport: 8472, queues: 2 }), (f) => `c.json: ${f}`);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(VxtapError);
    expect((e as VxtapError).message).toBe('c.json: dstport, queues: these cannot change while vxtap runs (it needs a restart); nothing was changed');
    const udpOnly = validateConfig({ local: '198.51.100.1', udp: { dev: 'tun0', address: '198.18.1.1/16' } });
    expect(() => planReload(udpOnly, { ...udpOnly, networks: config([A]).networks })).toThrow(/^networks: this cannot change while vxtap runs/);
  });

  it('turns a model of the old config into the new one, and back with the undos (random pairs)', () => {
    fc.assert(fc.property(configPair, ({ old, next }) => {
      let a: Config, b: Config;
      try {
        [a, b] = [validateConfig(old), validateConfig(next)];
      } catch {
        return;
      }
      checkReload(a, b);
    }), { numRuns: 500 });
  });
});
