// The VXLAN data path: TAP ports and an underlay UDP socket, switched through
// one FDB per VNI.
//
//   TAP rx batch -> learn source on the port
//     -> with proxy: an ARP request or neighbour solicitation the neighbour
//        table answers goes back to that TAP as the reply (switch/proxy.ts)
//     -> FDB lookup by destination
//     -> local port: queue to that TAP
//     -> remote VTEP: VXLAN header written into the headroom, outer IPv4/UDP
//        header into the send queue's header area, payload left in place
//     -> broadcast/multicast/unknown: every other local port and every remote
//        on the VNI's flood list (head-end replication, one payload, n headers)
//   UDP rx batch -> validate VXLAN -> VNI -> learn inner source -> outer IP
//     -> FDB lookup -> local TAP (decapsulation is an offset, not a copy)
//
// Every batch ends with one native call per queue that received packets.
//
// Networks and ports come and go at runtime (addNetwork, addPort,
// removePort, removeNetwork), between two batches, and a VTEP may start with
// none: each port has its own receive slab, opened and dropped with it. An FDB
// entry names a port by its index in `ports`; a removed port's entries go
// with it, and its index is free for the next port.
//
// Capture: `capture.active` is read once per batch (or flush); while no
// capture is attached that check is all the mirroring costs. Every drop goes
// through dropFrame/dropDatagram (dataplane/pipeline.ts), which count it and
// mirror it to the drop point in the form it had when dropped: a TAP frame,
// the received datagram (behind its outer headers), the frame bound for a
// TAP, or the packet that could not be sent.
import { CaptureHub } from '../capture/hub.js';
import { NeighbourTable } from '../capture/neighbours.js';
import { DROP, NO_REASON, TAP_RX, WIRE_TX } from '../capture/points.js';
import {
  DROP_BAD_SRC_MAC, DROP_HAIRPIN, DROP_INNER_RUNT, DROP_ISOLATED, DROP_INNER_VLAN, DROP_NO_DESTINATION, DROP_NO_I_FLAG,
  DROP_REMOTE_DST, DROP_RESERVED_BITS, DROP_RX_ERROR, DROP_TAP_RUNT, DROP_TRUNCATED,
  DROP_UNKNOWN_VNI, countSendFailures, dropsToRecord, sendDropReason,
} from '../core/drops.js';
import { VxtapError } from '../core/errors.js';
import { openOrClose } from '../dataplane/lifecycle.js';
import { openPipelineDevice, Pipeline, type PipelineDevice, wireWriteMode } from '../dataplane/pipeline.js';
import { configureLink, ipBatchAsync, linkCommands, type LinkSettings } from '../io/device.js';
import { FLOW_ENTRIES, FLOW_RECORD, type NativeEndpoint, UDP_REUSE_PORT, WriteMode } from '../io/native.js';
import { capDeviceSegments, enableUdpOffloads, segmentCap, TsoSplitter } from '../io/offload.js';
import { BATCH, HEADROOM, type RxBatch, SlabPool, slotSizeFor } from '../io/pool.js';
import { DatagramQueue, DEVICE_QUEUE, FrameQueue, HEADER_STRIDE } from '../io/queues.js';
import { openRawSocket } from '../io/socket.js';
import { Fdb, LEARN_CREATED, LEARN_MOVED, LEARN_REFUSED_FULL, NO_PORT } from '../switch/fdb.js';
import { FAMILY_IPV4, type NeighFamily, NeighTable } from '../switch/neigh.js';
import { NeighProxy, PROXY_COUNTER_NAMES } from '../switch/proxy.js';
import { ETH_HLEN, ETH_TYPE, VLAN_HLEN, isVlanType } from '../wire/ethernet.js';
import { formatIpv4Addr, formatIpv6Addr } from '../wire/ipaddr.js';
import { formatMac, isZeroMac, macHi, macLo, macNumberHi, macNumberLo } from '../wire/mac.js';
import { ipFrameLength, superFrameSegment } from '../wire/superframe.js';
import {
  VXLAN_ERR_NO_I_FLAG, VXLAN_ERR_RESERVED, VXLAN_HLEN, getVni, vxlanCheck, writeVxlanHeader,
} from '../wire/vxlan.js';
import { OUTER_HLEN, writeOuterHeaders } from '../wire/outer.js';
import { flowHash, sourcePort } from './flowhash.js';
import { SourcePortPool } from './portpool.js';

/** Messages the underlay send queue holds before it is flushed mid-batch. */
const SEND_QUEUE = 1024;
/** A TSO super-frame or a GRO train: up to 64 KiB. */
const MAX_FRAME = 65536;
/** TsoSplitter tag for a frame bound for the VNI's whole flood list. */
const FLOOD = 0;
/** The kernel sweeps its FDB every 10 s (FDB_AGE_INTERVAL). */
const SWEEP_MS = 10_000;

export interface PortSpec {
  dev: string;
  /** CIDR to put on the TAP, if any. */
  address?: string;
  mtu: number;
  /** MAC for the TAP as aa:bb:..., or the kernel's random one. */
  mac?: string;
}

export interface StaticEntry {
  mac: number;
  /** Remote VTEP (uint32) ... */
  remote?: number;
  /** ... or a local port by device name. */
  dev?: string;
}

export interface NetworkSpec {
  vni: number;
  /** The flood list: remote VTEPs (uint32) that get broadcast, unknown unicast and multicast. */
  remotes: number[];
  /** Learn inner source MACs from the wire (local ports always learn). */
  learning: boolean;
  /** A MAC learned on a local port does not move to a remote while it has not aged out. */
  stickyLocal: boolean;
  ageingSec: number;
  /** FDB size cap (0: none), like the kernel's maxaddress. */
  maxAddress: number;
  allowInnerVlan: boolean;
  /** Answer ARP requests and neighbour solicitations from local ports out of the neighbour table (switch/proxy.ts). */
  proxy: boolean;
  /**
   * Local ports do not reach each other, only the overlay (macvlan's private
   * mode): a frame from a port is never given to another port of the network,
   * and is counted once as `isolated` where it would have been.
   */
  isolated?: boolean;
  statics: StaticEntry[];
  ports: PortSpec[];
}

