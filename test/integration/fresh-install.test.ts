// A fresh machine has no libpcap headers: `npm install` of a fresh clone
// must still work (cap, libpcap's binding, is optional and only sniff needs
// it), build vxtap's own addon, and `vxtap sniff` must then say in one line
// what to install. The headers are hidden in a private mount namespace, so
// the machine's own stay as they are.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'vxtap-fresh-'));
const clone = join(dir, 'vxtap');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Empties /usr/include/pcap and pcap*.h, proves the compiler no longer finds them, then runs npm install. */
const HIDE_AND_INSTALL = `set -e
[ -d /usr/include/pcap ] && mount -t tmpfs tmpfs /usr/include/pcap
for h in /usr/include/pcap.h /usr/include/pcap-bpf.h /usr/include/pcap-namedb.h; do
  [ -e "$h" ] && mount --bind /dev/null "$h"
done
if printf '#include <pcap/pcap.h>\\n' | cc -fsyntax-only -x c - 2>/dev/null; then
  echo "libpcap's headers are still visible" >&2; exit 97
fi
cd "$1" && npm install --no-audit --no-fund --prefer-offline`;

function run(cmd: string, args: string[], timeout = 30_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm install without libpcap', () => {
  it('installs a fresh clone, builds the addon, and sniff names what to install', () => {
    const head = run('git', ['-C', ROOT, 'rev-parse', 'HEAD']).stdout.trim();
    expect(run('git', ['clone', '--quiet', ROOT, clone]).code).toBe(0);
    expect(run('git', ['-C', clone, 'checkout', '--quiet', '--detach', head]).code).toBe(0);

    const install = run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', HIDE_AND_INSTALL, 'sh', clone], 200_000);
    expect(install.code, install.stderr).toBe(0);
    expect(existsSync(join(clone, 'native', 'build', 'Release', 'vxtap.node'))).toBe(true);
    expect(existsSync(join(clone, 'dist', 'src', 'cli.js'))).toBe(true);
    // The rest of vxtap works: the addon loads and a command runs.
    expect(run(join(clone, 'bin', 'vxtap'), ['--version']).code).toBe(0);

    const sniff = run(join(clone, 'bin', 'vxtap'), ['sniff', '-i', 'lo', '-c', '1']);
    expect(sniff.code).toBe(2);
    expect(sniff.stderr.trim().split('\n')).toHaveLength(1);
    expect(sniff.stderr).toMatch(/^vxtap: sniff: .*apt-get install libpcap-dev.*npm install/);
  }, 240_000);
});
