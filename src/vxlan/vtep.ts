// The VXLAN data path: TAP ports and an underlay UDP socket, switched through
// one FDB per VNI.
//
//   TAP rx batch -> learn source on the port -> FDB lookup by destination
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
// Capture: `capture.active` is read once per batch (or flush); while no
// capture is attached that check is all the mirroring costs. Every drop goes
// through dropFrame/dropDatagram, which count it and mirror it to the drop
// point in the form it had when dropped: a TAP frame, the received datagram
// (behind its outer headers), the frame bound for a TAP, or the packet that
// could not be sent.
import { CaptureHub } from '../capture/hub.js';
import { NeighbourTable } from '../capture/neighbours.js';
import { DROP, NO_REASON, TAP_RX, TAP_TX, WIRE_RX, WIRE_TX } from '../capture/points.js';
import {
  DROP_BAD_SRC_MAC, DROP_HAIRPIN, DROP_INNER_RUNT, DROP_INNER_VLAN, DROP_NO_DESTINATION, DROP_NO_I_FLAG,
  DROP_OVERSIZE, DROP_REMOTE_DST, DROP_RESERVED_BITS, DROP_RX_ERROR, DROP_TAP_BUSY, DROP_TAP_RUNT, DROP_TRUNCATED,
  DROP_UNKNOWN_VNI, countSendFailures, dropsToRecord, newDropCounters, sendDropReason,
} from '../dataplane/drops.js';
import { configureLink, openDevice } from '../io/device.js';
import type { NativeEndpoint } from '../io/native.js';
import { HEADROOM, type RxBatch, SlabPool, slotSizeFor } from '../io/pool.js';
import { DatagramQueue, FrameQueue, HEADER_STRIDE } from '../io/queues.js';
import { openRawSocket, openUdpSocket } from '../io/socket.js';
import { Fdb, NO_PORT } from '../switch/fdb.js';
import { ETH_HLEN, ETH_TYPE, VLAN_HLEN, isVlanType } from '../wire/ethernet.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, isZeroMac, macHi, macLo, macNumberHi, macNumberLo } from '../wire/mac.js';
import {
  VXLAN_ERR_NO_I_FLAG, VXLAN_ERR_RESERVED, VXLAN_HLEN, getVni, vxlanCheck, writeVxlanHeader,
} from '../wire/vxlan.js';
import { OUTER_HLEN, writeOuterHeaders } from './encap.js';
import { flowHash, sourcePort } from './flowhash.js';

/** wireguard-go's IdealBatchSize: packets per native call. */
export const BATCH = 128;
/** Messages the underlay send queue holds before it is flushed mid-batch. */
const SEND_QUEUE = 1024;
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
  ageingSec: number;
  /** FDB size cap (0: none), like the kernel's maxaddress. */
  maxAddress: number;
  allowInnerVlan: boolean;
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
  networks: NetworkSpec[];
}

// Per-VNI counters, indexes into Network.counters.
const RX_PACKETS = 0;
const RX_BYTES = 1;
const TX_PACKETS = 2;
const TX_BYTES = 3;
const FLOODED = 4;

// Learning outcomes other than a refresh, indexed by LEARN_* code - 1.
const LEARN_NAMES = ['created', 'moved', 'refused_static', 'refused_full'] as const;

class Port {
  readonly txq = new FrameQueue(BATCH);
  /** rx/tx packets and bytes, as seen from the TAP (rx = read from it). */
  readonly counters = new Float64Array(4);
  dirty = false;

  constructor(
    readonly index: number,
    readonly name: string,
    readonly endpoint: NativeEndpoint,
    readonly rx: RxBatch,
    readonly network: Network,
  ) {}
}

class Network {
  readonly fdb: Fdb;
  readonly flood: Uint32Array;
  readonly ports: Port[] = [];
  readonly counters = new Float64Array(5);