export interface VtepSpec {
  /** Underlay IPv4 address (uint32) to bind and to send from. */
  local: number;
  dstPort: number;
  srcPortMin: number;
  srcPortMax: number;
  /** Accept VXLAN headers with reserved bits set (RFC 7348) instead of dropping them (Linux). */
  ignoreReserved: boolean;
  /** Use TAP TSO/GRO and UDP GSO/GRO where the kernel has them. */
  offload: boolean;
  /**
   * Forward the packets of a flow already forwarded once in native code, in
   * the poll callback, from the endpoints' flow caches (native/src/flows.h);
   * default true.
   */
  flowCache?: boolean;
  /** Accept datagrams only from VTEPs made trusted with trust() (a flannel node's known leases). */
  trustedOnly?: boolean;
  /**
   * Queues in all (IFF_MULTI_QUEUE TAPs, SO_REUSEPORT sockets), one pipeline
   * each; `queue` is this pipeline's index. Queue 0 configures the links.
   */
  queues?: number;
  queue?: number;
  networks: NetworkSpec[];
}

/** Which offloads are active, as probed at start-up. */
export interface VtepOffloads {
  tapVnetHdr: boolean;
  tapTso: boolean;
  /** The TAPs hand over UDP super-frames too (USO), split like TSO ones. */
  tapUso: boolean;
  udpGro: boolean;
  /** UDP GSO, through the source-port pool. */
  udpGso: boolean;
  /** 'raw': any port in --srcport via a raw socket; 'pool': one of a few bound ports (see portpool.ts). */
  sourcePorts: 'raw' | 'pool';
  /** The TAPs' gso_max_segs: a TSO super-frame's segments fit one UDP GSO send (0: the kernel's default). */
  tapGsoMaxSegs: number;
}

// Per-VNI counters, indexes into Network.counters.
const RX_PACKETS = 0;
const RX_BYTES = 1;
const TX_PACKETS = 2;
const TX_BYTES = 3;
const FLOODED = 4;

// Flow cache counters, indexes into Vtep.flowCounters.
const FLOW_PACKETS = 0;
const FLOW_INSTALLS = 1;
const FLOW_EVICTIONS = 2;
const FLOW_RESETS = 3;

// Learning outcomes other than a refresh, indexed by LEARN_* code - 1.
const LEARN_NAMES = ['created', 'moved', 'refused_static', 'refused_full', 'refused_local'] as const;

class Port {
  readonly txq = new FrameQueue(DEVICE_QUEUE);
  /** rx/tx packets and bytes, as seen from the TAP (rx = read from it). */
  readonly counters = new Float64Array(4);
  dirty = false;
  /** Frames from the wire longer than this are super-frames, cut (by the TAP) to the MTU. */
  readonly maxFrame: number;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly endpoint: NativeEndpoint,
    readonly rx: RxBatch,
    readonly network: Network,
    readonly mtu: number,
  ) {
    this.maxFrame = ETH_HLEN + VLAN_HLEN + mtu;
  }
}

/** A network's settings and its flood list and statics as added; its ports come and go on their own (Vtep.addPort). */
class Network {
  readonly fdb: Fdb;
  /** Neighbour entries (`vxtap neigh`), kept whether or not the proxy answers from them. */
  readonly neigh = new NeighTable();
  /** The ARP/ND proxy, with spec.proxy. */
  readonly proxy: NeighProxy | null;
  /** Its counters, zeros without it. */
  readonly proxyCounters: Float64Array;
  /** Replaced whole by a runtime change (applyFdb), never changed in place. */
  flood: Uint32Array;
  readonly ports: Port[] = [];
  readonly counters = new Float64Array(5);
  /** The VXLAN header of this VNI, copied in front of every split segment. */
  readonly header = Buffer.alloc(VXLAN_HLEN);
  // What the data path reads of the spec, as fields of this class: a spec's
  // object layout depends on how its caller built it, and the warm-up's
  // optimised code (warmup.ts) would be thrown away at the first packet of
  // a spec built another way.
  readonly vni: number;
  readonly learning: boolean;
  readonly allowInnerVlan: boolean;

  /** Ports do not reach each other (spec.isolated). */
  readonly isolated: boolean;

  constructor(readonly spec: NetworkSpec) {
    this.isolated = spec.isolated === true;
    this.vni = spec.vni;
    this.learning = spec.learning;
    this.allowInnerVlan = spec.allowInnerVlan;
    this.fdb = new Fdb(spec.maxAddress, spec.stickyLocal ? spec.ageingSec * 1000 : 0);
    this.proxy = spec.proxy ? new NeighProxy(this.neigh, this.fdb) : null;
    this.proxyCounters = this.proxy?.counters ?? new Float64Array(PROXY_COUNTER_NAMES.length);
    this.flood = Uint32Array.from(spec.remotes);
    writeVxlanHeader(this.header, 0, spec.vni);
  }
}

export interface FdbRow {
  vni: number;
  mac: string;
  dev?: string;
  dst?: string;
  static: boolean;
  ageSec: number;
}

/**
 * An FDB change as every queue applies it, already decided against queue 0's
 * FDB (control/fdb-commands.ts): the flood list set whole, one entry set
 * (to a local port `dev`, or to `remote`), or one entry removed.
 */
export type FdbChange =
  | { op: 'flood'; vni: number; remotes: number[] }
  | { op: 'set'; vni: number; mac: number; dev?: string; remote: number; isStatic: boolean }
  | { op: 'delete'; vni: number; mac: number };

/**
 * A change of the networks and ports, as every queue applies it
 * (VtepQueues). A network comes with the ports, remotes and statics its spec
 * lists; removing one closes its ports and drops its FDB.
 */
export type TopologyChange =
  | { op: 'add-network'; network: NetworkSpec }
  | { op: 'remove-network'; vni: number }
  | { op: 'add-port'; vni: number; port: PortSpec }
  | { op: 'remove-port'; dev: string };

/** A neighbour change as every queue applies it, decided against queue 0's table (control/neigh-commands.ts). */
export type NeighChange =
  | { op: 'set'; vni: number; family: NeighFamily; addr: number[]; mac: number; dev: string }
  | { op: 'delete'; vni: number; family: NeighFamily; addr: number[] };

/** One neighbour entry as `vxtap neigh show` lists it. */
export interface NeighRow {
  vni: number;
  ip: string;
  lladdr: string;
  dev: string;
}

/** One FDB entry as the control plane sees it: a local port's name, or a remote VTEP. */
export interface FdbEntryView {
  dev?: string;
  remote?: number;
  isStatic: boolean;
}

