// The systemd units in contrib/systemd: systemd-analyze verify accepts them
// without a single warning, they carry the hardening README's "Privileges"
// describes, and their ambient capabilities are what vxtap asks for. (The
// start they describe, User= with AmbientCapabilities=, is run for real in
// privilege.test.ts through setpriv.)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/control/config.js';
import { dataplanePrivileges, flannelPrivileges, type Privileges } from '../../src/control/privilege.js';

const ROOT = join(import.meta.dirname, '..', '..');
const UNITS = join(ROOT, 'contrib', 'systemd');
const dir = mkdtempSync(join(tmpdir(), 'vxtap-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * systemd-analyze verify on a copy of `unit` (after `edit`) whose ExecStart
 * runs this checkout's bin/vxtap: verify insists that the program exists,
 * and vxtap is not installed in /usr/bin here.
 */
function verify(unit: string, edit: (text: string) => string = (t) => t) {
  const text = readFileSync(join(UNITS, unit), 'utf8');
  expect(text).toMatch(/^ExecStart=\/usr\/bin\/vxtap /m);
  writeFileSync(join(dir, unit), edit(text.replace(/^ExecStart=\/usr\/bin\/vxtap /m, `ExecStart=${join(ROOT, 'bin', 'vxtap')} `)));
  const r = spawnSync('systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/** The values of `key=` in the unit's [Service] section, split on spaces. */
function values(unit: string, key: string): string[] {
  const text = readFileSync(join(UNITS, unit), 'utf8');
  return [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].flatMap((m) => m[1].split(/\s+/));
}

const caps = (p: Privileges) => [...new Set(p.setup.map((n) => n.cap))];

describe.each([
  {
    unit: 'vxtap@.service',
    // Every config without privileged ports: VXLAN without offloads needs the most.
    needs: caps(dataplanePrivileges(validateConfig({ local: '198.51.100.1', offload: false, networks: [{ vni: 1, ports: [{ dev: 'x' }] }], udp: { dev: 't', address: '198.18.1.1/16' } }), 1024)),
  },
  { unit: 'vxtap-flannel.service', needs: caps(flannelPrivileges('vxlan', null, 1024)) },
])('$unit', ({ unit, needs }) => {
  it('passes systemd-analyze verify with no warning', () => {
    expect(verify(unit)).toEqual({ code: 0, output: '' });
  });

  it('would fail on a warning: an unknown key is reported', () => {
    expect(verify(unit, (t) => t.replace('[Service]\n', '[Service]\nProtectSystem=stricter\n')).output).toMatch(/Failed to parse protect system value/);
  });

  it('runs as an unprivileged user with the capabilities vxtap asks for, and no others', () => {
    expect(values(unit, 'User')).toEqual(['vxtap']);
    expect(values(unit, 'AmbientCapabilities').sort()).toEqual([...needs].sort());
    expect(values(unit, 'CapabilityBoundingSet').sort()).toEqual([...needs].sort());
    expect(values(unit, 'NoNewPrivileges')).toEqual(['yes']);
  });

  it('is hardened: read-only system, no home, its own runtime directory for the control socket', () => {
    expect(values(unit, 'ProtectSystem')).toEqual(['strict']);
    expect(values(unit, 'ProtectHome')).toEqual(['yes']);
    expect(values(unit, 'RuntimeDirectory')).toContain('vxtap');
    expect(values(unit, 'DeviceAllow')).toEqual(['/dev/net/tun', 'rw']);
    expect(values(unit, 'RestartPreventExitStatus')).toEqual(['2']);
  });
});
