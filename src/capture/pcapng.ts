// pcapng (draft-ietf-opsawg-pcapng) writer and a reader for pcapng and classic
// pcap. The writer emits little-endian sections; the reader takes either byte
// order, since a pcapng section is written in its writer's native order.
//
// Every block: type (u32), total length (u32), body, total length again.
// Options inside a body are (code u16, length u16, value padded to 4 bytes),
// ended by opt_endofopt (0, 0).

/** LINKTYPE_ETHERNET: every capture point of the VXLAN data path is Ethernet. */
export const LINKTYPE_ETHERNET = 1;
/** LINKTYPE_RAW: raw IPv4/IPv6, as a TUN device or the udp overlay carries. */
export const LINKTYPE_RAW = 101;

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 1;
const BT_ISB = 5;
const BT_EPB = 6;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const OPT_ENDOFOPT = 0;
const OPT_COMMENT = 1;
const SHB_USERAPPL = 4;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;
const ISB_IFRECV = 4;
const ISB_IFDROP = 5;

// Enhanced Packet Block, fixed part:
//   0 type  4 total length  8 interface id  12 ts high  16 ts low
//  20 captured length  24 original length  28 data (padded to 32 bits)
//  then options, then the total length again (4 bytes).
const EPB_IFID = 8;
const EPB_TSHI = 12;
const EPB_TSLO = 16;
const EPB_CAPLEN = 20;
const EPB_ORIGLEN = 24;
const EPB_DATA = 28;
/** Bytes of an EPB around its data and options. */
const EPB_OVERHEAD = EPB_DATA + 4;

// Classic pcap: a 24-byte file header, then a 16-byte header per record.
const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_HLEN = 24;
const PCAP_RECLEN = 16;

/** Blocks beyond this are taken as corruption rather than buffered. */
const MAX_BLOCK = 1 << 26;

const pad4 = (n: number) => (n + 3) & ~3;

// ---- writer ------------------------------------------------------------------

/** Encodes options (code, value) and opt_endofopt; empty input gives no bytes at all. */
function encodeOptions(opts: Array<[number, Buffer]>): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  const out = Buffer.alloc(opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 4));
  let o = 0;
  for (const [code, v] of opts) {
    out.writeUInt16LE(code, o);
    out.writeUInt16LE(v.length, o + 2);
    v.copy(out, o + 4);
    o += 4 + pad4(v.length);
  }
  out.writeUInt16LE(OPT_ENDOFOPT, o);
  return out;
}

/** The options of a packet comment, ready to append to EPBs. */
export function commentOption(text: string): Buffer {
  return encodeOptions([[OPT_COMMENT, Buffer.from(text, 'utf8')]]);
}

/** A whole block: type, length, body, options, length. */
function block(type: number, body: Buffer, opts: Buffer): Buffer {
  const len = 12 + body.length + opts.length;
  const b = Buffer.alloc(len);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(len, 4);
  body.copy(b, 8);
  opts.copy(b, 8 + body.length);
  b.writeUInt32LE(len, len - 4);
  return b;
}

/** Section Header Block: version 1.0, section length unknown (-1), so it can be streamed. */
export function sectionHeader(userAppl: string): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4);
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8);
  return block(BT_SHB, body, encodeOptions([[SHB_USERAPPL, Buffer.from(userAppl)]]));
}

export interface IdbSpec {
  linktype: number;
  snaplen: number;
  name: string;
  description?: string;
  /** Nanosecond timestamps (if_tsresol 9) instead of the default microseconds. */
  nano: boolean;
}

/** Interface Description Block with if_name, if_description and if_tsresol. */
export function interfaceDescription(s: IdbSpec): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16LE(s.linktype, 0);
  body.writeUInt32LE(s.snaplen, 4);
  const opts: Array<[number, Buffer]> = [[IF_NAME, Buffer.from(s.name)]];
  if (s.description !== undefined) opts.push([IF_DESCRIPTION, Buffer.from(s.description)]);
  opts.push([IF_TSRESOL, Buffer.from([s.nano ? 9 : 6])]);
  return block(BT_IDB, body, encodeOptions(opts));
}

/** Interface Statistics Block: frames seen (isb_ifrecv) and lost (isb_ifdrop) on one interface. */
export function interfaceStatistics(ifId: number, tsHi: number, tsLo: number, recv: number, drop: number): Buffer {
  const body = Buffer.alloc(12);
  body.writeUInt32LE(ifId, 0);
  body.writeUInt32LE(tsHi, 4);
  body.writeUInt32LE(tsLo, 8);
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  return block(BT_ISB, body, encodeOptions([[ISB_IFRECV, u64(recv)], [ISB_IFDROP, u64(drop)]]));
}

/** Total bytes of an EPB with `capLen` bytes of data and `optLen` bytes of encoded options. */
export function epbLength(capLen: number, optLen: number): number {
  return EPB_OVERHEAD + pad4(capLen) + optLen;
}

