// Typed face of the native addon (native/src). Everything here is thin: the
// addon makes syscalls in batches; policy stays in TypeScript.
import { createRequire } from 'node:module';
import { existsSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Endpoint kinds; they pick the syscalls (read/write, recvmmsg/sendmmsg). */
export const enum Kind {
  Device = 0,
  Datagram = 1,
  Raw = 2,
}

/**
 * Every entry point checks its arguments before it touches a byte: a wrong
 * type (a Uint16Array where a Uint32Array is due, a fraction, a negative
 * number) or an offset, length or count beyond the buffers it is given
 * throws a TypeError. Those are programmer errors; syscall failures throw an
 * Error with the errno name as .code (SysError), and per-packet failures are
 * reported in status arrays, never thrown.
 */
export interface NativeEndpoint {
  readonly fd: number;
  /**
   * Polls the descriptor on the JS thread. On readiness, reads up to `budget`
   * packets, packet i into slab[i*slotSize + headroom ...], its length into
   * lens[i] (cap+1 if a datagram was cut off) and, for datagram sockets, its
   * source into addrs[i]/ports[i] and its UDP GRO segment size into segs[i]
   * (0: a single datagram); then calls cb(n, false) once. On a vnet
   * device each frame's virtio-net header sits at the start of its slot,
   * `headroom` bytes before the frame.
   *
   * n < 0 is -errno of a failed read, or of a poll error (POLLERR: a UDP
   * socket's pending error, which the read clears; EBADFD from a TAP/TUN
   * whose device was deleted). Receiving goes on after a transient error.
   * It stops, and cb gets stopped = true, when the descriptor can never be
   * read again (EBADF, EBADFD, ENODEV, ENXIO) or after 64 poll errors with no
   * packet in between; startRx may then be called again.
   *
   * With a flow cache (flowEnable), the packets from the first on that have
   * an entry are forwarded before cb runs, and cb gets the rest: packets
   * [start, n), where `missed` says that packet `start` has a key the cache
   * has no entry for. cb is not called when the cache forwarded them all.
   */
  startRx(
    slab: Buffer, slotSize: number, headroom: number, budget: number,
    lens: Uint32Array, addrs: Uint32Array | null, ports: Uint16Array | null, segs: Uint16Array | null,
    cb: (n: number, stopped: boolean, start: number, missed: boolean) => void,
  ): void;
  /**
   * Writes frames buf[offs[i], +lens[i]) for i < n; returns how many were
   * written. status[i] becomes 0, or the errno of a frame not written:
   * EAGAIN for the frame that found the device queue full and all after it,
   * another errno (EIO: the device is down; EINVAL: it refused the frame) for
   * a frame lost on its own. In InBuffer mode each frame's header is `hdrBack` bytes before it.
   * A TCP/UDP checksum a kernel sender left partial is finished, or (vnet
   * devices) handed over with NEEDS_CSUM. Frame i with gso[i] > 0 is a TSO
   * or USO super-frame from the wire, to be cut into gso[i]-byte payloads:
   * by a vnet device, or here for a plain one.
   */
  writeFrames(
    buf: Buffer, offs: Uint32Array, lens: Uint32Array, n: number, mode: WriteMode, hdrBack: number, gso: Uint16Array | null,
    status: Int32Array,
  ): number;
  /**
   * Sends message i = hdr[i*hdrStride, +hdrLen) ++ payload[offs[i], +lens[i])
   * to addrs[i]:ports[i]; status[i] becomes 0 or the errno. A message longer
   * than gso[i] > 0 goes as one UDP GSO send. Returns the number sent.
   */
  sendDatagrams(
    hdr: Buffer | null, hdrStride: number, hdrLen: number,
    payload: Buffer, offs: Uint32Array, lens: Uint32Array,
    addrs: Uint32Array, ports: Uint16Array, n: number, status: Int32Array, gso?: Uint16Array | null,
  ): number;
  close(): void;
  /**
   * Keeps a new, empty flow cache (on) or none (off); the old one's entries
   * go either way, counts not harvested with them. See native/src/flows.h.
   */
  flowEnable(on: boolean): void;
  /**
   * Device endpoints: frames with the key of frame buf[off, +len) go to
   * addr:port (host order) through `out`, a UDP socket known as output
   * `outIdx`, behind a VXLAN header for `vni`; their counts are recorded
   * under `tag`. Returns 0 when the frame has no key (or there is no cache),
   * 1 when installed, 2 when installed in the place of an entry whose
   * record (FLOW_RECORD numbers) is now in `evicted`.
   */
  flowToWire(
    buf: Buffer, off: number, len: number, outIdx: number, out: NativeEndpoint, addr: number, port: number, vni: number,
    tag: number, evicted: Float64Array,
  ): number;
  /**
   * Datagram endpoints: VXLAN datagrams from `src` with the key of
   * buf[off, +len) have their inner frame written to device `out` (output
   * `outIdx`) in `mode`, when it is at most maxLen bytes. Returns as flowToWire.
   */
  flowToDevice(
    buf: Buffer, off: number, len: number, src: number, outIdx: number, out: NativeEndpoint, mode: WriteMode, maxLen: number,
    tag: number, evicted: Float64Array,
  ): number;
  /** Writes a record (FLOW_RECORD numbers) per entry that forwarded packets since the last harvest; returns how many. */
  flowHarvest(out: Float64Array): number;
  /** Frames written whose partial TCP/UDP checksum was finished, or handed to the device to finish. */
  readonly partialChecksums: number;
}

/** How writeFrames treats a vnet device's virtio-net headers. */
export const enum WriteMode {
  /** Device without IFF_VNET_HDR. */
  Plain = 0,
  /** Each frame's header is hdrBack bytes before it (frames read from a vnet device). */
  InBuffer = 1,
  /** Headers are built, and consecutive TCP/IPv4 segments merged into super-frames (GRO). */
  Coalesce = 2,
  /** As Coalesce, and equal-size UDP/IPv4 datagrams of a flow too (for devices with USO). */
  CoalesceUdp = 3,
}

/**
 * A flow cache record: tag, source MAC (high 16 bits, low 32 bits unsigned),
 * address, packets, bytes. A cache has at most FLOW_ENTRIES entries.
 */
export const FLOW_RECORD = 6;
export const FLOW_ENTRIES = 256;

/** TUNSETOFFLOAD flags (linux/if_tun.h). */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;
/** openUdp flag: DF set, EMSGSIZE instead of fragments (RFC 7348: never fragment). */
export const UDP_DONT_FRAGMENT = 2;
/** openUdp flag: SO_REUSEPORT, one socket per queue on a shared port. */
export const UDP_REUSE_PORT = 4;

interface Addon {
  openTun(name: string, tap: boolean, vnetHdr: boolean, multiQueue: boolean): { fd: number; name: string };
  /** flags: UDP_DONT_FRAGMENT | UDP_REUSE_PORT. */
  openUdp(ip: string, port: number, rcvbuf: number, sndbuf: number, flags?: number): number;
  openRaw(sndbuf: number): number;
  /** A connected, non-blocking AF_UNIX datagram pair: each end reads and writes whole frames, as a TAP's descriptor does. */
  socketPair(): [number, number];
  /** TUNSETOFFLOAD; returns 0 or the errno. */
  setOffload(fd: number, flags: number): number;
  /** UDP_GRO on/off, or a UDP_SEGMENT probe ('gso', 0); returns 0 or the errno. */
  setUdpOption(fd: number, option: 'gro' | 'gso', value: number): number;
  /**
   * Splits the TSO super-frames among src[offs[i], +lens[i]) into segments
   * in `out`, each after a copy of `prefix`; see native/src/addon.cc.
   * counts[i] 0 means not split: strides[i] 0 for a frame that cannot be,
   * strides[i] > 0 for one whose segments did not fit. Returns the total
   * number of segments.
   */
  tsoSplit(
    src: Buffer, hdrBack: number, offs: Uint32Array, lens: Uint32Array, n: number, ethernet: boolean, prefix: Buffer | null,
    out: Buffer, outOffs: Uint32Array, outLens: Uint32Array, counts: Uint32Array, strides: Uint32Array,
  ): number;
  /**
   * The GRO of device writes over frames buf[offs[i], +lens[i]) (IP at
   * l3off: 0 or 14), each output copied into `out` (at least 64 KiB + l3off,
   * and no shorter than any frame) instead of written; returns how
   * many outputs there were. With `hdrs`, output k's virtio-net header goes
   * to hdrs[10k, +10). For measuring (bench/), apart from the syscall.
   */
  groCoalesce(
    buf: Buffer, offs: Uint32Array, lens: Uint32Array, n: number, l3off: number, out: Buffer, udpToo?: boolean, hdrs?: Buffer | null,
  ): number;
  /** Takes ownership of fd; l3off is where IP starts in the device's frames: 0 (TUN) or 14 (TAP). */
  Endpoint: new (fd: number, kind: Kind, vnetHdr?: boolean, l3off?: number) => NativeEndpoint;
  /** capget(2) of the calling thread; bit n of each set is capability n. */
  capGet(): CapSets;
  /** capset(2): replaces the calling thread's three sets. */
  capSet(effective: number, permitted: number, inheritable: number): void;
  /** PR_CAP_AMBIENT_RAISE: keeps a permitted and inheritable capability across exec (of ip). */
  ambientRaise(cap: number): void;
  /** PR_CAP_AMBIENT_CLEAR_ALL. */
  ambientClear(): void;
  /** PR_SET_KEEPCAPS: a switch away from uid 0 keeps the permitted set. */
  setKeepCaps(on: boolean): void;
  /** PR_SET_NO_NEW_PRIVS: no later exec can add privileges. */
  setNoNewPrivs(): void;
}

/** A thread's capability sets, bit n for capability n (linux/capability.h). */
export interface CapSets {
  effective: number;
  permitted: number;
  inheritable: number;
}

function findAddon(): string {
  // dist/src/io or src/io: walk up to the package root that holds native/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'native', 'build', 'Release', 'vxtap.node');
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error('native addon not built: run `npm install` (it builds native/ with node-gyp)');
    dir = up;
  }
}

/** Where the built addon lies (for a helper process that loads it too). */
export const ADDON_PATH = findAddon();
export const addon: Addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;

/** Empties the calling thread's capability sets, the ambient one included. */
export function dropThreadCapabilities(): void {
  addon.ambientClear();
  addon.capSet(0, 0, 0);
}

/** The calling thread's id (what /proc/PID/task lists; the process id for the main thread). */
export function threadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/** An error from a syscall, with the errno name as .code (EPERM, EADDRINUSE...). */
export interface SysError extends Error {
  code: string;
  errno: number;
}

export function isSysError(e: unknown): e is SysError {
  return e instanceof Error && typeof (e as SysError).code === 'string';
}