/**
 * Where a VTEP's ports come from: TAP devices, or a stand-in that reads and
 * writes frames as a TAP does (the warm-up's, warmup.ts).
 */
export interface PortDevices {
  open(name: string, offload: boolean, multiQueue: boolean): PipelineDevice;
  /** Whether the ports are links that queue 0 configures (MTU, address, MAC, up) and caps. */
  readonly links: boolean;
}

const TAP_DEVICES: PortDevices = {
  open: (name, offload, multiQueue) => openPipelineDevice(name, true, offload, multiQueue),
  links: true,
};

export class Vtep extends Pipeline {
  readonly learning = new Float64Array(LEARN_NAMES.length);
  private readonly networks = new Map<number, Network>();
  /** Indexed by Port.index; a removed port leaves a hole until the next port takes it. */
  private readonly ports: Array<Port | undefined> = [];
  private readonly byName = new Map<string, Port>();
  private readonly dirty: Port[] = [];
  private ndirty = 0;
  /** One send queue per sending socket: the raw socket, or each pool socket. */
  private sendqs: DatagramQueue[] = [];
  private senders: NativeEndpoint[] = [];
  private pool: SourcePortPool | null = null;
  /** Outer header scratch for mirroring the datagrams of a GSO train one by one. */
  private readonly mirrorHdr = Buffer.alloc(OUTER_HLEN);
  private tapWrite = WriteMode.Plain;
  private wireWrite = WriteMode.Plain;
  /** How the batch being handled writes to TAPs: tapWrite with the headroom, or wireWrite. */
  private portMode = WriteMode.Plain;
  private portHdrBack = 0;
  /** The network whose TAP frames the splitter holds. */
  private splitNet: Network | null = null;
  /** When the batch from the wire being handled arrived (performance.now()). */
  private now = 0;
  readonly offloads: VtepOffloads = { tapVnetHdr: false, tapTso: false, tapUso: false, udpGro: false, udpGso: false, sourcePorts: 'raw', tapGsoMaxSegs: 0 };
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepMs = 0;
  private readonly srcMin: number;
  private readonly srcMax: number;
  private readonly multiQueue: boolean;
  /** Queue 0 configures the links (address, MTU, MAC, segments). */
  private readonly leader: boolean;
  /** Forwarding: ports added from now on have their links set by configurePort, not by addPort. */
  private running = false;
  /** Queue 0's ports added while running whose links configurePort has yet to set. */
  private readonly unconfigured = new Map<string, PortSpec>();
  /** spec.ignoreReserved, as a field (see Network). */
  private readonly ignoreReserved: boolean;
  /** Packets the flow caches forwarded, entries installed, installs that replaced an entry, caches emptied. */
  readonly flowCounters = new Float64Array(4);
  /** The endpoints keep flow caches: spec.flowCache, and no capture attached (a capture sees every packet). */
  private flowsOn = false;
  /** A decision a cached flow rests on changed in this batch: the caches are emptied at its end. */
  private flowsStale = false;
  private readonly flowRecords = new Float64Array(FLOW_ENTRIES * FLOW_RECORD);
  private readonly evicted = new Float64Array(FLOW_RECORD);

  constructor(readonly spec: VtepSpec, private readonly devices: PortDevices = TAP_DEVICES) {
    super(new CaptureHub(spec.dstPort, new NeighbourTable(spec.local)), 0, spec.local, spec.dstPort, spec.trustedOnly === true);
    this.srcMin = spec.srcPortMin;
    this.srcMax = spec.srcPortMax;
    this.multiQueue = (spec.queues ?? 1) > 1;
    this.leader = (spec.queue ?? 0) === 0 && devices.links;
    this.ignoreReserved = spec.ignoreReserved;
    this.capture.onActive = () => this.setFlows();
  }

  /** Opens sockets and devices, programs the FDB and starts forwarding. */
  start(): void {
    openOrClose(() => this.open(), () => this.close());
  }

  private open(): void {
    const spec = this.spec;
    const off = this.offloads;
    const flags = this.multiQueue ? UDP_REUSE_PORT : 0;
    off.udpGro = this.openUnderlay(flags, spec.offload).gro;
    this.openSenders(flags);
    // A GRO train, or a kernel VTEP's super-frame that crossed a veth whole (superframe.ts).
    const udpSlot = slotSizeFor(0, MAX_FRAME);
    const udpRx = new SlabPool(BATCH * udpSlot).batch(udpSlot, 0, BATCH);
    // Until a TAP says otherwise (addPort), offloads are what the spec asks.
    off.tapVnetHdr = spec.offload;
    off.tapTso = spec.offload;
    off.tapUso = spec.offload;
    // A frame read from a vnet TAP keeps its virtio-net header at the start of
    // its slot: another TAP takes it as it is; frames from the wire get theirs
    // built, with TCP segments (and, where the TAP has USO, UDP datagrams) merged.
    this.tapWrite = spec.offload ? WriteMode.InBuffer : WriteMode.Plain;
    this.wireWrite = wireWriteMode(spec.offload, off.tapUso);
    this.startWireRx(udpRx);
    for (const ns of spec.networks) this.addNetwork(ns);
    this.resetSweep();
    this.setFlows();
    this.running = true;
  }

  /**
   * Adds a network with the ports, flood list and statics its spec lists.
   * Throws a VxtapError (and adds nothing) when the VNI exists or a port
   * cannot be opened.
   */
  addNetwork(ns: NetworkSpec): void {
    if (this.networks.has(ns.vni)) throw new VxtapError('E_CONFIG', `vni ${ns.vni} exists already`);
    const net = new Network(ns);
    this.networks.set(ns.vni, net);
    try {
      for (const ps of ns.ports) this.addPort(ns.vni, ps);
      for (const st of ns.statics) {
        const port = st.dev === undefined ? undefined : this.portOf(net, st.dev);
        this.addStatic(ns.vni, st.mac, port === undefined ? NO_PORT : port.index, st.remote ?? 0);
      }
    } catch (e) {
      this.removeNetwork(ns.vni);
      throw e;
    }
    this.resetSweep();
  }

  /** Removes a network: closes its ports (their TAPs disappear) and drops its FDB and flood list. */
  removeNetwork(vni: number): void {
    const net = this.network(vni);
    for (const port of [...net.ports]) this.removePort(port.name);
    this.networks.delete(vni);
    this.resetSweep();
  }

