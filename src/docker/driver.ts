// The Docker network driver: libnetwork's calls (protocol.ts) carried out on
// the running dataplane.
//
//   CreateNetwork   a VNI in the VTEP of its UDP port (started with the first
//                   network on that port, closed with the last), its flood
//                   list from -o remote
//   CreateEndpoint  a MAC (Docker's if it gave one) and a TAP name, recorded
//   Join            the TAP port, with the MAC and the overlay MTU; Docker
//                   moves it into the container and renames it (eth0) and
//                   gives it the address its IPAM chose
//   Leave           the port removed: the TAP disappears with its FDB entries
//   DeleteEndpoint, DeleteNetwork  the rest
//
// There is no veth and no bridge: the container's interface is vxtap's TAP.
// What Docker created is kept in the state file, so that a restarted plugin
// knows its networks again. A TAP does not outlive the process that holds it,
// so the containers that were joined when the plugin stopped have lost their
// interface: restore() gives each a new TAP in its sandbox (recover.ts), and
// logs each one it cannot give back, naming the endpoint, its network and its
// container's sandbox, and how to reconnect it.
//
// Calls are carried out one at a time, in the order they came: the state file
// and the dataplane change together.
import type { Logger } from 'pino';
import type { RxErrorEvent } from '../dataplane/rxerrors.js';
import { VxtapError } from '../core/errors.js';
import { parseCidr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac, randomLocalMac } from '../wire/mac.js';
import { DEFAULT_AGEING, DEFAULT_SRCPORT } from '../control/config.js';
import { VtepQueues } from '../vxlan/queues.js';
import type { FdbRow } from '../vxlan/vtep.js';
import { GENERIC, parseNetworkOptions, VXLAN_OVERHEAD } from './options.js';
import { moveIntoSandbox } from './recover.js';
import type { DriverHandlers, Request } from './protocol.js';
import { type EndpointState, loadState, type NetworkState, saveState } from './state.js';

/** libnetwork's option for `docker network create --internal`: no gateway. */
const INTERNAL = 'com.docker.network.internal';
/** Port mappings (docker run -p) in ProgramExternalConnectivity's options. */
const PORTMAP = 'com.docker.network.portmap';
/** Docker names the interface DstPrefix plus an index: eth0, eth1... */
const DST_PREFIX = 'eth';

export interface DriverOptions {
  /** The underlay address (dotted quad) every VTEP binds and sends from. */
  local: string;
  /** The MTU of the interface that holds it. */
  underlayMtu: number;
  stateFile: string;
  /** UDP GSO/GRO and TAP TSO where the kernel has them. */
  offload: boolean;
  log: Logger;
  /** Gets each VTEP's receive errors (the first per device, and a stop). */
  onRxError: (e: RxErrorEvent) => void;
}

/** The short form of a Docker id, as `docker network ls` prints it. */
const short = (id: string) => id.slice(0, 12);

