// The source-port pool binds one socket per share of --srcport; a failure
// that is not a taken port must not leave the sockets bound so far open.
import { describe, expect, it } from 'vitest';
import { addon, Kind } from '../io/native.js';
import { SourcePortPool } from './portpool.js';

const LOOPBACK = 0x7f000001;

/** Whether UDP 127.0.0.1:port can be bound (nothing else holds it). */
function free(port: number): boolean {
  try {
    new addon.Endpoint(addon.openUdp('127.0.0.1', port, 0, 0), Kind.Datagram).close();
    return true;
  } catch {
    return false;
  }
}

describe('SourcePortPool', () => {
  it('issue 16.4: closes the sockets it bound when a later bind fails with anything but EADDRINUSE', () => {
    // Shares 65534, 65535, 65536, 65537: the first two bind, the third is no port at all.
    expect(() => SourcePortPool.open(LOOPBACK, 65534, 65537, 0, 4)).toThrow(TypeError);
    expect([free(65534), free(65535)]).toEqual([true, true]);
  });
});
