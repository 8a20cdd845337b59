// UDP sockets bound to source ports inside --srcport, for sending VXLAN with
// UDP GSO. A UDP socket's source port is fixed, while RFC 7348 wants it to
// follow the inner flow; so with offloads on, vxtap binds a small pool of
// sockets spread over the range and each flow sends from the one its hash
// picks. The costs, stated: the source port takes one of `size` values
// instead of any value in the range, and the outer UDP checksum is computed
// (UDP GSO refuses SO_NO_CHECK sockets; RFC 7348 allows a non-zero checksum,
// as the kernel's `udpcsum` option sends). Without offloads, the raw socket
// writes any source port and a zero checksum.
import { addon, isSysError, Kind, type NativeEndpoint, UDP_DONT_FRAGMENT } from '../io/native.js';
import { SOCKET_BUFFER_BYTES } from '../io/socket.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';

export const POOL_SIZE = 16;

export class SourcePortPool {
  private constructor(
    readonly ports: Uint16Array,
    readonly sockets: NativeEndpoint[],
  ) {}

  /**
   * Binds up to `size` sockets on local, each to a free port in its share of
   * [min, max] (`flags`: UDP_REUSE_PORT when every queue binds the same
   * ports). Returns null when not even one port could be bound. An error
   * other than a taken port closes the sockets bound so far before it is
   * rethrown.
   */
  static open(local: number, min: number, max: number, flags = 0, size = POOL_SIZE): SourcePortPool | null {
    const ip = formatIpv4Addr(local);
    const span = max - min + 1;
    const shares = Math.min(size, span);
    const ports: number[] = [];
    const sockets: NativeEndpoint[] = [];
    for (let k = 0; k < shares; k++) {
      const first = min + Math.floor((k * span) / shares);
      const end = min + Math.floor(((k + 1) * span) / shares);
      for (let port = first; port < end; port++) {
        try {
          const fd = addon.openUdp(ip, port, 0, SOCKET_BUFFER_BYTES, UDP_DONT_FRAGMENT | flags);
          sockets.push(new addon.Endpoint(fd, Kind.Datagram));
          ports.push(port);
          break;
        } catch (e) {
          if (isSysError(e) && e.code === 'EADDRINUSE') continue; // taken: try the next port of this share
          for (const s of sockets) s.close();
          throw e;
        }
      }
    }
    return sockets.length === 0 ? null : new SourcePortPool(Uint16Array.from(ports), sockets);
  }

  /** The socket index a flow hash picks. */
  pick(hash: number): number {
    return hash % this.sockets.length;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}
