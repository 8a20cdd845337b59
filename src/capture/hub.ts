// The mirror between the data path and capture sessions. The data path calls
// it only behind `if (hub.active)`, which is false while no session is
// attached: then capture costs one boolean check and nothing else.
//
// With sessions attached, each call runs every session's filter and copies
// matching frames into that session's ring (see session.ts). Frames at
// wire-rx and wire-tx are rebuilt as they were on the wire, since vxtap
// itself only sees UDP payloads:
//   - wire-rx: Ethernet + IPv4 + UDP synthesized from the datagram's source
//     (recvmmsg's address and port) and the local address and port. TTL 64,
//     ID 0 and DF set stand in for the original header, which the socket
//     does not return.
//   - wire-tx: the IPv4/UDP header vxtap wrote (ID 0: the kernel picks the
//     ID, and fixes the checksum, on the way out) behind a synthesized
//     Ethernet header.
// Outer MACs come from the kernel's tables (neighbours.ts).
//
// One hub serves the process: the VTEP makes it, and a udp overlay in the
// same process mirrors through it too (addOverlay), on its own channels
// (points.ts). A udp overlay on its own makes a hub without VXLAN. For the
// udp overlay:
//   - tap-rx, tap-tx: the TUN's packets, raw IP (LINKTYPE_RAW).
//   - wire-rx as above. wire-tx is synthesized the same way (local:port to
//     the peer), since the overlay sends through a UDP socket, which writes
//     the header itself; its UDP checksum shows as 0.
//   - drop: raw IP too, so a dropped datagram is its synthesized outer
//     IPv4/UDP header and the payload, with no Ethernet header.
import type { Socket } from 'node:net';
import { VxtapError } from '../core/errors.js';
import { ETHERTYPE_IPV4, ETH_HLEN, setEthType } from '../wire/ethernet.js';
import { getIpv4Dst, getIpv4Src } from '../wire/ipv4.js';
import { writeMac } from '../wire/mac.js';
import { OUTER_HLEN, writeOuterHeaders } from '../wire/outer.js';
import { compileFilter } from './filter.js';
import type { MacSource } from './neighbours.js';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from './pcapng.js';
import {
  OVERLAY_BASE, OVERLAY_POINT_DESCRIPTIONS, POINTS, POINT_DESCRIPTIONS, RAW_CHANNELS, type PointName,
} from './points.js';
import { CaptureSession, type ChannelSpec, parseCaptureRequest } from './session.js';

/** How often outer MACs are reread while a capture is attached. */
const MAC_REFRESH_MS = 5000;
/** The largest UDP payload. */
const MAX_PAYLOAD = 65535 - OUTER_HLEN;

export interface CaptureStats {
  sessions: number;
  /** Frames written into session rings, ever. */
  captured: number;
  /** Frames that matched a session but found its ring full, ever. */
  lost: number;
}

export class CaptureHub {
  /** True while a session is attached; the data path mirrors only then. */
  active = false;
  /** Called when `active` changes (a pipeline that forwards some packets without looking at each turns that off). */
  onActive: (() => void) | null = null;
  private sessions: CaptureSession[] = [];
  /** Union of the sessions' point masks: a frame no session wants is not even rebuilt. */
  private mask = 0;
  private ended = { captured: 0, lost: 0 };
  private readonly scratch = Buffer.alloc(ETH_HLEN + OUTER_HLEN + MAX_PAYLOAD);
  private refreshTimer: NodeJS.Timeout | null = null;
  /** The udp overlay's port once one mirrors through this hub; 0 before. */
  private overlayPort = 0;

  constructor(
    /**
     * The instance's VXLAN port, which filters read as VXLAN besides 4789 and
     * 8472; null for a hub with no VXLAN pipeline (a udp overlay's own).
     */
    private readonly vxlanPort: number | null,
    private readonly macs: MacSource,
  ) {}

  /** A udp overlay on `port` mirrors through this hub too, at channels OVERLAY_BASE + point. */
  addOverlay(port: number): void {
    this.overlayPort = port;
  }

  /**
   * The interfaces of a session taking `points`: each point of the VXLAN
   * pipeline, then each of the udp overlay's, for the pipelines this hub
   * serves. With both, names say which (vxlan:tap-rx, udp:tap-rx).
   */
  private channels(points: readonly PointName[]): ChannelSpec[] {
    const vxlan = this.vxlanPort !== null;
    const udp = this.overlayPort !== 0;
    const both = vxlan && udp;
    const out: ChannelSpec[] = [];
    if (vxlan) {
      for (const p of points) {
        out.push({ channel: POINTS.indexOf(p), name: both ? `vxlan:${p}` : p, description: POINT_DESCRIPTIONS[p], linktype: LINKTYPE_ETHERNET });
      }
    }
    if (udp) {
      for (const p of points) {
        const channel = OVERLAY_BASE + POINTS.indexOf(p);
        const linktype = (RAW_CHANNELS >> channel) & 1 ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
        out.push({ channel, name: both ? `udp:${p}` : p, description: OVERLAY_POINT_DESCRIPTIONS[p], linktype });
      }
    }
    return out;
  }

