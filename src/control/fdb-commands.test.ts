import { describe, expect, it } from 'vitest';
import { MAX_FDB_WORD_CHARS, MAX_FDB_WORDS, parseFdbWords } from './fdb-commands.js';

const ZERO = '00:00:00:00:00:00';

describe('parseFdbWords (bridge fdb grammar)', () => {
  it('takes the words in any order after LLADDR', () => {
    expect(parseFdbWords(['append', ZERO, 'dev', 'vxt0', 'dst', '198.51.100.2'])).toEqual({ verb: 'append', mac: 0, dev: 'vxt0', dst: 0xc6336402, isStatic: true });
    expect(parseFdbWords(['replace', '02:00:00:00:00:01', 'dynamic', 'vni', '42', 'dst', '198.51.100.3', 'dev', 'vxt0']))
      .toEqual({ verb: 'replace', mac: 0x020000000001, dev: 'vxt0', dst: 0xc6336403, vni: 42, isStatic: false });
    expect(parseFdbWords(['add', '02-00-00-00-00-01', 'dev', 'vxt0', 'static'])).toEqual({ verb: 'add', mac: 0x020000000001, dev: 'vxt0', isStatic: true });
    expect(parseFdbWords(['del', ZERO, 'dev', 'vxt0'])).toEqual({ verb: 'del', mac: 0, dev: 'vxt0', isStatic: true });
  });

  // Each case: the words, and the word the one-line error must name.
  const cases: Array<[string, unknown, string]> = [
    ['an unknown verb', ['flush', ZERO, 'dev', 'vxt0'], "'flush'"],
    ['no LLADDR', ['add'], "'add' needs LLADDR"],
    ['a bad LLADDR', ['add', '02:00:00:00:01', 'dev', 'vxt0'], "'02:00:00:00:01'"],
    ['an unknown keyword', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'via', 'x'], "'via'"],
    ['no dev', ['add', '02:00:00:00:00:01', 'dst', '198.51.100.2'], "'dev DEV'"],
    ['a keyword without its value', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'dst'], "'dst' needs a value"],
    ['a keyword twice', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'dev', 'vxt1'], "'dev' is given twice"],
    ['a bad device name', ['add', '02:00:00:00:00:01', 'dev', 'a:b'], "dev 'a:b'"],
    ['a bad dst', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'dst', '198.51.100'], "dst '198.51.100'"],
    ['dst 0.0.0.0', ['append', ZERO, 'dev', 'vxt0', 'dst', '0.0.0.0'], "dst '0.0.0.0'"],
    ['a VNI out of range', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'vni', '16777216'], "vni '16777216'"],
    ['a VNI that is not a number', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'vni', '0x2a'], "vni '0x2a'"],
    ['two states', ['add', '02:00:00:00:00:01', 'dev', 'vxt0', 'static', 'dynamic'], "'dynamic'"],
    ['a flood entry without dst', ['append', ZERO, 'dev', 'vxt0'], "'00:00:00:00:00:00' is the flood list"],
    ['a dynamic flood entry', ['append', ZERO, 'dev', 'vxt0', 'dst', '198.51.100.2', 'dynamic'], "'dynamic'"],
    ['a multicast LLADDR', ['add', '01:00:5e:00:00:01', 'dev', 'vxt0', 'dst', '198.51.100.2'], "'01:00:5e:00:00:01'"],
    ['append to a unicast MAC', ['append', '02:00:00:00:00:01', 'dev', 'vxt0', 'dst', '198.51.100.2'], "'append'"],
    ['a word that is not a string', ['add', 7], "word '7'"],
    ['args that are not an array', 'add', 'args'],
    ['too many words', Array(MAX_FDB_WORDS + 1).fill('static'), `more than the ${MAX_FDB_WORDS}`],
    ['a word too long', ['add', 'a'.repeat(MAX_FDB_WORD_CHARS + 1)], `longer than ${MAX_FDB_WORD_CHARS}`],
  ];
  it.each(cases)('refuses %s with one line that names the word', (_, words, named) => {
    let err: unknown;
    try {
      parseFdbWords(words);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'VxtapError', code: 'E_USAGE' });
    const message = (err as Error).message;
    expect(message).toContain(named);
    expect(message).not.toContain('\n');
  });

  it('cuts a long word short in its error', () => {
    expect(() => parseFdbWords(['x'.repeat(MAX_FDB_WORD_CHARS)])).toThrow(/'x{64}'/);
    expect(() => parseFdbWords(['add', 'b'.repeat(MAX_FDB_WORD_CHARS + 1)])).toThrow(/'b{64}\.\.\.'/);
  });
});
