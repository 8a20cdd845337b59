import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BLOCK_EPB, BLOCK_IDB, BLOCK_ISB, BLOCK_SHB, BlockSplitter, LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapngReader,
  commentOption, epbLength, interfaceDescription, interfaceStatistics, readCapture, sectionHeader, writeEpb,
} from './pcapng.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface TestPacket {
  ifId: number;
  /** Timestamp in the interface's units. */
  units: bigint;
  data: Uint8Array;
  extra: number;
  comment?: string;
}

function epb(p: TestPacket): Buffer {
  const opts = p.comment === undefined ? null : commentOption(p.comment);
  const out = Buffer.alloc(epbLength(p.data.length, opts?.length ?? 0));
  const n = writeEpb(out, 0, p.ifId, Number(p.units >> 32n), Number(p.units & 0xffffffffn), p.data, 0, p.data.length, p.data.length + p.extra, opts);
  expect(n).toBe(out.length);
  return out;
}

function file(ifaces: Array<{ name: string; nano: boolean; linktype: number }>, packets: TestPacket[]): Buffer {
  return Buffer.concat([
    sectionHeader('vxtap test'),
    ...ifaces.map((i) => interfaceDescription({ ...i, snaplen: 262144 })),
    ...packets.map(epb),
  ]);
}

const ifaceArb = fc.record({
  name: fc.string({ minLength: 1, maxLength: 12 }),
  nano: fc.boolean(),
  linktype: fc.constantFrom(LINKTYPE_ETHERNET, LINKTYPE_RAW),
});

const captureArb = fc.array(ifaceArb, { minLength: 1, maxLength: 5 }).chain((ifaces) => fc.tuple(
  fc.constant(ifaces),
  fc.array(fc.record({
    ifId: fc.integer({ min: 0, max: ifaces.length - 1 }),
    units: fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }),
    data: fc.uint8Array({ maxLength: 130 }),
    extra: fc.integer({ min: 0, max: 1000 }),
    comment: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  }), { maxLength: 20 }),
));

function expected(ifaces: Array<{ nano: boolean }>, p: TestPacket) {
  const per = ifaces[p.ifId].nano ? 1_000_000_000n : 1_000_000n;
  return {
    sec: Number(p.units / per),
    nsec: Number(((p.units % per) * 1_000_000_000n) / per),
    data: Buffer.from(p.data),
    origLen: p.data.length + p.extra,
    comment: p.comment,
  };
}

