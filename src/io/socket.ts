// Underlay sockets: a bound UDP socket for receiving (recvmmsg) and a raw
// IPv4 socket for sending with headers vxtap writes itself (sendmmsg).
import { addon, isSysError, Kind, type NativeEndpoint } from './native.js';
import { VxtapError } from '../core/errors.js';

/** Socket buffers sized for bursts of a few thousand full-size packets. */
export const SOCKET_BUFFER_BYTES = 8 << 20;

/** A bound UDP socket; `flags` as addon.openUdp (e.g. UDP_REUSE_PORT for a queue). */
export function openUdpSocket(ip: string, port: number, field: string, flags = 0): NativeEndpoint {
  try {
    const fd = addon.openUdp(ip, port, SOCKET_BUFFER_BYTES, SOCKET_BUFFER_BYTES, flags);
    return new addon.Endpoint(fd, Kind.Datagram);
  } catch (e) {
    if (!isSysError(e)) throw e;
    if (e.code === 'EADDRNOTAVAIL') {
      throw new VxtapError('E_ADDRESS', `${field}: ${ip} is not an address of this host: give one configured on an underlay interface`);
    }
    if (e.code === 'EADDRINUSE') {
      throw new VxtapError('E_ADDRESS', `${field}: UDP ${ip}:${port} is already in use (a kernel vxlan device or another vxtap?): stop it or choose another port`);
    }
    if (e.code === 'EACCES') {
      throw new VxtapError('E_PERMISSION', `${field}: binding UDP port ${port} needs CAP_NET_BIND_SERVICE: run vxtap as root, grant that capability, or choose a port from 1024 up`);
    }
    throw new VxtapError('E_ADDRESS', `${field}: binding UDP ${ip}:${port}: ${e.message}`);
  }
}

export function openRawSocket(): NativeEndpoint {
  try {
    return new addon.Endpoint(addon.openRaw(SOCKET_BUFFER_BYTES), Kind.Raw);
  } catch (e) {
    if (isSysError(e) && (e.code === 'EPERM' || e.code === 'EACCES')) {
      throw new VxtapError('E_PERMISSION', 'sending VXLAN without offloads needs a raw IPv4 socket, which needs CAP_NET_RAW: run vxtap as root, or grant CAP_NET_RAW');
    }
    throw e;
  }
}
