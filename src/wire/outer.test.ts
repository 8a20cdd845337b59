import { describe, expect, it } from 'vitest';
import { parseIpv4, ipv4ChecksumValid } from './ipv4.js';
import { parseUdp } from './udp.js';
import { OUTER_HLEN, writeOuterHeaders } from './outer.js';

describe('writeOuterHeaders', () => {
  it('writes every byte of a valid IPv4/UDP header into a dirty buffer', () => {
    const h = Buffer.alloc(64, 0xa5);
    writeOuterHeaders(h, 4, 0xc6336401, 0xc6336402, 50000, 4789, 8 + 98);
    expect(h.subarray(4, 4 + OUTER_HLEN).toString('hex')).toBe(
      '4500' + (28 + 106).toString(16).padStart(4, '0') + '0000' + '4000' + '4011' +
      h.subarray(14, 16).toString('hex') + 'c6336401' + 'c6336402' +
      'c350' + '12b5' + (8 + 106).toString(16).padStart(4, '0') + '0000',
    );
    expect(ipv4ChecksumValid(h, 4)).toBe(true);
    expect(h[3]).toBe(0xa5);
    expect(h[4 + OUTER_HLEN]).toBe(0xa5);
    const ip = parseIpv4(h, 4, OUTER_HLEN + 106);
    expect(ip).toMatchObject({ src: 0xc6336401, dst: 0xc6336402, protocol: 17, ttl: 64, dontFragment: true, payloadLen: 114 });
    expect(parseUdp(h, 24, 114)).toMatchObject({ srcPort: 50000, dstPort: 4789, payloadLen: 106, checksum: 0 });
  });
});
