// The flannel node's metrics: the data path's (src/control/metrics.ts) and
// its lease state, served on flanneld's --healthz-ip and --healthz-port.
import { DataPathMetrics } from '../control/metrics.js';
import type { SubnetManager } from './subnet-manager.js';

export class FlannelMetrics extends DataPathMetrics {
  constructor(leases: Pick<SubnetManager, 'lease' | 'storeUp' | 'remoteLeases'>) {
    super();
    this.gauge('vxtap_flannel_lease_expiry_timestamp_seconds', 'When our subnet lease expires unless renewed (absent for a reservation).', [], function* () {
      const l = leases.lease;
      if (l && Number.isFinite(l.expires)) yield [{}, l.expires / 1000];
    });
    this.gauge('vxtap_flannel_remote_leases', 'Other nodes\' leases known to this node.', [], function* () {
      yield [{}, leases.remoteLeases().length];
    });
    this.gauge('vxtap_flannel_store_up', '1 when the lease store (etcd or the lease file) was reachable at the last try.', [], function* () {
      yield [{}, leases.storeUp ? 1 : 0];
    });
  }
}
