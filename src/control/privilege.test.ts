// The capability policy: which sets each mode asks for, from its config. The
// switch itself (setuid, capset, ambient) is tested on real processes in
// test/integration/privilege.test.ts.
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfig } from './config.js';
import { VxtapError } from '../core/errors.js';
import { dataplanePrivileges, flannelPrivileges, lookupUser, unprivilegedPortStart, userCanWrite } from './privilege.js';

const vxlan = { local: '198.51.100.1', networks: [{ vni: 42, ports: [{ dev: 'vxt0' }] }] };
const udp = { local: '198.51.100.1', udp: { dev: 'tun0', address: '198.18.1.1/16' } };
const caps = (needs: ReadonlyArray<{ cap: string }>) => needs.map((n) => n.cap);

describe('dataplanePrivileges', () => {
  it('VXLAN with offloads needs CAP_NET_ADMIN to start and keeps nothing', () => {
    const p = dataplanePrivileges(validateConfig(vxlan), 1024);
    expect(caps(p.setup)).toEqual(['CAP_NET_ADMIN']);
    expect(p.run).toEqual([]);
  });

  it('VXLAN without offloads also needs CAP_NET_RAW, for its raw socket', () => {
    expect(caps(dataplanePrivileges(validateConfig({ ...vxlan, offload: false }), 1024).setup)).toEqual(['CAP_NET_ADMIN', 'CAP_NET_RAW']);
  });

  it('the UDP overlay needs CAP_NET_ADMIN only, also without offloads', () => {
    expect(caps(dataplanePrivileges(validateConfig({ ...udp, offload: false }), 1024).setup)).toEqual(['CAP_NET_ADMIN']);
  });

  it('a port under the unprivileged start needs CAP_NET_BIND_SERVICE, naming the port', () => {
    const low = dataplanePrivileges(validateConfig({ ...vxlan, dstport: 789 }), 1024).setup;
    expect(low[1]).toEqual({ cap: 'CAP_NET_BIND_SERVICE', why: 'to bind UDP port 789 (below 1024)' });
    expect(caps(dataplanePrivileges(validateConfig({ ...vxlan, srcport: [1000, 2000] }), 1024).setup)).toContain('CAP_NET_BIND_SERVICE');
    // Without offloads the source ports are written into raw packets, not bound.
    expect(caps(dataplanePrivileges(validateConfig({ ...vxlan, srcport: [1000, 2000], offload: false }), 1024).setup)).not.toContain('CAP_NET_BIND_SERVICE');
    expect(caps(dataplanePrivileges(validateConfig({ ...udp, udp: { ...udp.udp, port: 85 } }), 1024).setup)).toContain('CAP_NET_BIND_SERVICE');
    expect(dataplanePrivileges(validateConfig({ ...udp, metrics: '127.0.0.1:91' }), 1024).setup[1]).toEqual({ cap: 'CAP_NET_BIND_SERVICE', why: 'to bind --metrics TCP port 91 (below 1024)' });
    expect(caps(dataplanePrivileges(validateConfig({ ...udp, metrics: '127.0.0.1:0' }), 1024).setup)).not.toContain('CAP_NET_BIND_SERVICE');
    expect(caps(dataplanePrivileges(validateConfig({ ...udp, metrics: '127.0.0.1:9100' }), 1024).setup)).not.toContain('CAP_NET_BIND_SERVICE');
    // The host sets where privileged ports end.
    expect(caps(dataplanePrivileges(validateConfig({ ...vxlan, dstport: 789 }), 0).setup)).toEqual(['CAP_NET_ADMIN']);
  });
});

describe('flannelPrivileges', () => {
  it('the vxlan backend keeps CAP_NET_ADMIN for the neighbours and routes of later leases', () => {
    const p = flannelPrivileges('vxlan', null, 1024);
    expect(caps(p.setup)).toEqual(['CAP_NET_ADMIN']);
    expect(caps(p.run)).toEqual(['CAP_NET_ADMIN']);
  });

  it('the udp backend, whose routes to other nodes are userspace ones, keeps nothing', () => {
    const p = flannelPrivileges('udp', null, 1024);
    expect(caps(p.setup)).toEqual(['CAP_NET_ADMIN']);
    expect(p.run).toEqual([]);
  });

  it('a healthz port under 1024 needs CAP_NET_BIND_SERVICE', () => {
    expect(flannelPrivileges('vxlan', 80, 1024).setup[1]).toEqual({ cap: 'CAP_NET_BIND_SERVICE', why: 'to bind --healthz-port 80 (below 1024)' });
  });
});

describe('unprivilegedPortStart', () => {
  it("reads the namespace's sysctl, and falls back to Linux's 1024", () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-priv-'));
    try {
      writeFileSync(join(dir, 'start'), '80\n');
      expect(unprivilegedPortStart(join(dir, 'start'))).toBe(80);
      expect(unprivilegedPortStart(join(dir, 'missing'))).toBe(1024);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('userCanWrite', () => {
  it('reads the owner, group or other bits that apply to the user, and wants write and search', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-priv-'));
    const alice = { name: 'alice', uid: 4242, gid: 4343 };
    try {
      chownSync(dir, 4242, 4343);
      chmodSync(dir, 0o700);
      expect(userCanWrite(dir, alice)).toBe(true);
      expect(userCanWrite(dir, { ...alice, uid: 4244 })).toBe(false);
      chmodSync(dir, 0o070);
      expect(userCanWrite(dir, { ...alice, uid: 4244 })).toBe(true);
      expect(userCanWrite(dir, alice)).toBe(false); // the owner bits apply to the owner, even when they are narrower
      chmodSync(dir, 0o753);
      expect(userCanWrite(dir, { name: 'x', uid: 1, gid: 1 })).toBe(true);
      chmodSync(dir, 0o752);
      expect(userCanWrite(dir, { name: 'x', uid: 1, gid: 1 })).toBe(false); // write without search
      expect(userCanWrite(join(dir, 'missing'), alice)).toBe(false);
      expect(userCanWrite(join(dir, 'missing'), { name: 'root', uid: 0, gid: 0 })).toBe(true);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe('lookupUser', () => {
  it('finds a user by name or number in the user database', () => {
    expect(lookupUser('root')).toEqual({ name: 'root', uid: 0, gid: 0 });
    expect(lookupUser('0').name).toBe('root');
  });

  it('names the field and the fix for an unknown user', () => {
    expect(() => lookupUser('vxtap-no-such-user', 'cfg.json: user')).toThrow(VxtapError);
    expect(() => lookupUser('vxtap-no-such-user', 'cfg.json: user')).toThrow(/^cfg\.json: user: no user 'vxtap-no-such-user' on this host: create it \(useradd --system vxtap-no-such-user\)/);
  });

  it('refuses what is no user name (an option to getent, a colon, a huge name) without looking it up', () => {
    for (const bad of ['--help', 'a:b', 'a b', 'x'.repeat(100_000)]) {
      expect(() => lookupUser(bad)).toThrow(/^--user: ".{0,70}" is not a user name or number: give one such as vxtap or 65534$/);
    }
  });
});