  /**
   * Opens a TAP port on network `vni` and starts reading it: with its
   * virtio-net header and TSO/USO where offloads are on, on this queue's
   * share of a multi-queue TAP. Queue 0 sets its link (MTU, address, MAC, up)
   * and caps its super-frames to one UDP GSO send: at start here, and once
   * running in configurePort (VtepQueues calls it), so that the data path
   * does not stop while `ip` runs.
   */
  addPort(vni: number, ps: PortSpec): void {
    const net = this.network(vni);
    if (this.byName.has(ps.dev)) throw new VxtapError('E_CONFIG', `dev ${ps.dev} is a port already (VNI ${this.byName.get(ps.dev)!.network.spec.vni})`);
    const spec = this.spec;
    const off = this.offloads;
    const dev = this.devices.open(ps.dev, spec.offload, this.multiQueue);
    openOrClose(() => {
      off.tapTso = dev.tso && off.tapTso;
      off.tapUso = dev.uso && off.tapUso;
      if (!this.leader) return;
      if (this.running) {
        this.unconfigured.set(dev.name, ps);
        return;
      }
      configureLink(dev.name, linkOf(ps));
      if (this.capsSegments()) off.tapGsoMaxSegs = capDeviceSegments(dev.name, VXLAN_HLEN + ETH_HLEN + ps.mtu);
    }, () => dev.endpoint.close());
    if (off.tapTso && this.splitter === null) this.splitter = new TsoSplitter(BATCH);
    this.wireWrite = wireWriteMode(spec.offload, off.tapUso);
    // With TSO a TAP frame is up to 64 KiB. Each port has its own slab, freed with it.
    const slot = slotSizeFor(HEADROOM, spec.offload ? MAX_FRAME : ETH_HLEN + VLAN_HLEN + ps.mtu);
    const rx = new SlabPool(BATCH * slot).batch(slot, HEADROOM, BATCH);
    const free = this.ports.indexOf(undefined);
    const port = new Port(free < 0 ? this.ports.length : free, dev.name, dev.endpoint, rx, net, ps.mtu);
    this.ports[port.index] = port;
    this.byName.set(port.name, port);
    net.ports.push(port);
    // Filled with ports, never holes, so that the array keeps its elements
    // kind (and its map) at the first packet, after the warm-up (warmup.ts).
    while (this.dirty.length < this.ports.length) this.dirty.push(port);
    port.endpoint.startRx(rx.slab, rx.slotSize, rx.headroom, rx.budget, rx.lens, null, null, null,
      (n, stopped, start, missed) => this.onTap(port, n, stopped, start, missed));
    if (this.flowsOn && this.pool !== null) port.endpoint.flowEnable(true);
  }

  /**
   * Sets the link of port `dev`, added while running (addPort), without
   * blocking the data path. Throws a VxtapError when `ip` refuses it: the
   * caller removes the port.
   */
  async configurePort(dev: string): Promise<void> {
    const ps = this.unconfigured.get(dev);
    if (ps === undefined) return; // not queue 0's, set at start, or done
    this.unconfigured.delete(dev);
    await ipBatchAsync(linkCommands(dev, linkOf(ps)), `configuring ${dev}`);
    if (!this.capsSegments()) return;
    const cap = segmentCap(dev, VXLAN_HLEN + ETH_HLEN + ps.mtu);
    this.offloads.tapGsoMaxSegs = await ipBatchAsync([cap.cmd], cap.what).then(() => cap.segs, () => 0);
  }

  /** The TAPs' super-frames are capped to one UDP GSO send (capDeviceSegments). */
  private capsSegments(): boolean {
    return this.offloads.tapTso && this.offloads.udpGso;
  }

  /** Closes a port (its TAP disappears once every queue has closed its share) and removes its FDB entries. */
  removePort(dev: string): void {
    const port = this.byName.get(dev);
    if (port === undefined) throw new VxtapError('E_CONFIG', `dev ${dev} is not a port of this instance`);
    this.resetFlows();
    port.endpoint.close();
    this.unconfigured.delete(dev);
    const net = port.network;
    net.fdb.forgetPort(port.index);
    net.ports.splice(net.ports.indexOf(port), 1);
    this.byName.delete(dev);
    this.ports[port.index] = undefined;
  }

  /** Applies a topology change between two batches (a worker queue's side of VtepQueues). */
  applyTopology(c: TopologyChange): void {
    if (c.op === 'add-network') this.addNetwork(c.network);
    else if (c.op === 'remove-network') this.removeNetwork(c.vni);
    else if (c.op === 'add-port') this.addPort(c.vni, c.port);
    else this.removePort(c.dev);
  }

  /** The VNIs configured. */
  vnis(): number[] {
    return [...this.networks.keys()];
  }

  private network(vni: number): Network {
    const net = this.networks.get(vni);
    if (net === undefined) throw new VxtapError('E_CONFIG', `vni ${vni} is not configured`);
    return net;
  }

  /** Port `dev` of network `net`. */
  private portOf(net: Network, dev: string): Port {
    const port = this.byName.get(dev);
    if (port === undefined || port.network !== net) throw new VxtapError('E_CONFIG', `dev ${dev} is not a port of VNI ${net.spec.vni}`);
    return port;
  }

  /** Sweeps as often as the shortest ageing time needs, and every 10 s at most (the kernel's interval). */
  private resetSweep(): void {
    if (this.udp === null) return; // closed, or not open yet
    const ageing = Math.min(...[...this.networks.values()].map((n) => n.spec.ageingSec)) * 1000;
    const ms = Math.max(100, Math.min(SWEEP_MS, ageing / 4));
    if (this.sweepTimer !== null && ms === this.sweepMs) return;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepMs = ms;
    this.sweepTimer = setInterval(() => this.sweep(), ms);
    this.sweepTimer.unref();
  }

  /**
   * With offloads, VXLAN leaves through the source-port pool so that a TSO
   * super-frame can go as one UDP GSO train; otherwise (or if no pool port
   * can be bound, or the kernel lacks UDP GSO) through the raw socket, which
   * can write any source port.
   */
  private openSenders(flags: number): void {
    const off = this.offloads;
    if (this.spec.offload) {
      this.pool = SourcePortPool.open(this.local, this.srcMin, this.srcMax, flags);
      if (this.pool !== null && enableUdpOffloads(this.pool.sockets[0].fd).gso) {
        off.udpGso = true;
        off.sourcePorts = 'pool';
        this.senders = this.pool.sockets;
      } else {
        this.pool?.close();
        this.pool = null;
      }
    }
    if (this.pool === null) this.senders = [openRawSocket()];
    const hdrLen = this.pool === null ? OUTER_HLEN : 0; // a UDP socket writes the outer header itself
    this.sendqs = this.senders.map(() => new DatagramQueue(SEND_QUEUE, hdrLen));
  }

