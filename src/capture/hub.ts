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
import type { Socket } from 'node:net';
import { ETHERTYPE_IPV4, ETH_HLEN, setEthType } from '../wire/ethernet.js';
import { getIpv4Dst, getIpv4Src } from '../wire/ipv4.js';
import { writeMac } from '../wire/mac.js';
import { OUTER_HLEN, writeOuterHeaders } from '../vxlan/encap.js';
import { compileFilter } from './filter.js';
import type { MacSource } from './neighbours.js';
import { CaptureSession, parseCaptureRequest } from './session.js';

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
  private sessions: CaptureSession[] = [];
  /** Union of the sessions' point masks: a frame no session wants is not even rebuilt. */
  private mask = 0;
  private ended = { captured: 0, lost: 0 };
  private readonly scratch = Buffer.alloc(ETH_HLEN + OUTER_HLEN + MAX_PAYLOAD);
  private refreshTimer: NodeJS.Timeout | null = null;

  constructor(
    /** The instance's VXLAN port, which filters read as VXLAN besides 4789 and 8472. */
    private readonly vxlanPort: number,
    private readonly macs: MacSource,
  ) {}

  /**
   * Turns a control connection into a capture session. Throws a VxtapError
   * (bad points, VNI, filter or snap length) before anything is streamed.
   */
  async attach(raw: unknown, sock: Socket): Promise<void> {
    const req = parseCaptureRequest(raw);
    const filter = compileFilter(req.filter ?? '', { vni: req.vni, vxlanPort: this.vxlanPort });
    await this.macs.refresh();
    if (sock.destroyed) return;
    const s = new CaptureSession(sock, req, filter, (gone) => this.detach(gone));
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
    this.active = this.sessions.length > 0;
    this.mask = this.sessions.reduce((m, s) => m | s.mask, 0);
  }

  /** Ends every session with complete streams (the instance is stopping). */
  close(): void {
    for (const s of this.sessions) s.finish();
  }

  /**
   * An Ethernet frame at `point` as it is in b[off, off+len): from or to a TAP,
   * or dropped. `vni` is the network it belongs to; `reason` a drop reason or
   * NO_REASON.
   */
  frame(point: number, b: Uint8Array, off: number, len: number, vni: number, reason: number): void {
    const ss = this.sessions;
    for (let i = 0; i < ss.length; i++) {
      const s = ss[i];
      if ((s.mask >> point) & 1 && s.filter(b, off, len, vni)) s.record(point, b, off, len, reason);
    }
  }

  /** A UDP payload received from src:sport at dst:dport; mirrored behind synthesized outer headers. */
  datagram(point: number, b: Buffer, off: number, len: number, src: number, sport: number, dst: number, dport: number, reason: number): void {
    if (((this.mask >> point) & 1) === 0) return;
    const s = this.scratch;
    this.ethernet(src, dst);
    writeOuterHeaders(s, ETH_HLEN, src, dst, sport, dport, len);
    b.copy(s, ETH_HLEN + OUTER_HLEN, off, off + len);
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
