// The CLI as a user meets it: the built bin/vxtap, its exit codes and its
// one-line errors. Most cases fail before touching devices; the one that
// fails after opening a TAP runs in a network namespace of its own (root).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lab } from './lab/netns.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'vxtap');
const dir = mkdtempSync(join(tmpdir(), 'vxtap-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function vxtap(...args: string[]) {
  return vxtapEnv({}, ...args);
}

function vxtapEnv(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const base = ['vxlan', '--dev', 'vxt9', '--vni', '42', '--local', '198.51.100.1'];

describe('vxtap CLI errors', () => {
  it.each([
    [['vxlan', '--vni', '42', '--local', '198.51.100.1'], /^vxtap: missing --dev/],
    [['vxlan', '--dev', 'x', '--local', '198.51.100.1'], /^vxtap: missing --vni/],
    [[...base.slice(0, 3), '--vni', 'abc', '--local', '198.51.100.1'], /^vxtap: --vni: expected a non-negative integer, got 'abc'/],
    [['vxlan', '--dev', 'x', '--vni', '16777216', '--local', '198.51.100.1'], /^vxtap: --vni: /],
    [[...base, '--srcport', '60000', '50000'], /^vxtap: --srcport: the first port \(MIN\) must not exceed/],
    [[...base, '--srcport', '60000'], /^vxtap: --srcport needs two values/],
    [[...base, '--remote', '198.51.100.2', '--remote', 'nope'], /^vxtap: --remote #2: expected an IPv4 address/],
    [[...base, '--address', '203.0.113.1'], /^vxtap: --address: expected an IPv4 address with a prefix length/],
    [[...base, '--mtu', '20'], /^vxtap: --mtu: /],
    [[...base, '--frobnicate'], /^vxtap: unknown flag --frobnicate/],
    [[...base, '--__proto__'], /^vxtap: unknown flag --__proto__/],
    [[...base, '--constructor'], /^vxtap: unknown flag --constructor/],
    [['vxlan', '--dev', 'x', '--vni', '1', '--local', '198.51.100.1', '--vni', '2'], /^vxtap: --vni given twice/],
    [['nosuch'], /^vxtap: unknown command 'nosuch'/],
    [['docker-plugin'], /^vxtap: missing --local \(the underlay IPv4 address/],
    [['docker-plugin', '--local', '198.51.100'], /^vxtap: --local '198\.51\.100': expected an IPv4 address/],
    [['docker-plugin', '--local', '198.51.100.77'], /^vxtap: local: 198\.51\.100\.77 is not an address of this host/],
    [['run', '--config', '/nonexistent/vxtap.json'], /^vxtap: --config \/nonexistent\/vxtap.json: cannot read it \(ENOENT\)/],
    [['stats', '--control', '/nonexistent/vxtap.sock'], /^vxtap: no vxtap instance at \/nonexistent\/vxtap.sock/],
    [['stats', '--dev', '../../etc/x'], /^vxtap: --dev "\.\.\/\.\.\/etc\/x": a device name cannot contain "\/"/],
    [['fdb', 'show', '--dev', '..'], /^vxtap: --dev "\.\.": a device name cannot be "\.\."/],
    [['stats', '--control', `/tmp/${'s'.repeat(103)}`], /^vxtap: --control: the control socket path \/tmp\/s+ is 108 bytes, over the 107/],
    [[...base, '--control', `/tmp/${'s'.repeat(103)}`], /^vxtap: --control: a unix socket path is at most 107 bytes/],
    [[...base, '--metrics', '9100'], /^vxtap: --metrics: expected ADDR:PORT such as 127\.0\.0\.1:9100\n$/],
    [['udp', '--dev', 'x', '--local', '198.51.100.1', '--address', '198.18.1.1/16', '--metrics', 'localhost:9100'], /^vxtap: --metrics: expected an IPv4 address before the port/],
    [[...base, '--metrics', '127.0.0.1:70000'], /^vxtap: --metrics: 70000 is not a TCP port: give one of 1-65535\n$/],
    [['capture', '--control', '/nonexistent/vxtap.sock', '--filter', '('.repeat(10_000)], /^vxtap: --filter: 10000 characters, more than the limit of 4096/],
    [['capture', '--control', '/nonexistent/vxtap.sock', '--filter', '('.repeat(1000)], /^vxtap: --filter: nested more than 64 levels deep/],
  ])('%j', (args, message) => {
    const r = vxtap(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names the file and field of a bad config', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"local": "198.51.100.1", "networks": [{"vni": 1, "ports": [{"dev": "x", "mtu": "big"}]}]}');
    const r = vxtap('run', '--config', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^vxtap: ${bad}: networks\\[0\\]\\.ports\\[0\\]\\.mtu: `));
    const user = join(dir, 'user.json');
    writeFileSync(user, '{"local": "198.51.100.1", "user": "vxtap-no-such-user", "networks": [{"vni": 1, "ports": [{"dev": "x"}]}]}');
    expect(vxtap('run', '--config', user).stderr).toBe(`vxtap: ${user}: user: no user 'vxtap-no-such-user' on this host: create it (useradd --system vxtap-no-such-user) or name an existing one\n`);
    // Issue 16, item 7: more static entries than maxaddress was a stack trace and exit 1.
    const full = join(dir, 'full.json');
    writeFileSync(full, JSON.stringify({
      local: '198.51.100.1',
      networks: [{ vni: 1, maxaddress: 1, static: [{ mac: '02:00:00:00:00:01', dst: '198.51.100.2' }, { mac: '02:00:00:00:00:02', dst: '198.51.100.2' }], ports: [{ dev: 'x' }] }],
    }));
    const r2 = vxtap('run', '--config', full);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toBe(`vxtap: ${full}: networks[0].maxaddress: 1 is less than the 2 static entries, which count toward it: raise it to at least 2, or 0 for no cap\n`);
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, '{local:');
    expect(vxtap('run', '--config', notJson).stderr).toMatch(/not valid JSON/);
  });

  it('says which address is wrong when --local is not on this host, and removes the control socket it made', () => {
    const control = join(dir, 'c.sock');
    const r = vxtap(...base.slice(0, 5), '--local', '198.51.100.77', '--control', control);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vxtap: local: 198\.51\.100\.77 is not an address of this host/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(control), 'the control socket').toBe(false);
  });

  it('removes what it made when a port fails after another TAP is open: one line, exit 2', () => {
    // In a namespace of its own (root): an underlay address on a veth whose
    // peer holds the second port's name, so that vxt9a is up with its
    // address when vxt9b fails.
    const lab = new Lab('cli');
    try {
      const h = lab.host('h');
      h.ip('link add ul0 type veth peer name vxt9b', 'address add 198.51.100.1/24 dev ul0', 'link set ul0 up');
      const config = join(dir, 'two-ports.json');
      const control = join(dir, 'two-ports.sock');
      writeFileSync(config, JSON.stringify({
        local: '198.51.100.1', control,
        networks: [{ vni: 42, ports: [{ dev: 'vxt9a', address: '203.0.113.1/24' }, { dev: 'vxt9b' }] }],
      }));
      const r = spawnSync('ip', ['netns', 'exec', h.ns, BIN, 'run', '--config', config], { encoding: 'utf8' });
      expect(r.stderr).toBe("vxtap: dev 'vxt9b' already exists as another kind of device or is in use: choose another --dev\n");
      expect(r.status).toBe(2);
      const links = (JSON.parse(h.run('ip', '-j', '-d', 'link', 'show')) as Array<{ ifname: string; linkinfo?: { info_kind?: string } }>)
        .map((l) => [l.ifname, l.linkinfo?.info_kind ?? '']);
      expect(links, 'no TAP left, and the veth untouched').toEqual([['lo', ''], ['vxt9b', 'veth'], ['ul0', 'veth']]);
      expect(h.run('ip', '-j', 'route', 'show', 'table', 'all').includes('203.0.113.'), 'no route of vxt9a\'s left').toBe(false);
      expect(existsSync(control), 'the control socket').toBe(false);
    } finally {
      lab.cleanupSync();
    }
  });

  it('refuses a directory or a regular file at --control in one line, and leaves the file there', () => {
    const file = join(dir, 'precious.txt');
    writeFileSync(file, 'keep me');
    for (const [path, what] of [[dir, 'a directory'], [file, 'a file that is not a socket']]) {
      const r = vxtap(...base, '--control', path);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`vxtap: --control ${path}: ${what} is there: give the path of a socket to create\n`);
    }
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    expect(spawnSync('ip', ['link', 'show', 'dev', 'vxt9']).status).not.toBe(0);
  });

  it('refuses a bad VXTAP_LOG_LEVEL in one line, in the dataplane and in a flannel node', () => {
    for (const args of [base, ['flannel', '--lease-file', join(dir, 'leases.json')]]) {
      const r = vxtapEnv({ VXTAP_LOG_LEVEL: 'bogus' }, ...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe("vxtap: VXTAP_LOG_LEVEL: 'bogus' is not a log level: use one of trace, debug, info, warn, error, fatal, silent\n");
    }
  });

  it('refuses a --subnet-file under a regular file in one line, before a flannel node takes a lease', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, '');
    const leases = join(dir, 'subnet-file-leases.json');
    const r = vxtap('flannel', '--lease-file', leases, '--subnet-file', join(file, 'x'));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`vxtap: --subnet-file ${join(file, 'x')}: cannot write the file there (EEXIST): give a path in a directory that exists or can be created\n`);
    expect(existsSync(leases)).toBe(false);
  });

  it('prints help with exit 0', () => {
    const r = vxtap('help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('vxtap vxlan --dev NAME --vni N --local IP');
  });
});
