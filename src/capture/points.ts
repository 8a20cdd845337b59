// The capture points of the data path, in the order of their numbers. A
// capture session describes one pcapng interface per point it asked for.
//
// A process can run a VXLAN network and the udp overlay side by side, and
// both mirror through one hub. Each pipeline has the same five points under
// its own numbers ("channels"): the VXLAN ones are 0-4, the udp overlay's
// 5-9. A session asks for points by name and gets one interface per point of
// each pipeline the process runs.

export const TAP_RX = 0;
export const TAP_TX = 1;
export const WIRE_RX = 2;
export const WIRE_TX = 3;
export const DROP = 4;

export const POINTS = ['tap-rx', 'tap-tx', 'wire-rx', 'wire-tx', 'drop'] as const;
export type PointName = (typeof POINTS)[number];

/** if_description of each VXLAN point's interface block. */
export const POINT_DESCRIPTIONS: Record<PointName, string> = {
  'tap-rx': 'frames read from the TAP ports',
  'tap-tx': 'frames written to the TAP ports',
  'wire-rx': 'VXLAN packets received; outer Ethernet/IPv4/UDP headers synthesized by vxtap',
  'wire-tx': 'VXLAN packets sent; outer IPv4/UDP as vxtap wrote them, Ethernet synthesized',
  drop: 'frames dropped, with the reason as the packet comment',
};

// The udp overlay's channels: its TUN is the "tap" side.
export const OVERLAY_BASE = POINTS.length;
/** IP packets read from the TUN (raw IP; a TSO super-frame as read). */
export const TUN_RX = OVERLAY_BASE + TAP_RX;
/** IP packets written to the TUN (raw IP), ICMP errors included; one per packet even when writes coalesce. */
export const TUN_TX = OVERLAY_BASE + TAP_TX;
export const OVERLAY_WIRE_RX = OVERLAY_BASE + WIRE_RX;
export const OVERLAY_WIRE_TX = OVERLAY_BASE + WIRE_TX;
/** Raw IP: a TUN packet as it is, a datagram behind synthesized outer IPv4/UDP. */
export const OVERLAY_DROP = OVERLAY_BASE + DROP;
/** Channels in all. */
export const CHANNELS = 2 * POINTS.length;
/** Bit c set: channel c carries raw IP (LINKTYPE_RAW); the others carry Ethernet. */
export const RAW_CHANNELS = (1 << TUN_RX) | (1 << TUN_TX) | (1 << OVERLAY_DROP);

/** if_description of each udp overlay point's interface block. */
export const OVERLAY_POINT_DESCRIPTIONS: Record<PointName, string> = {
  'tap-rx': 'IP packets read from the TUN device (raw IP)',
  'tap-tx': 'IP packets written to the TUN device, ICMP errors included (raw IP)',
  'wire-rx': 'udp overlay datagrams received, one per datagram of a GRO train; outer Ethernet/IPv4/UDP synthesized by vxtap',
  'wire-tx': 'udp overlay datagrams sent, one per datagram of a GSO send; outer Ethernet/IPv4/UDP synthesized by vxtap',
  drop: 'packets dropped, with the reason as the packet comment (raw IP: a datagram behind synthesized outer IPv4/UDP)',
};

/** Not a drop: the frame passes this point. */
export const NO_REASON = -1;