/**
 * Writes an Enhanced Packet Block at out[o]: `capLen` bytes of data[dataOff..]
 * with `origLen` as the length on the wire, and `opts` (from commentOption) or
 * none. Writes every byte, padding included, since `out` is a reused ring.
 * Returns the block length.
 */
export function writeEpb(
  out: Buffer, o: number, ifId: number, tsHi: number, tsLo: number,
  data: Uint8Array, dataOff: number, capLen: number, origLen: number, opts: Buffer | null,
): number {
  const optLen = opts === null ? 0 : opts.length;
  const len = epbLength(capLen, optLen);
  out.writeUInt32LE(BT_EPB, o);
  out.writeUInt32LE(len, o + 4);
  out.writeUInt32LE(ifId, o + EPB_IFID);
  out.writeUInt32LE(tsHi, o + EPB_TSHI);
  out.writeUInt32LE(tsLo, o + EPB_TSLO);
  out.writeUInt32LE(capLen, o + EPB_CAPLEN);
  out.writeUInt32LE(origLen, o + EPB_ORIGLEN);
  out.set(data.subarray(dataOff, dataOff + capLen), o + EPB_DATA);
  let p = o + EPB_DATA + capLen;
  const padded = o + EPB_DATA + pad4(capLen);
  while (p < padded) out[p++] = 0;
  if (opts !== null) opts.copy(out, p);
  out.writeUInt32LE(len, o + len - 4);
  return len;
}

// ---- reader ------------------------------------------------------------------

export interface Iface {
  linktype: number;
  snaplen: number;
  name: string;
  /** Timestamp units per second (if_tsresol; 10^6 by default). */
  unitsPerSec: bigint;
  /** From an Interface Statistics Block, if one came. */
  received?: number;
  dropped?: number;
}

export interface Packet {
  iface: Iface;
  sec: number;
  nsec: number;
  origLen: number;
  data: Buffer;
  comment?: string;
}

export interface Capture {
  format: 'pcapng' | 'pcap';
  ifaces: Iface[];
  packets: Packet[];
}

export class CaptureFormatError extends Error {}

/** Block types a stream consumer tells apart. */
export const BLOCK_SHB = BT_SHB;
export const BLOCK_IDB = BT_IDB;
export const BLOCK_ISB = BT_ISB;
export const BLOCK_EPB = BT_EPB;

export interface Block {
  type: number;
  bytes: Buffer;
}

/**
 * Cuts a pcapng byte stream into whole blocks, whatever the chunk boundaries.
 * Tracks each section's byte order from its SHB.
 */
export class BlockSplitter {
  private pending: Buffer = Buffer.alloc(0);
  private le = true;

  /** Returns the blocks completed by `chunk`, keeping any partial block for the next call. */
  push(chunk: Buffer): Block[] {
    const buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Block[] = [];
    let o = 0;
    while (buf.length - o >= 12) {
      if (buf.readUInt32LE(o) === BT_SHB) this.le = sectionIsLittleEndian(buf, o);
      const len = this.le ? buf.readUInt32LE(o + 4) : buf.readUInt32BE(o + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) throw new CaptureFormatError(`pcapng: bad block length ${len} at byte ${o}`);
      if (buf.length - o < len) break;
      out.push({ type: this.le ? buf.readUInt32LE(o) : buf.readUInt32BE(o), bytes: buf.subarray(o, o + len) });
      o += len;
    }
    this.pending = buf.subarray(o);
    return out;
  }

  /** Bytes of an incomplete block still held. */
  get buffered(): number {
    return this.pending.length;
  }
}

function sectionIsLittleEndian(b: Buffer, o: number): boolean {
  if (b.readUInt32LE(o + 8) === BYTE_ORDER_MAGIC) return true;
  if (b.readUInt32BE(o + 8) === BYTE_ORDER_MAGIC) return false;
  throw new CaptureFormatError('pcapng: section header without a byte-order magic');
}

/** Turns whole pcapng blocks into interfaces and packets; unknown block types are skipped. */
export class PcapngReader {
  /** Interfaces of the current section, by id. */
  private ifaces: Iface[] = [];
  /** Every interface seen, across sections. */
  readonly all: Iface[] = [];
  private le = true;

