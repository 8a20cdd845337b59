// The capture points of the data path, in the order of their numbers. A
// capture session describes one pcapng interface per point it asked for.

export const TAP_RX = 0;
export const TAP_TX = 1;
export const WIRE_RX = 2;
export const WIRE_TX = 3;
export const DROP = 4;

export const POINTS = ['tap-rx', 'tap-tx', 'wire-rx', 'wire-tx', 'drop'] as const;
export type PointName = (typeof POINTS)[number];

/** if_description of each point's interface block. */
export const POINT_DESCRIPTIONS: Record<PointName, string> = {
  'tap-rx': 'frames read from the TAP ports',
  'tap-tx': 'frames written to the TAP ports',
  'wire-rx': 'VXLAN packets received; outer Ethernet/IPv4/UDP headers synthesized by vxtap',
  'wire-tx': 'VXLAN packets sent; outer IPv4/UDP as vxtap wrote them, Ethernet synthesized',
  drop: 'frames dropped, with the reason as the packet comment',
};

/** Not a drop: the frame passes this point. */
export const NO_REASON = -1;
