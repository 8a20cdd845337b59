import { describe, expect, it } from 'vitest';
import { FlannelMetrics } from './health.js';
import { udpAttrs } from './lease.js';
import type { HeldLease } from './subnet-manager.js';
import { parseSubnet } from './subnet.js';

const lease: HeldLease = { subnet: parseSubnet('198.18.52.0/24'), attrs: udpAttrs('198.51.100.1'), reservation: false, expires: 1_700_000_000_000 };

describe('flannel metrics', () => {
  it('add the lease state to the data path\'s metrics', async () => {
    const text = await new FlannelMetrics({ lease, storeUp: true, remoteLeases: () => [lease, lease] }).registry.metrics();
    expect(text).toContain('vxtap_flannel_lease_expiry_timestamp_seconds 1700000000\n');
    expect(text).toContain('vxtap_flannel_remote_leases 2\n');
    expect(text).toContain('vxtap_flannel_store_up 1\n');
    expect(text).toContain('# TYPE vxtap_rx_packets_total counter\n');
  });
});
