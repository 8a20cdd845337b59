import { describe, expect, it } from 'vitest';
import { parseFlannelFlags } from './flags.js';

describe('vxtap flannel flags', () => {
  it('defaults to flanneld\'s: local etcd, /coreos.com/network, /run/flannel/subnet.env, 60 min margin, no health server', () => {
    expect(parseFlannelFlags([], {})).toEqual({
      store: { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/coreos.com/network' },
      ifaces: [],
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
      '--control-group', 'vxtap', '--user', 'vxtap',
    ], {});
    expect(f).toEqual({
      store: { kind: 'etcd', endpoints: ['http://198.51.100.1:2379', 'http://198.51.100.2:2379'], prefix: '/lab/network' },
      ifaces: ['ul0', 'eth1'],
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
    const err = (argv: string[], env = {}): string => {
      try {
        parseFlannelFlags(argv, env);
      } catch (e) {
        return (e as Error).message;
      }
      return 'no error';
    };
    expect(err(['--lease-file', '/x', '--etcd-endpoints', 'http://127.0.0.1:2379'])).toMatch(/^--lease-file and --etcd-endpoints .* both given/);
    expect(err(['--lease-file', '/x'], { FLANNELD_ETCD_ENDPOINTS: 'http://127.0.0.1:2379' })).toMatch(/both given/);
    expect(err(['--etcd-endpoints', 'https://127.0.0.1:2379'])).toMatch(/TLS to etcd is not supported yet: use an http:\/\/ endpoint/);
    expect(err(['--etcd-endpoints', '127.0.0.1:2379'])).toMatch(/'127\.0\.0\.1:2379' is not a URL such as http:\/\/127\.0\.0\.1:2379/);
    expect(err(['--etcd-endpoints', 'http://127.0.0.1'])).toMatch(/is not a URL/);
    expect(err(['--etcd-prefix', 'coreos.com/network'])).toMatch(/--etcd-prefix: 'coreos.com\/network' must start with '\/'/);
    expect(err(['--subnet-lease-renew-margin', '1440'])).toMatch(/--subnet-lease-renew-margin: 1440 minutes is out of range: give 1-1439/);
    expect(err(['--subnet-lease-renew-margin', '0'])).toMatch(/out of range/);
    expect(err(['--public-ip', 'eth0'])).toMatch(/--public-ip: 'eth0' is not an IPv4 address/);
    expect(err(['--healthz-port', '70000'])).toMatch(/--healthz-port: 70000 is not a TCP port/);
    expect(err([], { FLANNELD_HEALTHZ_PORT: 'x' })).toMatch(/^FLANNELD_HEALTHZ_PORT \(--healthz-port\): expected a non-negative integer, got 'x'/);
    expect(err(['--kube-subnet-mgr'])).toMatch(/unknown flag --kube-subnet-mgr/);
    expect(err(['--network-config', '{}'])).toMatch(/^--network-config seeds a lease file: give it with --lease-file; with etcd, store the config with etcdctl put \/coreos.com\/network\/config/);
    expect(err(['--subnet-lease-ttl', '1'])).toMatch(/^--subnet-lease-ttl: 1 seconds is out of range: give 2-86400/);
    expect(err(['--subnet-lease-ttl', '600', '--subnet-lease-renew-margin', '10'])).toMatch(/^--subnet-lease-renew-margin: 10 minutes is not shorter than --subnet-lease-ttl 600 seconds/);
    expect(err(['extra'])).toMatch(/unexpected argument 'extra'/);
  });
});
