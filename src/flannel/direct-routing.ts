// The vxlan backend's DirectRouting: a peer whose PublicIP the kernel
// reaches without a gateway (flannel's ip.DirectRouting: `ip route get`
// gives one route and it has no gateway) is on our underlay subnet, so its
// pods' subnet is routed straight to it, unencapsulated:
//   ip route replace <subnet> via <PublicIP>
// instead of the neighbour, FDB entry and onlink route into flannel.<VNI>.
// Peers behind a router still get VXLAN.
import { execFileSync } from 'node:child_process';

/**
 * The addresses of `ips` the kernel routes to with no gateway. One
 * `ip -j -force -batch` for them all (a node joining a large cluster asks
 * once per lease batch); each answer names its destination, so a failed
 * lookup (no route) cannot shift the others.
 */
export function directlyReachable(ips: readonly string[]): Set<string> {
  const direct = new Set<string>();
  if (ips.length === 0) return direct;
  let out: string;
  try {
    out = execFileSync('ip', ['-j', '-4', '-force', '-batch', '-'], { input: ips.map((ip) => `route get ${ip}`).join('\n') + '\n', encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
  } catch (e) {
    // -force: ip exits non-zero if any lookup failed, with the others' answers on stdout.
    out = ((e as { stdout?: string }).stdout ?? '').toString();
  }
  for (const line of out.split('\n')) {
    if (line.trim() === '') continue;
    let routes: Array<{ dst?: string; gateway?: string; type?: string }>;
    try {
      routes = JSON.parse(line) as typeof routes;
    } catch {
      continue;
    }
    const r = routes[0];
    if (routes.length === 1 && r.dst !== undefined && r.gateway === undefined && (r.type ?? 'unicast') === 'unicast') direct.add(r.dst);
  }
  return direct;
}