  /** Adds a static FDB entry: MAC -> local port index, or -> remote VTEP (port NO_PORT). */
  addStatic(vni: number, mac: number, port: number, remote: number): void {
    const net = this.network(vni);
    if (!net.fdb.addStatic(macNumberHi(mac), macNumberLo(mac), port, remote)) {
      throw new VxtapError('E_CONFIG', `vni ${vni}: static entry ${formatMac(mac)} exceeds maxaddress ${net.spec.maxAddress}`);
    }
  }

  /** Removes an FDB entry, static or learned. */
  removeEntry(vni: number, mac: number): boolean {
    this.resetFlows();
    return this.networks.get(vni)?.fdb.delete(macNumberHi(mac), macNumberLo(mac)) ?? false;
  }

  /** The VNI of the local port named `dev`, if it is one of this VTEP's. */
  vniOf(dev: string): number | undefined {
    return this.byName.get(dev)?.network.spec.vni;
  }

  /** The VNI's flood list (remote VTEPs, uint32). */
  floodList(vni: number): number[] {
    return [...(this.networks.get(vni)?.flood ?? [])];
  }

  /** This queue's entry for a MAC, if any. */
  entry(vni: number, mac: number): FdbEntryView | undefined {
    const fdb = this.networks.get(vni)?.fdb;
    const slot = fdb?.find(macNumberHi(mac), macNumberLo(mac)) ?? -1;
    if (fdb === undefined || slot < 0) return undefined;
    const port = fdb.port[slot];
    return { ...(port === NO_PORT ? { remote: fdb.remote[slot] >>> 0 } : { dev: this.ports[port]!.name }), isStatic: fdb.isStatic(slot) };
  }

  /** Applies a runtime FDB change between two batches. Returns false when the FDB is full (maxaddress). */
  applyFdb(c: FdbChange): boolean {
    const net = this.network(c.vni);
    this.resetFlows();
    if (c.op === 'flood') {
      net.flood = Uint32Array.from(c.remotes);
      return true;
    }
    const [hi, lo] = [macNumberHi(c.mac), macNumberLo(c.mac)];
    if (c.op === 'delete') {
      net.fdb.delete(hi, lo);
      return true;
    }
    const port = c.dev === undefined ? NO_PORT : this.portOf(net, c.dev).index;
    if (c.isStatic) return net.fdb.addStatic(hi, lo, port, c.remote);
    // A dynamic entry is a learned one: it ages and moves. Whatever was there is replaced.
    net.fdb.delete(hi, lo);
    return net.fdb.learn(hi, lo, port, c.remote, performance.now()) !== LEARN_REFUSED_FULL;
  }

  /** This queue's neighbour entry for an address, if any. */
  neighEntry(vni: number, family: NeighFamily, addr: number[]): { mac: number; dev: string } | undefined {
    return this.networks.get(vni)?.neigh.get(family, addr);
  }

  /** Applies a runtime neighbour change between two batches. Returns false when the table is full. */
  applyNeigh(c: NeighChange): boolean {
    const net = this.networks.get(c.vni);
    if (net === undefined) throw new Error(`vni ${c.vni} is not configured`);
    if (c.op === 'delete') {
      net.neigh.delete(c.family, c.addr);
      return true;
    }
    return net.neigh.set({ family: c.family, addr: c.addr, mac: c.mac, dev: c.dev });
  }

  /** The neighbour entries of every VNI, or of `vni` alone. */
  neighRows(vni?: number): NeighRow[] {
    const rows: NeighRow[] = [];
    for (const net of this.networks.values()) {
      if (vni !== undefined && net.spec.vni !== vni) continue;
      for (const e of net.neigh.entries()) {
        const ip = e.family === FAMILY_IPV4 ? formatIpv4Addr(e.addr[0]) : formatIpv6Addr(e.addr);
        rows.push({ vni: net.spec.vni, ip, lladdr: formatMac(e.mac), dev: e.dev });
      }
    }
    return rows;
  }

  /** Accepts datagrams from this underlay address (with spec.trustedOnly); counted, so trust nests. */
  trust(addr: number): void {
    this.trusted.add(addr);
  }

  untrust(addr: number): void {
    this.trusted.remove(addr);
    this.resetFlows();
  }

  /** Stops forwarding and closes everything it opened; the TAPs disappear. */
  close(): void {
    this.capture.onActive = null;
    this.capture.close();
    // What the caches forwarded stays counted; stats after close read no cache.
    this.harvestFlows();
    this.flowsOn = false;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.udp?.close();
    for (const e of this.senders) e.close();
    for (const p of this.ports) p?.endpoint.close();
    this.udp = null;
    this.senders = [];
  }

  // ---- data path --------------------------------------------------------