  read(b: Buffer): Packet | undefined {
    if (b.readUInt32LE(0) === BT_SHB) {
      this.le = sectionIsLittleEndian(b, 0);
      this.ifaces = []; // interface ids are per section
      return undefined;
    }
    const u16 = (o: number) => (this.le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (o: number) => (this.le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const type = u32(0);
    const end = b.length - 4;
    if (type === BT_IDB) {
      const iface: Iface = { linktype: u16(8), snaplen: u32(12), name: `if${this.ifaces.length}`, unitsPerSec: 1_000_000n };
      for (const [code, v] of this.options(b, 16, end)) {
        if (code === IF_NAME) iface.name = v.toString('utf8');
        else if (code === IF_TSRESOL && v.length >= 1) {
          iface.unitsPerSec = v[0] & 0x80 ? 1n << BigInt(v[0] & 0x7f) : 10n ** BigInt(v[0]);
        }
      }
      this.ifaces.push(iface);
      this.all.push(iface);
      return undefined;
    }
    if (type === BT_ISB) {
      const iface = this.iface(u32(8));
      for (const [code, v] of this.options(b, 20, end)) {
        if (v.length !== 8) continue;
        const n = Number(this.le ? v.readBigUInt64LE(0) : v.readBigUInt64BE(0));
        if (code === ISB_IFRECV) iface.received = n;
        else if (code === ISB_IFDROP) iface.dropped = n;
      }
      return undefined;
    }
    if (type !== BT_EPB) return undefined;
    const iface = this.iface(u32(EPB_IFID));
    const capLen = u32(EPB_CAPLEN);
    if (EPB_DATA + pad4(capLen) > end) throw new CaptureFormatError(`pcapng: packet data (${capLen} bytes) overruns its block`);
    const ts = (BigInt(u32(EPB_TSHI)) << 32n) | BigInt(u32(EPB_TSLO));
    const p: Packet = {
      iface,
      ...splitTime(ts, iface.unitsPerSec),
      origLen: u32(EPB_ORIGLEN),
      data: b.subarray(EPB_DATA, EPB_DATA + capLen),
    };
    const comments = this.options(b, EPB_DATA + pad4(capLen), end).filter(([c]) => c === OPT_COMMENT);
    if (comments.length > 0) p.comment = comments.map(([, v]) => v.toString('utf8')).join('; ');
    return p;
  }

  private iface(id: number): Iface {
    const iface = this.ifaces[id];
    if (iface === undefined) throw new CaptureFormatError(`pcapng: block refers to interface ${id}, which was not described`);
    return iface;
  }

  private options(b: Buffer, o: number, end: number): Array<[number, Buffer]> {
    const out: Array<[number, Buffer]> = [];
    while (o + 4 <= end) {
      const code = this.le ? b.readUInt16LE(o) : b.readUInt16BE(o);
      const len = this.le ? b.readUInt16LE(o + 2) : b.readUInt16BE(o + 2);
      if (code === OPT_ENDOFOPT || o + 4 + len > end) break;
      out.push([code, b.subarray(o + 4, o + 4 + len)]);
      o += 4 + pad4(len);
    }
    return out;
  }
}

function splitTime(units: bigint, perSec: bigint): { sec: number; nsec: number } {
  return { sec: Number(units / perSec), nsec: Number(((units % perSec) * 1_000_000_000n) / perSec) };
}

function readPcapng(buf: Buffer): Capture {
  const splitter = new BlockSplitter();
  const reader = new PcapngReader();
  const packets: Packet[] = [];
  for (const b of splitter.push(buf)) {
    const p = reader.read(b.bytes);
    if (p !== undefined) packets.push(p);
  }
  if (splitter.buffered > 0) throw new CaptureFormatError(`pcapng: the file ends inside a block (${splitter.buffered} bytes left over)`);
  return { format: 'pcapng', ifaces: reader.all, packets };
}

function readPcap(buf: Buffer): Capture {
  if (buf.length < PCAP_HLEN) throw new CaptureFormatError('pcap: shorter than its 24-byte file header');
  const magicLe = buf.readUInt32LE(0);
  const le = magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const nano = u32(0) === PCAP_MAGIC_NS;
  const iface: Iface = { linktype: u32(20) & 0xffff, snaplen: u32(16), name: 'if0', unitsPerSec: nano ? 1_000_000_000n : 1_000_000n };
  const packets: Packet[] = [];
  let o = PCAP_HLEN;
  while (o + PCAP_RECLEN <= buf.length) {
    const capLen = u32(o + 8);
    if (o + PCAP_RECLEN + capLen > buf.length) throw new CaptureFormatError(`pcap: record at byte ${o} runs past the end of the file`);
    packets.push({
      iface, sec: u32(o), nsec: nano ? u32(o + 4) : u32(o + 4) * 1000, origLen: u32(o + 12),
      data: buf.subarray(o + PCAP_RECLEN, o + PCAP_RECLEN + capLen),
    });
    o += PCAP_RECLEN + capLen;
  }
  return { format: 'pcap', ifaces: [iface], packets };
}

/** Reads a whole pcapng or classic pcap file (either byte order, µs or ns). */
export function readCapture(buf: Buffer): Capture {
  if (buf.length >= 4) {
    if (buf.readUInt32LE(0) === BT_SHB) return readPcapng(buf);
    const m = buf.readUInt32LE(0);
    const mbe = buf.readUInt32BE(0);
    if ([m, mbe].some((x) => x === PCAP_MAGIC_US || x === PCAP_MAGIC_NS)) return readPcap(buf);
  }
  throw new CaptureFormatError('not a pcap or pcapng file (unknown magic number)');
}
