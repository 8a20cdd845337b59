// The default control socket: /run/vxtap/<netns>/<dev>.sock, the namespace
// named as `ip netns identify` names it, and paths that cannot escape
// /run/vxtap or be cut short by the unix socket limit.
import { spawnSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSocketPath, controlPathOr, defaultControlPath, netnsName, UNIX_PATH_MAX } from './control-path.js';
import { VxtapError } from '../core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-ctl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('netnsName', () => {
  // A hard link is the same file (st_dev, st_ino), as a namespace's bind mount is.
  const names = join(dir, 'netns');
  mkdirSync(names);
  for (const n of ['red', 'green', 'blue']) writeFileSync(join(names, n), n);
  const self = join(dir, 'self');
  linkSync(join(names, 'green'), self);

  it('is the entry that is the same file as the namespace', () => {
    expect(netnsName(self, names)).toBe('green');
  });

  it('is the first name in order when the namespace has two', () => {
    linkSync(join(names, 'green'), join(names, 'apple'));
    expect(netnsName(self, names)).toBe('apple');
    rmSync(join(names, 'apple'));
  });

  it('is ns-<inode> for a namespace without a name, or when nothing was ever named', () => {
    const other = join(dir, 'other');
    writeFileSync(other, '');
    expect(netnsName(other, names)).toBe(`ns-${statSync(other).ino}`);
    expect(netnsName(self, join(dir, 'absent'))).toBe(`ns-${statSync(self).ino}`);
  });

  it('agrees with `ip netns identify` for this process', () => {
    const name = spawnSync('ip', ['netns', 'identify', String(process.pid)], { encoding: 'utf8' }).stdout.trim();
    const ino = /^net:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/net'))![1];
    expect(netnsName()).toBe(name || `ns-${ino}`);
  });
});

describe('defaultControlPath', () => {
  it('puts the device under its namespace', () => {
    expect(defaultControlPath('vtun0', 'red')).toBe('/run/vxtap/red/vtun0.sock');
    expect(defaultControlPath('flannel.1', 'ns-4026531840')).toBe('/run/vxtap/ns-4026531840/flannel.1.sock');
  });

  it.each([
    ['..', 'red', /^--dev "\.\.": a device name cannot be "\.\."/],
    ['a/b', 'red', /^--dev "a\/b": a device name cannot contain "\/"/],
    ['', 'red', /^--dev "": a device name is empty/],
    ['sixteen-bytes-xx', 'red', /^--dev "sixteen-bytes-xx": a device name is at most 15 bytes/],
    ['vtun0', '..', /^network namespace "\.\.": a name that cannot be "\.\." cannot name/],
    ['vtun0', '.', /^network namespace "\.": /],
    ['vtun0', 'x'.repeat(90), new RegExp(`^network namespace "x{90}": the control socket path /run/vxtap/x{90}/vtun0.sock is 112 bytes, over the ${UNIX_PATH_MAX}`)],
  ])('refuses dev %j in namespace %j', (dev, ns, message) => {
    expect(() => defaultControlPath(dev, ns)).toThrow(VxtapError);
    expect(() => defaultControlPath(dev, ns)).toThrow(message);
  });

  it('takes a path of exactly 107 bytes, not one more', () => {
    const ns = 'n'.repeat(UNIX_PATH_MAX - '/run/vxtap//v.sock'.length);
    expect(Buffer.byteLength(defaultControlPath('v', ns))).toBe(UNIX_PATH_MAX);
    expect(() => defaultControlPath('vv', ns)).toThrow(/108 bytes/);
  });
});

describe('controlPathOr', () => {
  it('takes --control over the default, and checks its length too', () => {
    expect(controlPathOr('/tmp/x.sock', () => { throw new Error('--dev not needed'); })).toBe('/tmp/x.sock');
    expect(() => controlPathOr(`/tmp/${'y'.repeat(110)}`, () => 'v')).toThrow(/^--control: the control socket path \/tmp\/y+ is 115 bytes/);
    expect(controlPathOr(undefined, () => 'vtun0')).toBe(`/run/vxtap/${netnsName()}/vtun0.sock`);
  });

  it('measures bytes, not characters', () => {
    expect(() => checkSocketPath(`/tmp/${'é'.repeat(52)}`, '--control')).toThrow(/109 bytes/);
  });
});
