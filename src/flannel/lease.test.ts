import { describe, expect, it } from 'vitest';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { decodeAttrs, encodeAttrs, parseSubnetKey, subnetKey, udpAttrs, vxlanAttrs, vxlanData } from './lease.js';
import { overlaps, parseSubnet } from './subnet.js';

// Values as flanneld writes them (Go's json.Marshal of lease.LeaseAttrs).
const FLANNELD_VXLAN = '{"PublicIP":"192.0.2.7","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"8e:2f:c1:6a:41:0b"}}';
const FLANNELD_UDP = '{"PublicIP":"192.0.2.8","PublicIPv6":null}';

describe('flannel lease keys', () => {
  it('round-trips 10.5.52.0-24 and the edges of the range', () => {
    for (const key of ['10.5.52.0-24', '0.0.0.0-0', '255.255.255.255-32', '203.0.113.128-25']) {
      const s = parseSubnetKey(key);
      expect(s).not.toBeNull();
      expect(subnetKey(s!)).toBe(key);
    }
    expect(parseSubnetKey('10.5.52.0-24')).toEqual({ addr: parseIpv4Addr('10.5.52.0'), len: 24 });
  });

  it('refuses anything that is not an IPv4 network key', () => {
    for (const key of ['10.5.52.1-24', '10.5.52.0-33', '10.5.52.0', '10.5.256.0-24', '010.5.52.0-24', 'x10.5.52.0-24', '10.5.52.0-24&fd00::-64', 'config']) {
      expect(parseSubnetKey(key), key).toBeNull();
    }
  });
});

describe('flannel lease values', () => {
  it('decodes what flanneld writes and encodes it back byte for byte', () => {
    for (const text of [FLANNELD_VXLAN, FLANNELD_UDP]) expect(encodeAttrs(decodeAttrs(text))).toBe(text);
  });

  it('writes vxlan and udp leases as flanneld does', () => {
    expect(encodeAttrs(vxlanAttrs('192.0.2.7', { vni: 1, vtepMac: '8E:2F:C1:6A:41:0B' }))).toBe(FLANNELD_VXLAN);
    expect(encodeAttrs(udpAttrs('192.0.2.8'))).toBe(FLANNELD_UDP);
  });

  it('reads the VTEP of a vxlan lease', () => {
    expect(vxlanData(decodeAttrs(FLANNELD_VXLAN))).toEqual({ vni: 1, vtepMac: '8e:2f:c1:6a:41:0b' });
  });

  it('reads a reservation written by hand, and keeps fields it does not know', () => {
    expect(decodeAttrs('{"PublicIP":"192.0.2.9"}')).toEqual({ PublicIP: '192.0.2.9', PublicIPv6: null });
    const dual = '{"PublicIP":"192.0.2.7","PublicIPv6":"2001:db8::7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"8e:2f:c1:6a:41:0b"},"BackendV6Data":{"VNI":1,"VtepMAC":"8e:2f:c1:6a:41:0c"}}';
    expect(encodeAttrs(decodeAttrs(dual))).toBe(dual);
  });

  it('says what is wrong with an unusable value', () => {
    expect(() => decodeAttrs('[]')).toThrow('not a JSON object');
    expect(() => decodeAttrs('{"PublicIPv6":null}')).toThrow('PublicIP is missing');
    expect(() => decodeAttrs('{"PublicIP":"192.0.2"}')).toThrow('invalid IPv4 address');
    expect(() => decodeAttrs('{"PublicIP":"192.0.2.7","BackendType":"vxlan"}')).toThrow('BackendData is missing');
    expect(() => decodeAttrs('{"PublicIP":"192.0.2.7","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"nope"}}')).toThrow();
  });
});

describe('subnets', () => {
  it('overlap when the shorter prefix holds the other', () => {
    expect(overlaps(parseSubnet('10.5.0.0/16'), parseSubnet('10.5.52.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.5.52.0/24'), parseSubnet('10.5.52.128/25'))).toBe(true);
    expect(overlaps(parseSubnet('10.5.52.0/24'), parseSubnet('10.5.53.0/24'))).toBe(false);
    expect(overlaps(parseSubnet('0.0.0.0/0'), parseSubnet('203.0.113.0/24'))).toBe(true);
  });
});
