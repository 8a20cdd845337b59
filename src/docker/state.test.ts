import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadState, saveState, type State } from './state.js';

describe('the plugin state file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-state-'));
  const file = join(dir, 'sub', 'state.json');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is empty before the first save, and reads back what was saved, root-only', () => {
    expect(loadState(file)).toEqual({ version: 1, networks: [], endpoints: [] });
    const s: State = {
      version: 1,
      networks: [{ id: 'n1', vni: 42, remotes: ['198.51.100.2'], port: 4789, mode: 'private', mtu: 1450, gateway: '203.0.113.1' }],
      endpoints: [{ id: 'e1', network: 'n1', dev: 'vxde1', mac: '02:42:cb:00:71:02', joined: true, sandbox: '/var/run/docker/netns/1' }],
    };
    saveState(file, s);
    expect(loadState(file)).toEqual(s);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('refuses a file that does not validate in one line naming it and the field', () => {
    writeFileSync(file, '{"version":1,"networks":[{"id":"n1"}],"endpoints":[]}');
    expect(() => loadState(file)).toThrow(`state file ${file}: networks[0].vni: Invalid input: expected number, received undefined: fix it, or remove it and recreate the vxtap networks (docker network rm, docker network create)`);
    writeFileSync(file, '{');
    expect(() => loadState(file)).toThrow(`state file ${file}: not JSON`);
  });
});
