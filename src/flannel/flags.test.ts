import { describe, expect, it } from 'vitest';
import { parseFlannelFlags } from './flags.js';

/** The one-line error parseFlannelFlags gives for argv and env, or 'no error'. */
function err(argv: string[], env = {}): string {
  try {
    parseFlannelFlags(argv, env);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('vxtap flannel flags', () => {
  it('defaults to flanneld\'s: local etcd, /coreos.com/network, /run/flannel/subnet.env, 60 min margin, no health server', () => {
    expect(parseFlannelFlags([], {})).toEqual({
      store: { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/coreos.com/network', tls: null, auth: null },
      ifaces: [],
      ifaceRegex: [],
      ifaceCanReach: null,
      publicIp: null,
      subnetFile: '/run/flannel/subnet.env',
      renewMarginSec: 3600,
      healthz: null,
      leaseTtlSec: 86400,
      networkConfig: null,
      control: null,
      controlGroup: null,
      ipMasq: false,
      user: null,
    });
  });

  it('reads every flag, in Go\'s forms too (-name, --name=value)', () => {
    const f = parseFlannelFlags([
      '--etcd-endpoints=http://198.51.100.1:2379,http://198.51.100.2:2379', '-etcd-prefix', '/lab/network/',
      '--iface', 'ul0', '--iface=eth1', '--public-ip', '198.51.100.7', '--subnet-file', '/tmp/s.env',
      '--subnet-lease-renew-margin', '5', '--healthz-ip', '127.0.0.1', '--healthz-port', '8471',
      '--control-group', 'vxtap', '--user', 'vxtap', '--iface-regex', '^ul', '-iface-regex=^198\\.51\\.', '--iface-can-reach', '198.51.100.1',
    ], {});
    expect(f).toEqual({
      store: { kind: 'etcd', endpoints: ['http://198.51.100.1:2379', 'http://198.51.100.2:2379'], prefix: '/lab/network', tls: null, auth: null },
      ifaces: ['ul0', 'eth1'],
      ifaceRegex: ['^ul', '^198\\.51\\.'],
      ifaceCanReach: '198.51.100.1',
      publicIp: '198.51.100.7',
      subnetFile: '/tmp/s.env',
      renewMarginSec: 300,
      healthz: { ip: '127.0.0.1', port: 8471 },
      leaseTtlSec: 86400,
      networkConfig: null,
      control: null,
      controlGroup: 'vxtap',
      ipMasq: false,
      user: 'vxtap',
    });
  });

  it('reads --ip-masq as Go reads a bool flag: bare, =true/=false, or FLANNELD_IP_MASQ', () => {
    expect(parseFlannelFlags(['--ip-masq'], {}).ipMasq).toBe(true);
    expect(parseFlannelFlags(['-ip-masq=true'], {}).ipMasq).toBe(true);
    expect(parseFlannelFlags(['--ip-masq=false'], {}).ipMasq).toBe(false);
    expect(parseFlannelFlags([], { FLANNELD_IP_MASQ: 'true' }).ipMasq).toBe(true);
    expect(parseFlannelFlags([], { FLANNELD_IP_MASQ: '0' }).ipMasq).toBe(false);
    expect(() => parseFlannelFlags(['--ip-masq=yes'], {})).toThrow("--ip-masq: expected true or false, got 'yes' (see: vxtap help)");
    expect(() => parseFlannelFlags([], { FLANNELD_IP_MASQ: 'on' })).toThrow("FLANNELD_IP_MASQ (--ip-masq): expected true or false, got 'on'");
  });

  it('takes FLANNELD_* variables for flags not given, the command line winning', () => {
    const env = { FLANNELD_PUBLIC_IP: '198.51.100.8', FLANNELD_HEALTHZ_PORT: '9000', FLANNELD_SUBNET_FILE: '/env/s.env', FLANNELD_IFACE: '' };
    const f = parseFlannelFlags(['--subnet-file', '/cli/s.env'], env);
    expect([f.publicIp, f.healthz, f.subnetFile, f.ifaces]).toEqual(['198.51.100.8', { ip: '0.0.0.0', port: 9000 }, '/cli/s.env', []]);
  });

  it('selects the lease file with --lease-file or FLANNELD_LEASE_FILE', () => {
    expect(parseFlannelFlags(['--lease-file', '/run/vxtap/leases.json'], {}).store).toEqual({ kind: 'file', path: '/run/vxtap/leases.json' });
    expect(parseFlannelFlags([], { FLANNELD_LEASE_FILE: '/x.json' }).store).toEqual({ kind: 'file', path: '/x.json' });
  });

  it('takes vxtap\'s own flags: --network-config with --lease-file, --subnet-lease-ttl, --control', () => {
    const f = parseFlannelFlags(['--lease-file', '/x.json', '--network-config', '{"Network":"198.18.0.0/16"}', '--control', '/tmp/n1.sock'], {});
    expect([f.networkConfig, f.control]).toEqual(['{"Network":"198.18.0.0/16"}', '/tmp/n1.sock']);
    // A TTL shorter than the default margin renews at half its life...
    expect(parseFlannelFlags(['--subnet-lease-ttl', '10'], {})).toMatchObject({ leaseTtlSec: 10, renewMarginSec: 5 });
    // ... a margin given explicitly is kept when it fits.
    expect(parseFlannelFlags(['--subnet-lease-ttl', '7200', '--subnet-lease-renew-margin', '30'], {})).toMatchObject({ leaseTtlSec: 7200, renewMarginSec: 1800 });
    expect(parseFlannelFlags([], { FLANNELD_SUBNET_LEASE_TTL: '60' })).toMatchObject({ leaseTtlSec: 60, renewMarginSec: 30 });
  });

  it('names the flag, or the variable, and the fix for each mistake', () => {
    expect(err(['--lease-file', '/x', '--etcd-endpoints', 'http://127.0.0.1:2379'])).toMatch(/^--lease-file and --etcd-endpoints .* both given/);
    expect(err(['--lease-file', '/x'], { FLANNELD_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' })).toMatch(/both given/);
    expect(err(['--etcd-endpoints', 'https://127.0.0.1:2379,http://127.0.0.2:2379'])).toMatch(/mixes http:\/\/ and https:\/\/: give every endpoint of the cluster the same scheme/);
    expect(err(['--etcd-cafile', '/ca.pem'])).toBe('--etcd-cafile is for TLS, but --etcd-endpoints are http://: give https:// endpoints (see: vxtap help)');
    expect(err(['--etcd-endpoints', 'https://127.0.0.1:2379', '--etcd-certfile', '/c.pem'])).toBe('--etcd-certfile needs its key: give --etcd-keyfile too (see: vxtap help)');
    expect(err(['--etcd-endpoints', 'https://127.0.0.1:2379', '--etcd-keyfile', '/k.pem'])).toMatch(/^--etcd-keyfile needs its certificate: give --etcd-certfile too/);
    expect(err(['--etcd-username', 'flannel'])).toMatch(/^--etcd-username flannel needs a password: give --etcd-password \(or FLANNELD_ETCD_PASSWORD\)/);
    expect(err([], { FLANNELD_ETCD_PASSWORD: 'pw' })).toMatch(/^--etcd-password needs a user: give --etcd-username too/);
    expect(err(['--lease-file', '/x', '--etcd-username', 'u'])).toMatch(/^--etcd-username is for etcd, but --lease-file selects the lease file/);
    expect(err(['--iface-regex', '(eth'])).toMatch(/^--iface-regex: '\(eth' is not a regular expression/);
    expect(err(['--iface-can-reach', 'etcd.example'])).toMatch(/^--iface-can-reach: 'etcd.example' is not an IPv4 address/);
    expect(err(['--etcd-endpoints', '127.0.0.1:2379'])).toMatch(/'127\.0\.0\.1:2379' is not a URL such as http:\/\/127\.0\.0\.1:2379/);
    expect(err(['--etcd-endpoints', 'http://127.0.0.1'])).toMatch(/is not a URL/);
    expect(err(['--etcd-prefix', 'coreos.com/network'])).toMatch(/--etcd-prefix: 'coreos.com\/network' must start with '\/'/);
    expect(err(['--subnet-lease-renew-margin', '1440'])).toMatch(/--subnet-lease-renew-margin: 1440 minutes is out of range: give 1-1439/);
    expect(err(['--subnet-lease-renew-margin', '0'])).toMatch(/out of range/);
    expect(err(['--public-ip', 'eth0'])).toMatch(/--public-ip: 'eth0' is not an IPv4 address/);
    expect(err(['--healthz-port', '70000'])).toMatch(/--healthz-port: 70000 is not a TCP port/);
    expect(err([], { FLANNELD_HEALTHZ_PORT: 'x' })).toMatch(/^FLANNELD_HEALTHZ_PORT \(--healthz-port\): expected a non-negative integer, got 'x'/);
    expect(err(['--no-such-flag'])).toMatch(/unknown flag --no-such-flag/);
    expect(err(['--network-config', '{}'])).toMatch(/^--network-config seeds a lease file: give it with --lease-file; with etcd, store the config with etcdctl put \/coreos.com\/network\/config/);
    expect(err(['--subnet-lease-ttl', '1'])).toMatch(/^--subnet-lease-ttl: 1 seconds is out of range: give 2-86400/);
    expect(err(['--subnet-lease-ttl', '600', '--subnet-lease-renew-margin', '10'])).toMatch(/^--subnet-lease-renew-margin: 10 minutes is not shorter than --subnet-lease-ttl 600 seconds/);
    expect(err(['extra'])).toMatch(/unexpected argument 'extra'/);
  });

  it('takes TLS files with https:// endpoints, and an etcd user, from flags or FLANNELD_* variables', () => {
    const f = parseFlannelFlags([
      '--etcd-endpoints', 'https://198.51.100.1:2379', '--etcd-cafile', '/ca.pem', '--etcd-certfile=/c.pem', '-etcd-keyfile', '/k.pem',
      '--etcd-username', 'flannel',
    ], { FLANNELD_ETCD_PASSWORD: 's3cret' });
    expect(f.store).toEqual({
      kind: 'etcd', endpoints: ['https://198.51.100.1:2379'], prefix: '/coreos.com/network',
      tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem' }, auth: { username: 'flannel', password: 's3cret' },
    });
    // https with no files: the system's CAs, no client certificate.
    expect(parseFlannelFlags([], { FLANNELD_ETCD_ENDPOINTS: 'https://198.51.100.1:2379' }).store).toMatchObject({ tls: { caFile: null, certFile: null, keyFile: null }, auth: null });
  });

  it('refuses each of flanneld\'s other flags by name, in one line that says why', () => {
    const kube = /vxtap has no kube-apiserver support built: run it with etcd \(--etcd-endpoints\)/;
    expect(err(['--kube-subnet-mgr'])).toMatch(/^--kube-subnet-mgr \(a flanneld flag\) is not supported: vxtap has no kube-apiserver support built/);
    expect(err(['--kube-subnet-mgr=true'])).toMatch(kube);
    expect(err([], { FLANNELD_KUBE_SUBNET_MGR: 'true' })).toMatch(/^FLANNELD_KUBE_SUBNET_MGR \(flanneld's --kube-subnet-mgr\) is not supported: vxtap has no kube-apiserver/);
    for (const flag of ['kube-api-url', 'kube-annotation-prefix', 'kubeconfig-file', 'net-config-path', 'set-node-network-unavailable']) {
      expect(err([`--${flag}`, 'x'])).toMatch(new RegExp(`^--${flag} \\(a flanneld flag\\) is not supported: .*${kube.source}`));
    }
    expect(err(['--public-ipv6', '2001:db8::1'])).toMatch(/^--public-ipv6 \(a flanneld flag\) is not supported: vxtap is IPv4 only/);
    expect(err(['--iptables-resync', '10'])).toMatch(/^--iptables-resync .*every 5 s/);
    expect(err(['--iptables-forward-rules=false'])).toMatch(/^--iptables-forward-rules .*adds no FORWARD rules/);
    expect(err(['-v=2'])).toMatch(/^-v \(a flanneld flag\) is not supported: vxtap logs at VXTAP_LOG_LEVEL/);
    expect(err(['--vmodule', 'x=2'])).toMatch(/VXTAP_LOG_LEVEL/);
    expect(err(['-log_backtrace_at=x.go:1'])).toMatch(/VXTAP_LOG_LEVEL/);
    expect(err(['--version'])).toMatch(/^--version \(a flanneld flag\) is not supported/);
    expect(err(['--help'])).toMatch(/see vxtap help/);
    expect(err(['-h'])).toMatch(/see vxtap help/);
    for (const m of [err(['--kube-subnet-mgr']), err(['--public-ipv6', 'x'])]) expect(m).not.toContain('\n');
    // A flag's value is not a flag.
    expect(parseFlannelFlags(['--etcd-username', 'u', '--etcd-password', '-v'], {}).store).toMatchObject({ auth: { username: 'u', password: '-v' } });
  });
});
