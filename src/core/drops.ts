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
export const DROP_UNKNOWN_SENDER = 17;
export const DROP_BAD_IP_VERSION = 18;
export const DROP_BAD_IP_HEADER = 19;
export const DROP_BAD_IP_LENGTH = 20;
export const DROP_NO_ROUTE = 21;
export const DROP_TTL_EXPIRED = 22;
export const DROP_BAD_GSO = 23;
export const DROP_TSO_NO_ROOM = 24;
export const DROP_DEV_ERROR = 25;
export const DROP_ISOLATED = 26;

/** Names as shown by `vxtap stats`, in the order of the numbers above. */
export const DROP_NAMES = [
  'tap_runt', // a frame from a TAP shorter than an Ethernet header
  'bad_src_mac', // multicast or all-zeros source MAC
  'hairpin', // destination is behind the port the frame came from
  'truncated', // datagram or packet shorter than its header (VXLAN, IPv4)
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
  'dev_busy', // TAP/TUN write queue full
  'rx_error', // a read or recv error on a device or socket
  'unknown_sender', // UDP overlay: datagram from an address that is no route's peer
  'bad_ip_version', // UDP overlay: not IPv4
  'bad_ip_header', // UDP overlay: IHL below 5 or beyond the packet
  'bad_ip_length', // UDP overlay: total length below the header or beyond the packet
  'no_route', // UDP overlay: no route to the destination (an ICMP net unreachable goes back)
  'ttl_expired', // UDP overlay: TTL would reach 0 at this hop
  'bad_gso', // a TSO/USO super-frame that cannot be split: not plain TCP/UDP after its IP header, or segments too long for an IP length
  'tso_no_room', // a TSO/USO super-frame whose segments did not fit what was left of the batch's split buffer
  'dev_error', // a TAP/TUN write the device refused (EIO while it is down, EINVAL for a frame it rejects)
  'isolated', // a frame from a local port not given to another local port: the network isolates its ports (NetworkSpec.isolated)
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

// errno values sendmmsg reports per message.
const EAGAIN = 11;
const EMSGSIZE = 90;
const ENOBUFS = 105;

/** The drop reason for a message sendmmsg failed with errno `e`. */
export function sendDropReason(e: number): number {
  return e === EAGAIN || e === ENOBUFS ? DROP_TX_BUSY : e === EMSGSIZE ? DROP_TX_TOO_BIG : DROP_TX_ERROR;
}

/** The drop reason for a frame a TAP/TUN write failed with errno `e`. */
export function writeDropReason(e: number): number {
  return e === EAGAIN ? DROP_TAP_BUSY : DROP_DEV_ERROR;
}

/**
 * Counts the frames of a device write that were not written, from the
 * per-frame errno array a FrameQueue flush leaves behind (0 = written).
 */
export function countWriteFailures(drops: Float64Array, status: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) if (status[i] !== 0) drops[writeDropReason(status[i])]++;
}

/**
 * Counts the messages of a send batch that failed, from the per-message
 * errno array a DatagramQueue flush leaves behind (0 = sent).
 */
export function countSendFailures(drops: Float64Array, status: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) if (status[i] !== 0) drops[sendDropReason(status[i])]++;
}