  constructor(readonly spec: NetworkSpec) {
    this.fdb = new Fdb(spec.maxAddress);
    this.flood = Uint32Array.from(spec.remotes);
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

export class Vtep {
  readonly drops = newDropCounters();
  readonly capture: CaptureHub;
  readonly learning = new Float64Array(LEARN_NAMES.length);
  private readonly networks = new Map<number, Network>();
  private readonly ports: Port[] = [];
  private readonly dirty: Port[] = [];
  private ndirty = 0;
  private readonly sendq = new DatagramQueue(SEND_QUEUE, OUTER_HLEN);
  private udp: NativeEndpoint | null = null;
  private raw: NativeEndpoint | null = null;
  private udpRx: RxBatch | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly local: number;
  private readonly dstPort: number;
  private readonly srcMin: number;
  private readonly srcMax: number;

  constructor(readonly spec: VtepSpec) {
    this.local = spec.local;
    this.dstPort = spec.dstPort;
    this.srcMin = spec.srcPortMin;
    this.srcMax = spec.srcPortMax;
    this.capture = new CaptureHub(spec.dstPort, new NeighbourTable(spec.local));
  }

  /** Opens sockets and devices, programs the FDB and starts forwarding. */
  start(): void {
    try {
      this.open();
    } catch (e) {
      this.close();
      throw e;
    }
  }

  private open(): void {
    const spec = this.spec;
    let maxMtu = 0;
    for (const n of spec.networks) for (const p of n.ports) maxMtu = Math.max(maxMtu, p.mtu);
    const portSlot = slotSizeFor(HEADROOM, ETH_HLEN + VLAN_HLEN + maxMtu);
    const udpSlot = slotSizeFor(0, VXLAN_HLEN + ETH_HLEN + VLAN_HLEN + maxMtu);
    const nports = spec.networks.reduce((a, n) => a + n.ports.length, 0);
    const pool = new SlabPool(BATCH * (portSlot * nports + udpSlot));

    this.raw = openRawSocket();
    this.udp = openUdpSocket(formatIpv4Addr(this.local), this.dstPort, 'local');
    this.udpRx = pool.batch(udpSlot, 0, BATCH);

    for (const ns of spec.networks) {
      const net = new Network(ns);
      this.networks.set(ns.vni, net);
      for (const ps of ns.ports) {
        const dev = openDevice(ps.dev, { tap: true });
        const port = new Port(this.ports.length, dev.name, dev.endpoint, pool.batch(portSlot, HEADROOM, BATCH), net);
        this.ports.push(port);
        net.ports.push(port);
        configureLink(dev.name, { mtu: ps.mtu, address: ps.address, mac: ps.mac, up: true });
      }
      for (const s of ns.statics) {
        const port = s.dev === undefined ? NO_PORT : net.ports.findIndex((p) => p.name === s.dev);
        const index = port === NO_PORT ? NO_PORT : net.ports[port].index;
        if (!net.fdb.addStatic(macNumberHi(s.mac), macNumberLo(s.mac), index, s.remote ?? 0)) {
          throw new Error(`vni ${ns.vni}: static entry ${formatMac(s.mac)} exceeds maxaddress ${ns.maxAddress}`);
        }
      }
    }
    this.dirty.length = this.ports.length;

    const udpRx = this.udpRx;
    this.udp.startRx(udpRx.slab, udpRx.slotSize, udpRx.headroom, udpRx.budget, udpRx.lens, udpRx.addrs, udpRx.ports, null,
      (n) => this.onWire(n));
    for (const port of this.ports) {
      const rx = port.rx;
      port.endpoint.startRx(rx.slab, rx.slotSize, rx.headroom, rx.budget, rx.lens, null, null, null,
        (n) => this.onTap(port, n));
    }
    const ageing = Math.min(...spec.networks.map((n) => n.ageingSec)) * 1000;
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(100, Math.min(SWEEP_MS, ageing / 4)));
    this.sweepTimer.unref();
  }

  /** Stops forwarding and closes everything it opened; the TAPs disappear. */
  close(): void {
    this.capture.close();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.udp?.close();
    this.raw?.close();
    for (const p of this.ports) p.endpoint.close();
    this.udp = this.raw = null;
  }

  // ---- data path --------------------------------------------------------

  private onTap(port: Port, n: number): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      return;
    }
    const now = performance.now();
    const rx = port.rx;
    const b = rx.slab;
    const lens = rx.lens;
    const net = port.network;
    const vni = net.spec.vni;
    const fdb = net.fdb;
    const counters = port.counters;
    const mirror = this.capture.active;
    for (let i = 0; i < n; i++) {
      const off = rx.offset(i);
      const len = lens[i];
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
      if ((b[off] & 1) !== 0) {
        this.flood(port, b, off, len);
        continue;
      }
      const slot = fdb.find(macHi(b, off), macLo(b, off));
      if (slot < 0) {
        this.flood(port, b, off, len);
        continue;
      }
      const to = fdb.port[slot];
      if (to === NO_PORT) {
        const vx = off - VXLAN_HLEN;
        writeVxlanHeader(b, vx, vni);
        this.toWire(b, net, vx, len + VXLAN_HLEN, fdb.remote[slot] >>> 0, sourcePort(flowHash(b, off, len), this.srcMin, this.srcMax));
      } else if (to === port.index) {
        this.dropFrame(DROP_HAIRPIN, b, off, len, vni);
      } else {
        this.toPort(this.ports[to], b, off, len);
      }
    }
    this.flushWire(b);
    this.flushPorts(b);
  }

  /** Head-end replication of a frame from a local port. */
  private flood(from: Port, b: Buffer, off: number, len: number): void {
    const net = from.network;
    const ports = net.ports;
    const flood = net.flood;
    if (ports.length === 1 && flood.length === 0) {
      this.dropFrame(DROP_NO_DESTINATION, b, off, len, net.spec.vni);
      return;
    }
    net.counters[FLOODED]++;
    for (let k = 0; k < ports.length; k++) if (ports[k] !== from) this.toPort(ports[k], b, off, len);
    if (flood.length === 0) return;
    const vx = off - VXLAN_HLEN;
    writeVxlanHeader(b, vx, net.spec.vni);
    const sport = sourcePort(flowHash(b, off, len), this.srcMin, this.srcMax);
    for (let k = 0; k < flood.length; k++) this.toWire(b, net, vx, len + VXLAN_HLEN, flood[k], sport);
  }

  private toWire(b: Buffer, net: Network, off: number, len: number, dst: number, sport: number): void {
    const q = this.sendq;
    if (q.full) this.flushWire(b);
    const h = q.push(off, len, dst, 0);
    writeOuterHeaders(q.hdr, h, this.local, dst, sport, this.dstPort, len);
    net.counters[TX_PACKETS]++;
    net.counters[TX_BYTES] += len - VXLAN_HLEN;
  }

  private toPort(port: Port, b: Buffer, off: number, len: number): void {
    if (!port.txq.push(off, len)) {
      this.dropFrame(DROP_TAP_BUSY, b, off, len, port.network.spec.vni);
      return;
    }
    if (!port.dirty) {
      port.dirty = true;
      this.dirty[this.ndirty++] = port;
    }
  }

  private flushWire(b: Buffer): void {
    const q = this.sendq;
    const n = q.n;
    if (n === 0 || this.raw === null) return;
    const failed = q.flush(this.raw, b) < n;
    if (failed) countSendFailures(this.drops, q.status, n);
    if (this.capture.active) this.mirrorSent(b, n, failed);
  }

  /** wire-tx for each message of the last send that went out; the drop point for each that failed. */
  private mirrorSent(b: Buffer, n: number, failed: boolean): void {
    const q = this.sendq;
    for (let i = 0; i < n; i++) {
      const e = failed ? q.status[i] : 0;
      this.capture.packet(e === 0 ? WIRE_TX : DROP, q.hdr, i * HEADER_STRIDE, b, q.offs[i], q.lens[i], e === 0 ? NO_REASON : sendDropReason(e));
    }
  }

  private flushPorts(b: Buffer): void {
    for (let k = 0; k < this.ndirty; k++) {
      const port = this.dirty[k];
      port.dirty = false;
      const queued = port.txq.n;
      let sent = queued;
      const lost = port.txq.flush(port.endpoint, b);
      if (this.capture.active) this.mirrorWritten(port, b, queued - lost, queued);
      if (lost > 0) {
        this.drops[DROP_TAP_BUSY] += lost;
        sent -= lost;
      }
      port.counters[2] += sent;
    }
    this.ndirty = 0;
  }

  /**
   * tap-tx for the frames of the last write that went out, the drop point for
   * the rest: writeFrames stops at the first EAGAIN, so those are the tail.
   */
  private mirrorWritten(port: Port, b: Buffer, written: number, queued: number): void {
    const { offs, lens } = port.txq;
    const vni = port.network.spec.vni;
    for (let i = 0; i < queued; i++) {
      if (i < written) this.capture.frame(TAP_TX, b, offs[i], lens[i], vni, NO_REASON);
      else this.capture.frame(DROP, b, offs[i], lens[i], vni, DROP_TAP_BUSY);
    }
  }

  private onWire(n: number): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      return;
    }
    const now = performance.now();
    const rx = this.udpRx!;
    const b = rx.slab;
    const lens = rx.lens;
    const addrs = rx.addrs;
    const cap = rx.capacity;
    const ignoreReserved = this.spec.ignoreReserved;
    const mirror = this.capture.active;
    for (let i = 0; i < n; i++) {
      const off = rx.offset(i);
      const len = lens[i];
      // A datagram cut off at the slot size is mirrored as far as it was received.
      if (mirror) this.capture.datagram(WIRE_RX, b, off, len > cap ? cap : len, addrs[i], rx.ports[i], this.local, this.dstPort, NO_REASON);
      if (len > cap) {
        this.dropDatagram(DROP_OVERSIZE, b, off, cap, i);
        continue;
      }
      const err = vxlanCheck(b, off, len, ignoreReserved);
      if (err !== 0) {
        this.dropDatagram(err === VXLAN_ERR_NO_I_FLAG ? DROP_NO_I_FLAG : err === VXLAN_ERR_RESERVED ? DROP_RESERVED_BITS : DROP_TRUNCATED, b, off, len, i);
        continue;
      }
      const net = this.networks.get(getVni(b, off));
      if (net === undefined) {
        this.dropDatagram(DROP_UNKNOWN_VNI, b, off, len, i);
        continue;
      }
      const inner = off + VXLAN_HLEN;
      const innerLen = len - VXLAN_HLEN;
      if (innerLen < ETH_HLEN) {
        this.dropDatagram(DROP_INNER_RUNT, b, off, len, i);
        continue;
      }
      // RFC 7348 section 6.1: "Decapsulated VXLAN frames with the inner VLAN
      // tag SHOULD be discarded unless configured otherwise."
      if (!net.spec.allowInnerVlan && isVlanType((b[inner + ETH_TYPE] << 8) | b[inner + ETH_TYPE + 1])) {
        this.dropDatagram(DROP_INNER_VLAN, b, off, len, i);
        continue;
      }
      const src = inner + 6;
      if (!validSourceMac(b, src)) {
        this.dropDatagram(DROP_BAD_SRC_MAC, b, off, len, i);
        continue;
      }
      net.counters[RX_PACKETS]++;
      net.counters[RX_BYTES] += innerLen;
      const fdb = net.fdb;
      if (net.spec.learning) {
        const code = fdb.learn(macHi(b, src), macLo(b, src), NO_PORT, addrs[i], now);
        if (code !== 0) this.countLearn(code);
      }
      const slot = (b[inner] & 1) !== 0 ? -1 : fdb.find(macHi(b, inner), macLo(b, inner));
      if (slot < 0) {
        const ports = net.ports;
        if (ports.length === 0) this.dropDatagram(DROP_NO_DESTINATION, b, off, len, i);
        for (let k = 0; k < ports.length; k++) this.toPort(ports[k], b, inner, innerLen);
        continue;
      }
      const to = fdb.port[slot];
      if (to === NO_PORT) this.dropDatagram(DROP_REMOTE_DST, b, off, len, i);
      else this.toPort(this.ports[to], b, inner, innerLen);
    }
    this.flushPorts(b);
  }

  /** Counts a drop of an Ethernet frame from or for a TAP; a capture gets the frame. */
  private dropFrame(reason: number, b: Buffer, off: number, len: number, vni: number): void {
    this.drops[reason]++;
    if (this.capture.active) this.capture.frame(DROP, b, off, len, vni, reason);
  }

  /** Counts a drop of received datagram i; a capture gets it behind its outer headers. */
  private dropDatagram(reason: number, b: Buffer, off: number, len: number, i: number): void {
    this.drops[reason]++;
    const rx = this.udpRx!;
    if (this.capture.active) this.capture.datagram(DROP, b, off, len, rx.addrs[i], rx.ports[i], this.local, this.dstPort, reason);
  }

  private countLearn(code: number): void {
    this.learning[code - 1]++;
  }

  private sweep(): void {
    const now = performance.now();
    for (const net of this.networks.values()) net.fdb.sweep(now, net.spec.ageingSec * 1000);
  }

  // ---- control plane views -----------------------------------------------

  fdbRows(): FdbRow[] {
    const now = performance.now();
    const rows: FdbRow[] = [];
    for (const net of this.networks.values()) {
      for (const e of net.fdb.entries(now)) {
        rows.push({
          vni: net.spec.vni,
          mac: formatMac(e.mac),
          ...(e.port === NO_PORT ? { dst: formatIpv4Addr(e.remote) } : { dev: this.ports[e.port].name }),
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
    const vnis: Record<string, object> = {};
    for (const net of this.networks.values()) {
      const c = net.counters;
      vnis[net.spec.vni] = {
        rx_packets: c[RX_PACKETS], rx_bytes: c[RX_BYTES], tx_packets: c[TX_PACKETS], tx_bytes: c[TX_BYTES],
        flooded: c[FLOODED], fdb_entries: net.fdb.size,
      };
    }
    const ports: Record<string, object> = {};
    for (const p of this.ports) {
      const c = p.counters;
      ports[p.name] = { vni: p.network.spec.vni, rx_packets: c[0], rx_bytes: c[1], tx_packets: c[2] };
    }
    const learning: Record<string, number> = {};
    LEARN_NAMES.forEach((name, k) => (learning[name] = this.learning[k]));
    return { vnis, ports, drops: dropsToRecord(this.drops), learning, capture: this.capture.stats() };
  }

  portNames(): string[] {
    return this.ports.map((p) => p.name);
  }
}

/** A source MAC can be learned: not multicast/broadcast, not all zeros (the bridge's is_valid_ether_addr). */
function validSourceMac(b: Buffer, off: number): boolean {
  return (b[off] & 1) === 0 && !isZeroMac(b, off);
}