describe('pcapng writer and reader', () => {
  it('round-trip interfaces, timestamps (µs and ns), data, lengths and comments', () => {
    fc.assert(fc.property(captureArb, ([ifaces, packets]) => {
      const c = readCapture(file(ifaces, packets));
      expect(c.format).toBe('pcapng');
      expect(c.ifaces.map((i) => ({ name: i.name, linktype: i.linktype, nano: i.unitsPerSec === 1_000_000_000n })))
        .toEqual(ifaces.map(({ name, linktype, nano }) => ({ name, linktype, nano })));
      expect(c.packets.map((p) => ({ sec: p.sec, nsec: p.nsec, data: p.data, origLen: p.origLen, comment: p.comment })))
        .toEqual(packets.map((p) => expected(ifaces, p)));
      expect(c.packets.map((p) => c.ifaces.indexOf(p.iface))).toEqual(packets.map((p) => p.ifId));
    }));
  });

  it('splits a stream into the same blocks whatever the chunk boundaries', () => {
    fc.assert(fc.property(captureArb, fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1 }), ([ifaces, packets], cuts) => {
      const bytes = file(ifaces, packets);
      const splitter = new BlockSplitter();
      const blocks = [];
      for (let o = 0, k = 0; o < bytes.length; k++) {
        const n = cuts[k % cuts.length];
        blocks.push(...splitter.push(bytes.subarray(o, o + n)));
        o += n;
      }
      expect(splitter.buffered).toBe(0);
      expect(blocks.map((b) => b.type)).toEqual([BLOCK_SHB, ...ifaces.map(() => BLOCK_IDB), ...packets.map(() => BLOCK_EPB)]);
      expect(Buffer.concat(blocks.map((b) => b.bytes))).toEqual(bytes);
    }));
  });

  it('writeEpb writes every byte of its block, zero padding included, and nothing else', () => {
    const out = Buffer.alloc(64, 0xa5);
    const opts = commentOption('tx_busy');
    const n = writeEpb(out, 4, 3, 1, 2, Buffer.from([1, 2, 3, 4, 5]), 0, 5, 60, opts);
    expect(n).toBe(28 + 8 + opts.length + 4);
    expect(out.subarray(0, 4)).toEqual(Buffer.alloc(4, 0xa5));
    expect(out.subarray(4 + 28, 4 + 36)).toEqual(Buffer.from([1, 2, 3, 4, 5, 0, 0, 0]));
    expect(out.readUInt32LE(4 + n - 4)).toBe(n);
    expect(out.subarray(4 + n)).toEqual(Buffer.alloc(64 - 4 - n, 0xa5));
  });

  it('reads interface statistics blocks into the interface', () => {
    const r = new PcapngReader();
    const s = new BlockSplitter().push(Buffer.concat([
      sectionHeader('t'), interfaceDescription({ linktype: 1, snaplen: 100, name: 'drop', nano: false }),
      interfaceStatistics(0, 0, 0, 12, 3),
    ]));
    expect(s[2].type).toBe(BLOCK_ISB);
    for (const b of s) r.read(b.bytes);
    expect(r.all[0]).toMatchObject({ name: 'drop', received: 12, dropped: 3 });
  });

  it('reads a big-endian section', () => {
    // SHB, IDB (if_tsresol 9) and one EPB with a comment, all big-endian.
    const be = (words: number[], tail: Buffer = Buffer.alloc(0)) => {
      const b = Buffer.alloc(words.length * 4);
      words.forEach((w, i) => b.writeUInt32BE(w >>> 0, i * 4));
      return Buffer.concat([b, tail]);
    };
    const shb = be([0x0a0d0d0a, 28, 0x1a2b3c4d, 0x00010000, 0xffffffff, 0xffffffff, 28]);
    const idb = be([1, 32, 0x00010000, 65535, 0x00090001, 0x09000000, 0, 32]);
    const data = Buffer.from('abcdef');
    const comment = Buffer.from('hello');
    const epbBody = be([6, 0, 0, 0, 1_500_000_000, data.length, 70], Buffer.concat([data, Buffer.alloc(2), be([0x00010005]), comment, Buffer.alloc(3), be([0])]));
    const epbBlock = Buffer.concat([epbBody, be([epbBody.length + 4])]);
    epbBlock.writeUInt32BE(epbBlock.length, 4);
    const c = readCapture(Buffer.concat([shb, idb, epbBlock]));
    expect(c.ifaces[0]).toMatchObject({ linktype: 1, snaplen: 65535, unitsPerSec: 1_000_000_000n });
    expect(c.packets).toHaveLength(1);
    expect(c.packets[0]).toMatchObject({ sec: 1, nsec: 500_000_000, origLen: 70, data, comment: 'hello' });
  });

  it('reads classic pcap in both byte orders, µs and ns', () => {
    const pcap = (le: boolean, magic: number, frac: number) => {
      const b = Buffer.alloc(24 + 16 + 3);
      const u32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
      const u16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
      u32(magic, 0);
      u16(2, 4);
      u16(4, 6);
      u32(65535, 16);
      u32(LINKTYPE_RAW, 20);
      u32(1_700_000_000, 24);
      u32(frac, 28);
      u32(3, 32);
      u32(40, 36);
      b.set([7, 8, 9], 40);
      return b;
    };
    for (const le of [true, false]) {
      const us = readCapture(pcap(le, 0xa1b2c3d4, 123456));
      expect(us.format).toBe('pcap');
      expect(us.ifaces[0]).toMatchObject({ linktype: LINKTYPE_RAW, unitsPerSec: 1_000_000n });
      expect(us.packets[0]).toMatchObject({ sec: 1_700_000_000, nsec: 123_456_000, origLen: 40, data: Buffer.from([7, 8, 9]) });
      const ns = readCapture(pcap(le, 0xa1b23c4d, 123456789));
      expect(ns.packets[0]).toMatchObject({ nsec: 123_456_789 });
    }
  });

  it('refuses what is not a capture, and a file cut inside a block', () => {
    expect(() => readCapture(Buffer.from('hello world'))).toThrow(/not a pcap or pcapng file/);
    const f = file([{ name: 'a', nano: false, linktype: 1 }], [{ ifId: 0, units: 1n, data: new Uint8Array(10), extra: 0 }]);
    expect(() => readCapture(f.subarray(0, f.length - 5))).toThrow(/ends inside a block/);
  });
});

describe('pcapng files as Wireshark\'s tools read them', () => {
  const ifaces = [{ name: 'wire-rx', nano: false, linktype: LINKTYPE_ETHERNET }, { name: 'drop', nano: true, linktype: LINKTYPE_ETHERNET }];
  const frame = Buffer.from('020000000002' + '020000000001' + '88b5' + 'ab'.repeat(46), 'hex');
  const packets: TestPacket[] = [
    { ifId: 0, units: 1_700_000_000_123_456n, data: frame, extra: 0 },
    { ifId: 1, units: 1_700_000_001_000_000_789n, data: frame.subarray(0, 20), extra: frame.length - 20, comment: 'unknown_vni' },
  ];
  const path = join(dir, 'two.pcapng');
  writeFileSync(path, file(ifaces, packets));

  it('tshark reads interfaces, times, lengths and comments', () => {
    const out = execFileSync('tshark', [
      '-r', path, '-T', 'fields', '-e', 'frame.interface_name', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len',
      '-e', 'frame.comment', '-e', 'eth.type',
    ], { encoding: 'utf8' });
    expect(out.trim().split('\n').map((l) => l.split('\t'))).toEqual([
      ['wire-rx', '1700000000.123456000', '60', '60', '', '0x88b5'],
      ['drop', '1700000001.000000789', '60', '20', 'unknown_vni', '0x88b5'],
    ]);
  });

  it('reads the pcap files editcap converts them to (µs and ns)', () => {
    for (const [format, nsec] of [['pcap', 0], ['nsecpcap', 789]] as const) {
      const out = join(dir, `two.${format}`);
      execFileSync('editcap', ['-F', format, path, out]);
      const c = readCapture(readFileSync(out));
      expect(c.format).toBe('pcap');
      expect(c.packets.map((p) => [p.sec, p.nsec, p.data.length, p.origLen])).toEqual([
        [1_700_000_000, 123_456_000, 60, 60],
        [1_700_000_001, nsec, 20, 60],
      ]);
    }
  });
});
