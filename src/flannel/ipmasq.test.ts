import { describe, expect, it } from 'vitest';
import { hasRandomFully, masqRules, restoreLine } from './ipmasq.js';
import { parseSubnet } from './subnet.js';

describe('--ip-masq rules', () => {
  it('are flanneld v0.20.2\'s MasqRules, in its order, as iptables-restore lines', () => {
    const rules = masqRules(parseSubnet('10.5.0.0/16'), parseSubnet('10.5.52.0/24'), true);
    expect(rules.map((r) => restoreLine(r.action, r))).toEqual([
      '-I POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.5.0.0/16 -d 10.5.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.5.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      '-A FLANNEL-POSTRTG ! -s 10.5.0.0/16 -d 10.5.52.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG ! -s 10.5.0.0/16 -d 10.5.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    ]);
    expect(rules.every((r) => r.table === 'nat')).toBe(true);
  });

  it('leave out --random-fully where iptables lacks it (before 1.6.2)', () => {
    const rules = masqRules(parseSubnet('10.5.0.0/16'), parseSubnet('10.5.52.0/24'), false);
    expect(rules.filter((r) => r.spec.includes('MASQUERADE')).map((r) => r.spec.at(-1))).toEqual(['MASQUERADE', 'MASQUERADE']);
    expect(rules.some((r) => r.spec.includes('--random-fully'))).toBe(false);
  });

  it('use --random-fully from iptables 1.6.2, as go-iptables decides', () => {
    expect(hasRandomFully('iptables v1.8.9 (nf_tables)')).toBe(true);
    expect(hasRandomFully('iptables v1.6.2')).toBe(true);
    expect(hasRandomFully('iptables v1.6.1')).toBe(false);
    expect(hasRandomFully('iptables v1.4.21')).toBe(false);
    expect(hasRandomFully('v2.0.0')).toBe(true);
    expect(hasRandomFully('no version here')).toBe(false);
  });
});
