import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareSubnetFile, readPreviousNetwork, readPreviousSubnet, writeSubnetEnv } from './subnet-env.js';
import { parseSubnet } from './subnet.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-subnet-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('subnet.env', () => {
  it('is written in flanneld\'s format, in a new directory, with nothing left beside it', () => {
    const path = join(dir, 'run', 'flannel', 'subnet.env');
    writeSubnetEnv(path, { network: parseSubnet('10.5.0.0/16'), subnet: parseSubnet('10.5.52.0/24'), mtu: 1450, ipMasq: false });
    expect(readFileSync(path, 'utf8')).toBe('FLANNEL_NETWORK=10.5.0.0/16\nFLANNEL_SUBNET=10.5.52.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n');
    expect(statSync(path).mode & 0o777).toBe(0o644 & ~process.umask());
    expect(readdirSync(join(dir, 'run', 'flannel'))).toEqual(['subnet.env']);
  });

  it('is replaced whole, and its FLANNEL_SUBNET read back as the subnet to ask for again', () => {
    const path = join(dir, 'subnet.env');
    writeSubnetEnv(path, { network: parseSubnet('10.5.0.0/16'), subnet: parseSubnet('10.5.52.0/24'), mtu: 1450, ipMasq: false });
    writeSubnetEnv(path, { network: parseSubnet('198.18.0.0/15'), subnet: parseSubnet('198.18.4.0/22'), mtu: 1472, ipMasq: true });
    expect(readFileSync(path, 'utf8')).toBe('FLANNEL_NETWORK=198.18.0.0/15\nFLANNEL_SUBNET=198.18.4.1/22\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n');
    expect(readPreviousSubnet(path)).toEqual(parseSubnet('198.18.4.0/22'));
    expect(readPreviousNetwork(path)).toEqual({ network: parseSubnet('198.18.0.0/15'), subnet: parseSubnet('198.18.4.0/22') });
  });

  it('refuses a --subnet-file under a regular file, or at a directory, in one line naming the flag', () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    const env = { network: parseSubnet('10.5.0.0/16'), subnet: parseSubnet('10.5.52.0/24'), mtu: 1450, ipMasq: false };
    for (const [path, code] of [[join(file, 'x'), 'EEXIST'], [dir, 'EISDIR']]) {
      const msg = `--subnet-file ${path}: cannot write the file there (${code}): give a path in a directory that exists or can be created`;
      expect(() => prepareSubnetFile(path)).toThrow(msg);
      expect(() => writeSubnetEnv(path, env)).toThrow(msg);
    }
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('gives no previous subnet for a missing or unreadable file', () => {
    expect(readPreviousSubnet(join(dir, 'absent.env'))).toBeNull();
    const bad = join(dir, 'bad.env');
    writeFileSync(bad, 'FLANNEL_SUBNET=nonsense\n');
    expect(readPreviousSubnet(bad)).toBeNull();
    expect(readPreviousNetwork(bad)).toBeNull();
    writeFileSync(bad, 'FLANNEL_SUBNET=10.5.52.1/24\n');
    expect(readPreviousNetwork(bad)).toBeNull();
  });
});
