// Every packet the data path does not deliver is counted under one reason.
// Drop, count, don't throw: the hot path indexes a Float64Array (exact to
// 2^53) with these numbers and never allocates or logs per packet.

export const DROP_TAP_RUNT = 0;
export const DROP_BAD_SRC_MAC = 1;
export const DROP_HAIRPIN = 2;
export const DROP_TRUNCATED = 3;
export const DROP_OVERSIZE = 4;
export const DROP_NO_I_FLAG = 5;
export const DROP_RESERVED_BITS = 6;
export const DROP_UNKNOWN_VNI = 7;
export const DROP_INNER_RUNT = 8;
export const DROP_INNER_VLAN = 9;
export const DROP_REMOTE_DST = 10;
export const DROP_NO_DESTINATION = 11;
export const DROP_TX_BUSY = 12;
export const DROP_TX_TOO_BIG = 13;
export const DROP_TX_ERROR = 14;
export const DROP_TAP_BUSY = 15;
export const DROP_RX_ERROR = 16;

/** Names as shown by `vxtap stats`, in the order of the numbers above. */
export const DROP_NAMES = [
  'tap_runt', // a frame from a TAP shorter than an Ethernet header
  'bad_src_mac', // multicast or all-zeros source MAC
  'hairpin', // destination is behind the port the frame came from
  'truncated', // datagram shorter than the VXLAN header
  'oversize', // datagram larger than the receive slot (peer MTU too large)
  'no_i_flag', // VXLAN I flag clear (RFC 7348: MUST be 1 for a valid VNI)
  'reserved_bits', // VXLAN reserved bits set (dropped as Linux does, see wire/vxlan.ts)
  'unknown_vni', // VNI not configured here
  'inner_runt', // inner frame shorter than an Ethernet header
  'inner_vlan', // VLAN-tagged inner frame, not allowed on this VNI
  'remote_dst', // decapsulated frame for a MAC behind another VTEP (split horizon)
  'no_destination', // flooded frame with no other port and no remote to go to
  'tx_busy', // socket send buffer full (EAGAIN/ENOBUFS)
  'tx_too_big', // outer packet exceeds the underlay MTU (EMSGSIZE); never fragmented
  'tx_error', // any other send error
  'tap_busy', // TAP write queue full
  'rx_error', // a read or recv error on a device or socket
] as const;

export const DROP_COUNT = DROP_NAMES.length;

export function newDropCounters(): Float64Array {
  return new Float64Array(DROP_COUNT);
}

export function dropsToRecord(drops: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < DROP_COUNT; i++) out[DROP_NAMES[i]] = drops[i];
  return out;
}
