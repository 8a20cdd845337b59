// Typed face of the native addon (native/src). Everything here is thin: the
// addon makes syscalls in batches; policy stays in TypeScript.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Endpoint kinds; they pick the syscalls (read/write, recvmmsg/sendmmsg). */
export const enum Kind {
  Device = 0,
  Datagram = 1,
  Raw = 2,
}

export interface NativeEndpoint {
  readonly fd: number;
  /**
   * Polls the descriptor on the JS thread. On readiness, reads up to `budget`
   * packets, packet i into slab[i*slotSize + headroom ...], its length into
   * lens[i] (cap+1 if a datagram was cut off) and, for datagram sockets, its
   * source into addrs[i]/ports[i]; then calls cb(n) once (n<0 is -errno).
   */
  startRx(
    slab: Buffer, slotSize: number, headroom: number, budget: number,
    lens: Uint32Array, addrs: Uint32Array | null, ports: Uint16Array | null,
    cb: (n: number) => void,
  ): void;
  stopRx(): void;
  /** Writes frames buf[offs[i], +lens[i]) for i < n; returns how many went out. */
  writeFrames(buf: Buffer, offs: Uint32Array, lens: Uint32Array, n: number): number;
  /**
   * Sends message i = hdr[i*hdrStride, +hdrLen) ++ payload[offs[i], +lens[i])
   * to addrs[i]:ports[i]; status[i] becomes 0 or the errno. Returns the number sent.
   */
  sendDatagrams(
    hdr: Buffer | null, hdrStride: number, hdrLen: number,
    payload: Buffer, offs: Uint32Array, lens: Uint32Array,
    addrs: Uint32Array, ports: Uint16Array, n: number, status: Int32Array,
  ): number;
  close(): void;
}

interface Addon {
  openTun(name: string, tap: boolean, vnetHdr: boolean, multiQueue: boolean): { fd: number; name: string };
  openUdp(ip: string, port: number, rcvbuf: number, sndbuf: number): number;
  openRaw(sndbuf: number): number;
  Endpoint: new (fd: number, kind: Kind) => NativeEndpoint;
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

export const addon: Addon = createRequire(import.meta.url)(findAddon()) as Addon;

/** An error from a syscall, with the errno name as .code (EPERM, EADDRINUSE...). */
export interface SysError extends Error {
  code: string;
  errno: number;
}

export function isSysError(e: unknown): e is SysError {
  return e instanceof Error && typeof (e as SysError).code === 'string';
}