  private onTap(port: Port, n: number, stopped: boolean, start: number, missed: boolean): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      this.rxErrors.report(port.name, n, stopped);
      return;
    }
    const now = performance.now();
    const rx = port.rx;
    const b = rx.slab;
    const lens = rx.lens;
    const net = port.network;
    const vni = net.vni;
    const fdb = net.fdb;
    const proxy = net.proxy;
    const counters = port.counters;
    const mirror = this.capture.active;
    const splitter = this.splitter;
    const headroom = rx.headroom;
    this.portMode = this.tapWrite;
    this.portHdrBack = headroom;
    // The frame the port's flow cache had no entry for: installed if it goes to one remote.
    const miss = missed ? start : -1;
    for (let i = start; i < n; i++) {
      const off = rx.offset(i);
      const len = lens[i];
      // A TSO super-frame: gso_type set in the virtio-net header at the slot's start.
      const tso = splitter !== null && b[off - headroom + 1] !== 0;
      counters[0]++;
      counters[1] += len;
      if (mirror) this.capture.frame(TAP_RX, b, off, len, vni, NO_REASON);
      if (len < ETH_HLEN) {
        this.dropFrame(DROP_TAP_RUNT, b, off, len, vni);
        continue;
      }
      const src = off + 6;
      if (!validSourceMac(b, src)) {
        this.dropFrame(DROP_BAD_SRC_MAC, b, off, len, vni);
        continue;
      }
      const code = fdb.learn(macHi(b, src), macLo(b, src), port.index, 0, now);
      if (code !== 0) this.countLearn(code);
      if (proxy !== null && !tso) {
        const reply = proxy.answer(b, off, len);
        if (reply > 0) {
          this.toPort(port, b, off, reply);
          continue;
        }
      }
      // To the wire through the splitter: a super-frame, and every frame after
      // one, so that none overtakes the segments sent after the batch.
      const split = tso || (splitter !== null && splitter.n > 0);
      if ((b[off] & 1) !== 0) {
        this.flood(port, b, off, len, split);
        continue;
      }
      const slot = fdb.find(macHi(b, off), macLo(b, off));
      if (slot < 0) {
        this.flood(port, b, off, len, split);
        continue;
      }
      const to = fdb.port[slot];
      if (to === NO_PORT) {
        if (split) {
          splitter!.push(off, len, fdb.remote[slot]); // split (or copied whole) after the batch
        } else {
          const vx = off - VXLAN_HLEN;
          const remote = fdb.remote[slot] >>> 0;
          writeVxlanHeader(b, vx, vni);
          const k = this.toWire(b, net, vx, len + VXLAN_HLEN, remote, flowHash(b, off, len));
          // Not IPv6 with the proxy on: a solicitation would take a ping's entry.
          if (i === miss && code <= LEARN_CREATED && (proxy === null || b[off + ETH_TYPE] === 0x08)) this.installToWire(port, b, off, len, k, remote);
        }
      } else if (to === port.index) {
        this.dropFrame(DROP_HAIRPIN, b, off, len, vni);
      } else if (net.isolated) {
        this.dropFrame(DROP_ISOLATED, b, off, len, vni);
      } else {
        this.toPort(this.ports[to]!, b, off, len);
      }
    }
    this.flushWire(b);
    if (splitter !== null) {
      this.splitNet = net;
      this.sendSegments(b, splitter, splitter.split(b, headroom, true, net.header), vni);
    }
    this.flushPorts(b);
    if (this.flowsStale) this.resetFlows();
  }

  /** Head-end replication of a frame from a local port; with `split`, to the flood list through the splitter. */
  private flood(from: Port, b: Buffer, off: number, len: number, split: boolean): void {
    const net = from.network;
    const ports = net.ports;
    const flood = net.flood;
    if (ports.length === 1 && flood.length === 0) {
      this.dropFrame(DROP_NO_DESTINATION, b, off, len, net.vni);
      return;
    }
    if (net.isolated && ports.length > 1) {
      // Withheld from the other local ports (there are some): only the overlay gets it.
      this.dropFrame(DROP_ISOLATED, b, off, len, net.vni);
      if (flood.length === 0) return;
    }
    net.counters[FLOODED]++;
    if (!net.isolated) for (let k = 0; k < ports.length; k++) if (ports[k] !== from) this.toPort(ports[k], b, off, len);
    if (flood.length === 0) return;
    if (split) {
      this.splitter!.push(off, len, FLOOD);
      return;
    }
    const vx = off - VXLAN_HLEN;
    writeVxlanHeader(b, vx, net.vni);
    const hash = flowHash(b, off, len);
    for (let k = 0; k < flood.length; k++) this.toWire(b, net, vx, len + VXLAN_HLEN, flood[k], hash);
  }

  /**
   * Queues VXLAN payload b[off, +len) for dst, from the source port the flow
   * hash picks; with gso > 0 it is a train of `packets` datagrams of gso bytes.
   */
  private toWire(b: Buffer, net: Network, off: number, len: number, dst: number, hash: number, gso = 0, packets = 1): number {
    const pool = this.pool;
    const k = pool === null ? 0 : pool.pick(hash);
    const sport = pool === null ? sourcePort(hash, this.srcMin, this.srcMax) : pool.ports[k];
    const q = this.sendqs[k];
    if (q.full) this.flushWire(b);
    const h = q.push(off, len, dst, this.localPort, gso);
    // The raw socket sends this header; a pool socket writes its own, and this one serves capture.
    writeOuterHeaders(q.hdr, h, this.local, dst, sport, this.localPort, gso > 0 ? gso : len);
    net.counters[TX_PACKETS] += packets;
    net.counters[TX_BYTES] += len - packets * VXLAN_HLEN;
    return k;
  }

  /** A train of split frame j to the frame's destination, or to every VTEP of its flood list. */
  protected sendTrain(s: TsoSplitter, j: number, off: number, len: number, gso: number, packets: number): void {
    const net = this.splitNet!;
    const hash = flowHash(s.out, off + VXLAN_HLEN, (gso > 0 ? gso : len) - VXLAN_HLEN);
    const tag = s.tag[j];
    if (tag !== FLOOD) {
      this.toWire(s.out, net, off, len, tag >>> 0, hash, gso, packets);
      return;
    }
    const flood = net.flood;
    for (let d = 0; d < flood.length; d++) this.toWire(s.out, net, off, len, flood[d], hash, gso, packets);
  }

  private toPort(port: Port, b: Buffer, off: number, len: number, gso = 0): void {
    if (!port.txq.push(off, len, gso)) {
      // Full (GRO trains fill it faster than one frame a datagram): write it out now.
      this.flushPort(port, b);
      port.txq.push(off, len, gso);
    }
    if (!port.dirty) {
      port.dirty = true;
      this.dirty[this.ndirty++] = port;
    }
  }

  protected flushWire(b: Buffer): void {
    const qs = this.sendqs;
    for (let k = 0; k < qs.length; k++) {
      const q = qs[k];
      const n = q.n;
      if (n === 0) continue;
      const failed = q.flush(this.senders[k], b) < n;
      if (failed) countSendFailures(this.drops, q.status, n);
      if (this.capture.active) this.mirrorSent(q, b, n, failed);
    }
  }

  /**
   * wire-tx for each datagram of the last send that went out (a GSO train
   * datagram by datagram); the drop point for each message that failed.
   */
  private mirrorSent(q: DatagramQueue, b: Buffer, n: number, failed: boolean): void {
    for (let i = 0; i < n; i++) {
      const e = failed ? q.status[i] : 0;
      const point = e === 0 ? WIRE_TX : DROP;
      const reason = e === 0 ? NO_REASON : sendDropReason(e);
      const h = i * HEADER_STRIDE;
      const gso = q.gso[i];
      if (gso === 0 || q.lens[i] <= gso) {
        this.capture.packet(point, q.hdr, h, b, q.offs[i], q.lens[i], reason);
        continue;
      }
      const sport = (q.hdr[h + 20] << 8) | q.hdr[h + 21];
      for (let o = 0; o < q.lens[i]; o += gso) {
        const len = Math.min(gso, q.lens[i] - o);
        writeOuterHeaders(this.mirrorHdr, 0, this.local, q.addrs[i], sport, this.localPort, len);
        this.capture.packet(point, this.mirrorHdr, 0, b, q.offs[i] + o, len, reason);
      }
    }
  }

  /** Writes every TAP queue the batch filled. */
  private flushPorts(b: Buffer): void {
    for (let k = 0; k < this.ndirty; k++) {
      const port = this.dirty[k];
      port.dirty = false;
      this.flushPort(port, b);
    }
    this.ndirty = 0;
  }

  /** Writes one TAP queue; the batch's `portMode`/`portHdrBack` place the virtio-net headers. */
  private flushPort(port: Port, b: Buffer): void {
    port.counters[2] += this.flushDevice(port.txq, port.endpoint, b, this.portMode, this.portHdrBack, port.network.vni);
  }

  protected override beginWireBatch(): void {
    this.now = performance.now();
    this.portMode = this.wireWrite;
    this.portHdrBack = 0;
  }

  /** One VXLAN datagram around a USO super-frame that the sender's GRO cut into seg-byte payloads. */
  protected override oneDatagram(b: Buffer, off: number, len: number): boolean {
    return ipFrameLength(b, off + VXLAN_HLEN, len - VXLAN_HLEN) === len - VXLAN_HLEN;
  }

  protected endWireBatch(b: Buffer): void {
    this.flushPorts(b);
    if (this.flowsStale) this.resetFlows();
  }

  /**
   * One VXLAN datagram, b[off, +len), from datagram i of the batch; an inner
   * UDP super-frame's datagrams carry udpSize bytes each.
   */
  protected fromWire(b: Buffer, off: number, len: number, i: number, udpSize: number): void {
    const src4 = this.udpRx!.addrs[i];
    const err = vxlanCheck(b, off, len, this.ignoreReserved);
    if (err !== 0) {
      this.dropDatagram(err === VXLAN_ERR_NO_I_FLAG ? DROP_NO_I_FLAG : err === VXLAN_ERR_RESERVED ? DROP_RESERVED_BITS : DROP_TRUNCATED, b, off, len, i);
      return;
    }
    const net = this.networks.get(getVni(b, off));
    if (net === undefined) {
      this.dropDatagram(DROP_UNKNOWN_VNI, b, off, len, i);
      return;
    }
    const inner = off + VXLAN_HLEN;
    const innerLen = len - VXLAN_HLEN;
    if (innerLen < ETH_HLEN) {
      this.dropDatagram(DROP_INNER_RUNT, b, off, len, i);
      return;
    }
    // RFC 7348 section 6.1: "Decapsulated VXLAN frames with the inner VLAN
    // tag SHOULD be discarded unless configured otherwise."
    if (!net.allowInnerVlan && isVlanType((b[inner + ETH_TYPE] << 8) | b[inner + ETH_TYPE + 1])) {
      this.dropDatagram(DROP_INNER_VLAN, b, off, len, i);
      return;
    }
    const src = inner + 6;
    if (!validSourceMac(b, src)) {
      this.dropDatagram(DROP_BAD_SRC_MAC, b, off, len, i);
      return;
    }
    net.counters[RX_PACKETS]++;
    net.counters[RX_BYTES] += innerLen;
    const fdb = net.fdb;
    const code = net.learning ? fdb.learn(macHi(b, src), macLo(b, src), NO_PORT, src4, this.now) : 0;
    if (code !== 0) this.countLearn(code);
    const slot = (b[inner] & 1) !== 0 ? -1 : fdb.find(macHi(b, inner), macLo(b, inner));
    if (slot < 0) {
      const ports = net.ports;
      if (ports.length === 0) this.dropDatagram(DROP_NO_DESTINATION, b, off, len, i);
      for (let k = 0; k < ports.length; k++) this.wireToPort(ports[k], b, inner, innerLen, udpSize);
      return;
    }
    const to = fdb.port[slot];
    if (to === NO_PORT) {
      this.dropDatagram(DROP_REMOTE_DST, b, off, len, i);
      return;
    }
    const port = this.ports[to]!;
    this.wireToPort(port, b, inner, innerLen, udpSize);
    if (i === this.wireMiss && code <= LEARN_CREATED && udpSize === 0 && innerLen <= port.maxFrame) this.installToDevice(b, off, len, src4, port);
  }

  /** A decapsulated frame to a port; a super-frame goes with its segment size for the port's MTU. */
  private wireToPort(port: Port, b: Buffer, off: number, len: number, udpSize: number): void {
    this.toPort(port, b, off, len, len > port.maxFrame ? superFrameSegment(b, off, port.mtu, udpSize) : 0);
  }

  private countLearn(code: number): void {
    this.learning[code - 1]++;
    if (code === LEARN_MOVED) this.flowsStale = true;
  }

  private sweep(): void {
    this.harvestFlows(); // the cached flows' sources were seen too
    const now = performance.now();
    let aged = 0;
    for (const net of this.networks.values()) aged += net.fdb.sweep(now, net.spec.ageingSec * 1000);
    if (aged > 0) this.resetFlows();
  }

  // ---- flow caches ----------------------------------------------------------
  //
  // A TAP's cache sends frames to a remote VTEP through a pool socket; the
  // underlay socket's cache writes frames to a TAP. An entry is installed for
  // a packet the batch handler has just forwarded so, where the next packet
  // with its key (native/src/flows.h) would go the same way and count the
  // same: not for a flood, a split, a learning outcome other than a refresh
  // or a new entry, or a GRO train. The caches are emptied whenever such a
  // decision may change: an FDB entry moves, ages out or is changed by the
  // control plane, a port goes, a sender is no longer trusted. What the
  // entries forwarded is harvested into the counters and the FDB's ageing
  // before stats, FDB listings, sweeps and every emptying.

  /** Turns the caches on or off as spec.flowCache and capture say, empty either way. */
  private setFlows(): void {
    this.harvestFlows();
    this.flowsStale = false;
    this.flowsOn = this.spec.flowCache !== false && !this.capture.active && this.udp !== null;
    if (this.udp === null) return;
    this.udp.flowEnable(this.flowsOn);
    // A TAP's entries send through a pool socket, which writes the outer headers itself.
    for (const p of this.ports) p?.endpoint.flowEnable(this.flowsOn && this.pool !== null);
  }

  private resetFlows(): void {
    if (!this.flowsOn) return;
    this.setFlows();
    this.flowCounters[FLOW_RESETS]++;
  }

  private harvestFlows(): void {
    if (!this.flowsOn) return;
    const r = this.flowRecords;
    const now = performance.now();
    for (const p of this.ports) {
      if (p === undefined) continue;
      const n = p.endpoint.flowHarvest(r);
      for (let k = 0; k < n; k++) this.tapFlowDone(p, r, k * FLOW_RECORD, now);
    }
    const n = this.udp!.flowHarvest(r);
    for (let k = 0; k < n; k++) this.wireFlowDone(r, k * FLOW_RECORD, now);
  }

  private installToWire(port: Port, b: Buffer, off: number, len: number, k: number, remote: number): void {
    const r = port.endpoint.flowToWire(b, off, len, k, this.senders[k], remote, this.localPort, port.network.vni, port.index, this.evicted);
    if (r > 0) this.flowCounters[FLOW_INSTALLS]++;
    if (r === 2) {
      this.flowCounters[FLOW_EVICTIONS]++;
      this.tapFlowDone(port, this.evicted, 0, performance.now());
    }
  }

  private installToDevice(b: Buffer, off: number, len: number, src4: number, port: Port): void {
    const r = this.udp!.flowToDevice(b, off, len, src4, port.index, port.endpoint, this.wireWrite, port.maxFrame, port.index, this.evicted);
    if (r > 0) this.flowCounters[FLOW_INSTALLS]++;
    if (r === 2) {
      this.flowCounters[FLOW_EVICTIONS]++;
      this.wireFlowDone(this.evicted, 0, performance.now());
    }
  }

  /** What an entry of port p's cache sent to the wire, record r[o, +FLOW_RECORD): counted as onTap counts, its source seen. */
  private tapFlowDone(p: Port, r: Float64Array, o: number, now: number): void {
    const packets = r[o + 4];
    const bytes = r[o + 5];
    const net = p.network;
    p.counters[0] += packets;
    p.counters[1] += bytes;
    net.counters[TX_PACKETS] += packets;
    net.counters[TX_BYTES] += bytes;
    net.fdb.refresh(r[o + 1], r[o + 2] | 0, p.index, 0, now);
    this.flowCounters[FLOW_PACKETS] += packets;
  }

  /** What an entry of the underlay socket's cache wrote to port r[o] (its tag): counted as fromWire counts, its source seen. */
  private wireFlowDone(r: Float64Array, o: number, now: number): void {
    const p = this.ports[r[o]];
    if (p === undefined) return; // gone, and its entries with it
    const packets = r[o + 4];
    const net = p.network;
    net.counters[RX_PACKETS] += packets;
    net.counters[RX_BYTES] += r[o + 5];
    p.counters[2] += packets;
    if (net.learning) net.fdb.refresh(r[o + 1], r[o + 2] | 0, NO_PORT, r[o + 3], now);
    this.flowCounters[FLOW_PACKETS] += packets;
  }

  // ---- control plane views -----------------------------------------------

  fdbRows(): FdbRow[] {
    this.harvestFlows();
    const now = performance.now();
    const rows: FdbRow[] = [];
    for (const net of this.networks.values()) {
      for (const e of net.fdb.entries(now)) {
        rows.push({
          vni: net.spec.vni,
          mac: formatMac(e.mac),
          ...(e.port === NO_PORT ? { dst: formatIpv4Addr(e.remote) } : { dev: this.ports[e.port]!.name }),
          static: e.isStatic,
          ageSec: Math.round(e.ageMs / 100) / 10,
        });
      }
      for (const r of net.flood) {
        rows.push({ vni: net.spec.vni, mac: '00:00:00:00:00:00', dst: formatIpv4Addr(r), static: true, ageSec: 0 });
      }
    }
    return rows;
  }

  stats(): object {
    this.harvestFlows();
    const vnis: Record<string, object> = {};
    for (const net of this.networks.values()) {
      const c = net.counters;
      const proxy: Record<string, number> = {};
      PROXY_COUNTER_NAMES.forEach((name, k) => (proxy[name] = net.proxyCounters[k]));
      vnis[net.spec.vni] = {
        rx_packets: c[RX_PACKETS], rx_bytes: c[RX_BYTES], tx_packets: c[TX_PACKETS], tx_bytes: c[TX_BYTES],
        flooded: c[FLOODED], fdb_entries: net.fdb.size, neigh_entries: net.neigh.size, proxy,
      };
    }
    const ports: Record<string, object> = {};
    let partials = 0;
    for (const p of this.byName.values()) {
      const c = p.counters;
      const partial = p.endpoint.partialChecksums;
      partials += partial;
      ports[p.name] = { vni: p.network.spec.vni, rx_packets: c[0], rx_bytes: c[1], tx_packets: c[2], partial_csums: partial };
    }
    const learning: Record<string, number> = {};
    LEARN_NAMES.forEach((name, k) => (learning[name] = this.learning[k]));
    return {
      vnis, ports, drops: dropsToRecord(this.drops), learning, partial_csums: partials, offloads: this.offloads,
      rx_stopped: this.rxErrors.stopped, capture: this.capture.stats(),
      flow_cache: {
        packets: this.flowCounters[FLOW_PACKETS], installs: this.flowCounters[FLOW_INSTALLS],
        evictions: this.flowCounters[FLOW_EVICTIONS], resets: this.flowCounters[FLOW_RESETS],
      },
    };
  }

  portNames(): string[] {
    return [...this.byName.keys()];
  }
}

function linkOf(ps: PortSpec): LinkSettings {
  return { mtu: ps.mtu, address: ps.address, mac: ps.mac, up: true };
}

/** A source MAC can be learned: not multicast/broadcast, not all zeros (the bridge's is_valid_ether_addr). */
function validSourceMac(b: Buffer, off: number): boolean {
  return (b[off] & 1) === 0 && !isZeroMac(b, off);
}