export class DockerDriver {
  private readonly networks = new Map<string, NetworkState>();
  private readonly endpoints = new Map<string, EndpointState>();
  /** One VTEP per UDP port in use, by port. */
  private readonly vteps = new Map<number, VtepQueues>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly o: DriverOptions) {}

  /**
   * Reads the state file and brings its networks back. An endpoint that was
   * joined lost its TAP with the process that held it: it gets a new one,
   * moved into its container's sandbox and set up as Docker had set it up
   * (recover.ts). One that cannot be given back (its sandbox is gone, a
   * command fails) is logged as lost, naming it, and kept unjoined, so that
   * Docker's Leave and DeleteEndpoint for it succeed.
   */
  async restore(): Promise<{ recovered: EndpointState[]; lost: EndpointState[] }> {
    const state = loadState(this.o.stateFile);
    for (const n of state.networks) {
      try {
        await this.addToDataplane(n);
      } catch (e) {
        const why = e instanceof Error ? e.message : String(e);
        throw new VxtapError('E_CONFIG', `state file ${this.o.stateFile}: network ${short(n.id)} (VNI ${n.vni}, port ${n.port}) cannot be brought back: ${why}`);
      }
      this.networks.set(n.id, n);
    }
    const recovered: EndpointState[] = [];
    const lost: EndpointState[] = [];
    for (const e of state.endpoints) {
      const n = this.networks.get(e.network);
      if (n === undefined) continue;
      this.endpoints.set(e.id, e);
      if (!e.joined) continue;
      const where = `endpoint ${short(e.id)} of network ${short(e.network)} (container sandbox ${e.sandbox})`;
      try {
        const name = await this.giveBack(e, n);
        recovered.push(e);
        this.o.log.info({ endpoint: e.id, network: e.network, dev: e.dev, sandbox: e.sandbox, name }, `${where}: port ${e.dev} given back as ${name}`);
      } catch (err) {
        lost.push({ ...e });
        this.o.log.error({ endpoint: e.id, network: e.network, dev: e.dev, sandbox: e.sandbox, err: (err as Error).message },
          `${where} lost its port ${e.dev} when the plugin stopped, and it cannot be given back (${(err as Error).message}): `
          + 'reconnect the container (docker network disconnect NETWORK CONTAINER, then docker network connect NETWORK CONTAINER) or restart it');
        e.joined = false;
        delete e.sandbox;
      }
    }
    this.save();
    return { recovered, lost };
  }

  /** A new TAP for a joined endpoint, moved into its sandbox; returns its name there. */
  private async giveBack(e: EndpointState, n: NetworkState): Promise<string> {
    if (e.sandbox === undefined) throw new VxtapError('E_DEVICE', 'no sandbox was recorded for it');
    const vtep = this.vteps.get(n.port)!;
    await vtep.addPort(n.vni, { dev: e.dev, mtu: n.mtu, mac: e.mac });
    try {
      return moveIntoSandbox({ dev: e.dev, sandbox: e.sandbox, address: e.address, address6: e.address6, gateway: n.gateway }, DST_PREFIX);
    } catch (err) {
      await vtep.removePort(e.dev);
      throw err;
    }
  }

  /** The protocol's handlers; each call waits for the one before it. */
  handlers(): DriverHandlers {
    const serial = <R>(f: (r: R) => object | Promise<object>) => (r: R): Promise<object> => {
      const run = this.queue.then(() => f(r));
      this.queue = run.catch(() => undefined);
      return run;
    };
    return {
      CreateNetwork: serial((r) => this.createNetwork(r)),
      DeleteNetwork: serial((r) => this.deleteNetwork(r.NetworkID)),
      CreateEndpoint: serial((r) => this.createEndpoint(r)),
      DeleteEndpoint: serial((r) => this.deleteEndpoint(r.EndpointID)),
      EndpointOperInfo: serial((r) => this.operInfo(r.EndpointID)),
      Join: serial((r) => this.join(r)),
      Leave: serial((r) => this.leave(r.EndpointID)),
      ProgramExternalConnectivity: serial((r) => {
        const ports = r.Options?.[PORTMAP];
        if (Array.isArray(ports) && ports.length > 0) {
          throw new VxtapError('E_USAGE', 'vxtap networks publish no ports (docker run -p): reach the container over the overlay, or connect it to a bridge network as well');
        }
        return {};
      }),
      RevokeExternalConnectivity: () => ({}),
      // Node discovery is swarm's; a local-scope driver has nothing to do with it.
      DiscoverNew: () => ({}),
      DiscoverDelete: () => ({}),
      AllocateNetwork: () => {
        throw new VxtapError('E_USAGE', 'vxtap is a local-scope driver: swarm (global scope) networks are not supported; create the network on each host');
      },
      FreeNetwork: () => ({}),
    };
  }

  private async createNetwork(r: Request<'CreateNetwork'>): Promise<object> {
    if (this.networks.has(r.NetworkID)) return {};
    const opts = parseNetworkOptions(r.Options?.[GENERIC], this.o.underlayMtu);
    for (const n of this.networks.values()) {
      if (n.vni === opts.vni && n.port === opts.port) {
        throw new VxtapError('E_USAGE', `-o vni=${opts.vni}: network ${short(n.id)} has VNI ${opts.vni} on UDP port ${opts.port} on this host already: one Docker network per VNI and port`);
      }
    }
    const gateway = r.Options?.[INTERNAL] === true ? undefined : r.IPv4Data?.[0]?.Gateway?.split('/')[0];
    const n: NetworkState = {
      id: r.NetworkID, vni: opts.vni, remotes: opts.remotes, port: opts.port, mode: opts.mode,
      mtu: opts.mtu ?? this.o.underlayMtu - VXLAN_OVERHEAD, ...(gateway !== undefined && gateway !== '' && { gateway }),
    };
    await this.addToDataplane(n);
    this.networks.set(n.id, n);
    this.save();
    this.o.log.info({ network: n.id, vni: n.vni, port: n.port, mode: n.mode, remotes: n.remotes }, `network ${short(n.id)}: VNI ${n.vni} on port ${n.port}`);
    return {};
  }

  /** The network's VNI in the VTEP of its port, which starts with its first network. */
  private async addToDataplane(n: NetworkState): Promise<void> {
    let vtep = this.vteps.get(n.port);
    if (vtep === undefined) {
      vtep = new VtepQueues({
        local: parseIpv4Addr(this.o.local), dstPort: n.port, srcPortMin: DEFAULT_SRCPORT[0], srcPortMax: DEFAULT_SRCPORT[1],
        ignoreReserved: false, offload: this.o.offload, queues: 1, networks: [],
      });
      vtep.leader.rxErrors.onError = this.o.onRxError;
      await vtep.start();
      this.vteps.set(n.port, vtep);
    }
    try {
      await vtep.addNetwork({
        vni: n.vni, remotes: n.remotes.map(parseIpv4Addr), learning: true, stickyLocal: true, ageingSec: DEFAULT_AGEING,
        maxAddress: 0, allowInnerVlan: false, proxy: false, isolated: n.mode === 'private', statics: [], ports: [],
      });
    } catch (e) {
      this.closeIfEmpty(n.port);
      throw e;
    }
  }

  private closeIfEmpty(port: number): void {
    const vtep = this.vteps.get(port);
    if (vtep !== undefined && vtep.leader.vnis().length === 0) {
      vtep.close();
      this.vteps.delete(port);
    }
  }

  private async deleteNetwork(id: string): Promise<object> {
    const n = this.networks.get(id);
    if (n === undefined) return {}; // already gone: Docker may repeat a call that failed half-way
    for (const e of [...this.endpoints.values()]) if (e.network === id) await this.deleteEndpoint(e.id);
    await this.vteps.get(n.port)!.removeNetwork(n.vni);
    this.closeIfEmpty(n.port);
    this.networks.delete(id);
    this.save();
    this.o.log.info({ network: id, vni: n.vni }, `network ${short(id)} removed`);
    return {};
  }

  private network(id: string): NetworkState {
    const n = this.networks.get(id);
    if (n === undefined) {
      throw new VxtapError('E_CONFIG', `network ${short(id)} is not known to this vxtap plugin (was its state file lost?): docker network rm it and create it again`);
    }
    return n;
  }

  private createEndpoint(r: Request<'CreateEndpoint'>): object {
    this.network(r.NetworkID);
    if (this.endpoints.has(r.EndpointID)) throw new VxtapError('E_CONFIG', `endpoint ${short(r.EndpointID)} exists already`);
    const given = r.Interface?.MacAddress ?? '';
    let mac: number;
    try {
      mac = given !== '' ? parseMac(given) : macOfAddress(r.Interface?.Address);
    } catch {
      throw new VxtapError('E_USAGE', `--mac-address ${JSON.stringify(given.slice(0, 32))}: not a MAC address such as 02:42:cb:00:71:02`);
    }
    if (Math.floor(mac / 2 ** 40) % 2 === 1) throw new VxtapError('E_USAGE', `--mac-address ${given}: a multicast MAC cannot be an interface's: give a unicast one`);
    const address = r.Interface?.Address || undefined;
    const address6 = r.Interface?.AddressIPv6 || undefined;
    const e: EndpointState = {
      id: r.EndpointID, network: r.NetworkID, dev: `vxd${r.EndpointID.slice(0, 12)}`, mac: formatMac(mac), joined: false,
      ...(address !== undefined && { address }), ...(address6 !== undefined && { address6 }),
    };
    this.endpoints.set(e.id, e);
    this.save();
    // Docker takes the MAC from the driver only if it gave none itself.
    return given !== '' ? {} : { Interface: { MacAddress: e.mac } };
  }

  private endpoint(id: string): EndpointState {
    const e = this.endpoints.get(id);
    if (e === undefined) throw new VxtapError('E_CONFIG', `endpoint ${short(id)} is not known to this vxtap plugin`);
    return e;
  }

  private async join(r: Request<'Join'>): Promise<object> {
    const e = this.endpoint(r.EndpointID);
    const n = this.network(e.network);
    if (!e.joined) {
      await this.vteps.get(n.port)!.addPort(n.vni, { dev: e.dev, mtu: n.mtu, mac: e.mac });
      e.joined = true;
      e.sandbox = r.SandboxKey;
      this.save();
    }
    return { InterfaceName: { SrcName: e.dev, DstPrefix: DST_PREFIX }, ...(n.gateway !== undefined && { Gateway: n.gateway }) };
  }

  private async leave(id: string): Promise<object> {
    const e = this.endpoints.get(id);
    if (e === undefined || !e.joined) return {};
    await this.vteps.get(this.network(e.network).port)!.removePort(e.dev);
    e.joined = false;
    delete e.sandbox;
    this.save();
    return {};
  }

  private async deleteEndpoint(id: string): Promise<object> {
    await this.leave(id);
    if (this.endpoints.delete(id)) this.save();
    return {};
  }

  private operInfo(id: string): object {
    const e = this.endpoints.get(id);
    if (e === undefined) return { Value: {} };
    const n = this.networks.get(e.network);
    return { Value: { dev: e.dev, mac: e.mac, vni: n?.vni, port: n?.port, mode: n?.mode, joined: e.joined } };
  }

  private save(): void {
    saveState(this.o.stateFile, { version: 1, networks: [...this.networks.values()], endpoints: [...this.endpoints.values()] });
  }

  /** The VTEPs running, by UDP port. */
  get running(): ReadonlyMap<number, VtepQueues> {
    return this.vteps;
  }

  /** The networks and endpoints, as the control socket's `stats` shows them under `docker`. */
  summary(): object {
    return {
      networks: [...this.networks.values()].map((n) => ({
        ...n, endpoints: [...this.endpoints.values()].filter((e) => e.network === n.id).map((e) => ({ id: e.id, dev: e.dev, mac: e.mac, joined: e.joined })),
      })),
    };
  }

  fdbRows(): FdbRow[] {
    return [...this.vteps.values()].flatMap((v) => v.leader.fdbRows());
  }

  /** Closes every VTEP: the TAPs disappear, also from the containers. The state file stays. */
  close(): void {
    for (const v of this.vteps.values()) v.close();
    this.vteps.clear();
  }
}

/** Docker's bridge driver's convention, 02:42 then the IPv4 address; a random local one without an address. */
function macOfAddress(cidr: string | undefined): number {
  if (cidr === undefined || cidr === '') return randomLocalMac();
  return 0x0242_0000_0000 + (parseCidr(cidr).addr >>> 0);
}