  /**
   * Turns a control connection into a capture session. Throws a VxtapError
   * (bad points, VNI, filter or snap length) before anything is streamed.
   */
  async attach(raw: unknown, sock: Socket): Promise<void> {
    const req = parseCaptureRequest(raw);
    if (req.vni !== undefined && this.vxlanPort === null) {
      throw new VxtapError('E_USAGE', 'capture: vni: this instance runs only the udp overlay, whose packets have no VNI');
    }
    const opts = { vni: req.vni, vxlanPort: this.vxlanPort ?? 0, overlayPort: this.overlayPort };
    const filter = compileFilter(req.filter ?? '', opts);
    const rawFilter = this.overlayPort === 0 ? filter : compileFilter(req.filter ?? '', { ...opts, linktype: LINKTYPE_RAW });
    await this.macs.refresh();
    if (sock.destroyed) return;
    const s = new CaptureSession(sock, req, this.channels(req.points ?? POINTS), filter, rawFilter, (gone) => this.detach(gone));
    this.sessions.push(s);
    this.update();
    this.refreshTimer ??= setInterval(() => void this.macs.refresh(), MAC_REFRESH_MS).unref();
  }

  private detach(s: CaptureSession): void {
    this.sessions = this.sessions.filter((x) => x !== s);
    this.ended.captured += sum(s.matched) - sum(s.lost);
    this.ended.lost += sum(s.lost);
    this.update();
    if (this.sessions.length === 0 && this.refreshTimer !== null) {
      clearInterval(this.refreshTimer);
      this.refreshTimer = null;
    }
  }

  private update(): void {
    const was = this.active;
    this.active = this.sessions.length > 0;
    if (this.active !== was) this.onActive?.();
    this.mask = this.sessions.reduce((m, s) => m | s.mask, 0);
  }

  /** Ends every session with complete streams (the instance is stopping). */
  close(): void {
    for (const s of this.sessions) s.finish();
  }

  /**
   * A frame at channel `point` as it is in b[off, off+len): from or to a TAP
   * (Ethernet) or a TUN (raw IP), or dropped. `vni` is the network it belongs
   * to (-1: none, or the frame carries its own); `reason` a drop reason or
   * NO_REASON.
   */
  frame(point: number, b: Uint8Array, off: number, len: number, vni: number, reason: number): void {
    const ss = this.sessions;
    const raw = (RAW_CHANNELS >> point) & 1;
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i];
      if ((s.mask >> point) & 1 && (raw === 0 ? s.filter : s.rawFilter)(b, off, len, vni)) s.record(point, b, off, len, reason);
    }
  }

  /**
   * A UDP payload from src:sport to dst:dport, received or sent; mirrored
   * behind synthesized outer IPv4/UDP headers, and an Ethernet header unless
   * the channel is raw IP.
   */
  datagram(point: number, b: Buffer, off: number, len: number, src: number, sport: number, dst: number, dport: number, reason: number): void {
    if (((this.mask >> point) & 1) === 0) return;
    const s = this.scratch;
    if (len > MAX_PAYLOAD) len = MAX_PAYLOAD;
    writeOuterHeaders(s, ETH_HLEN, src, dst, sport, dport, len);
    b.copy(s, ETH_HLEN + OUTER_HLEN, off, off + len);
    if ((RAW_CHANNELS >> point) & 1) {
      this.frame(point, s, ETH_HLEN, OUTER_HLEN + len, -1, reason);
      return;
    }
    this.ethernet(src, dst);
    this.frame(point, s, 0, ETH_HLEN + OUTER_HLEN + len, -1, reason);
  }

  /** A packet sent: the IPv4/UDP header at hdr[hoff] followed by b[off, off+len). */
  packet(point: number, hdr: Buffer, hoff: number, b: Buffer, off: number, len: number, reason: number): void {
    if (((this.mask >> point) & 1) === 0) return;
    const s = this.scratch;
    this.ethernet(getIpv4Src(hdr, hoff), getIpv4Dst(hdr, hoff));
    hdr.copy(s, ETH_HLEN, hoff, hoff + OUTER_HLEN);
    b.copy(s, ETH_HLEN + OUTER_HLEN, off, off + len);
    this.frame(point, s, 0, ETH_HLEN + OUTER_HLEN + len, -1, reason);
  }

  private ethernet(src: number, dst: number): void {
    writeMac(this.scratch, 0, this.macs.macOf(dst));
    writeMac(this.scratch, 6, this.macs.macOf(src));
    setEthType(this.scratch, 0, ETHERTYPE_IPV4);
  }

  stats(): CaptureStats {
    let captured = this.ended.captured;
    let lost = this.ended.lost;
    for (const s of this.sessions) {
      captured += sum(s.matched) - sum(s.lost);
      lost += sum(s.lost);
    }
    return { sessions: this.sessions.length, captured, lost };
  }
}

const sum = (a: Float64Array) => a.reduce((x, y) => x + y, 0);
