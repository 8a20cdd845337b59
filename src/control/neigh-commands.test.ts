import { describe, expect, it } from 'vitest';
import { FAMILY_IPV4, FAMILY_IPV6 } from '../switch/neigh.js';
import { MAX_NEIGH_WORD_CHARS, MAX_NEIGH_WORDS, parseNeighWords } from './neigh-commands.js';

const MAC = '02:00:00:00:00:0b';

describe('parseNeighWords (ip neigh grammar)', () => {
  it('takes IPv4 and IPv6 addresses anywhere among the other words', () => {
    expect(parseNeighWords(['add', '203.0.113.2', 'lladdr', MAC, 'dev', 'vxt0']))
      .toEqual({ verb: 'add', family: FAMILY_IPV4, addr: [0xcb007102], mac: 0x02000000000b, dev: 'vxt0' });
    expect(parseNeighWords(['replace', 'dev', 'vxt0', 'nud', 'permanent', 'lladdr', '02-00-00-00-00-0B', '2001:DB8::2']))
      .toEqual({ verb: 'replace', family: FAMILY_IPV6, addr: [0x20010db8, 0, 0, 2], mac: 0x02000000000b, dev: 'vxt0' });
    expect(parseNeighWords(['del', 'fe80::2', 'dev', 'vxt0'])).toEqual({ verb: 'del', family: FAMILY_IPV6, addr: [0xfe800000, 0, 0, 2], dev: 'vxt0' });
    expect(parseNeighWords(['change', '::ffff:203.0.113.2', 'lladdr', MAC, 'dev', 'vxt0']).family).toBe(FAMILY_IPV6);
  });

  // Each case: the words, and the word the one-line error must name.
  const cases: Array<[string, unknown, string]> = [
    ['an unknown verb', ['flush', '203.0.113.2', 'dev', 'vxt0'], "'flush'"],
    ['no address', ['add', 'lladdr', MAC, 'dev', 'vxt0'], "'add' needs the neighbour's address"],
    ['two addresses', ['add', '203.0.113.2', '203.0.113.3', 'lladdr', MAC, 'dev', 'vxt0'], "unexpected word '203.0.113.3'"],
    ['a bad IPv4 address', ['add', '203.0.113.256', 'lladdr', MAC, 'dev', 'vxt0'], "'203.0.113.256' is not an IPv4 or IPv6 address"],
    ['a bad IPv6 address', ['add', '2001:db8:::2', 'lladdr', MAC, 'dev', 'vxt0'], "'2001:db8:::2' is not an IPv6 address"],
    ['a zone', ['add', 'fe80::2%vxt0', 'lladdr', MAC, 'dev', 'vxt0'], "'fe80::2%vxt0'"],
    ['0.0.0.0', ['add', '0.0.0.0', 'lladdr', MAC, 'dev', 'vxt0'], "'0.0.0.0'"],
    ['broadcast', ['add', '255.255.255.255', 'lladdr', MAC, 'dev', 'vxt0'], "'255.255.255.255'"],
    ['IPv4 loopback', ['add', '127.0.0.2', 'lladdr', MAC, 'dev', 'vxt0'], "'127.0.0.2' is a loopback address"],
    ['IPv4 multicast', ['add', '239.1.1.1', 'lladdr', MAC, 'dev', 'vxt0'], "'239.1.1.1' is a multicast address"],
    ['IPv6 unspecified', ['add', '::', 'lladdr', MAC, 'dev', 'vxt0'], "'::' is the unspecified address"],
    ['IPv6 loopback', ['add', '::1', 'lladdr', MAC, 'dev', 'vxt0'], "'::1' is the loopback address"],
    ['IPv6 multicast', ['add', 'ff02::1', 'lladdr', MAC, 'dev', 'vxt0'], "'ff02::1' is a multicast address"],
    ['add without lladdr', ['add', '203.0.113.2', 'dev', 'vxt0'], "'add' needs 'lladdr MAC'"],
    ['a bad lladdr', ['add', '203.0.113.2', 'lladdr', '02:00:00:00:0b', 'dev', 'vxt0'], "lladdr '02:00:00:00:0b' is not a MAC"],
    ['a multicast lladdr', ['add', '203.0.113.2', 'lladdr', '33:33:00:00:00:01', 'dev', 'vxt0'], "lladdr '33:33:00:00:00:01' is not a unicast MAC"],
    ['a zero lladdr', ['add', '203.0.113.2', 'lladdr', '00:00:00:00:00:00', 'dev', 'vxt0'], "lladdr '00:00:00:00:00:00'"],
    ['another nud state', ['add', '203.0.113.2', 'lladdr', MAC, 'dev', 'vxt0', 'nud', 'reachable'], "nud 'reachable'"],
    ['a keyword without its value', ['add', '203.0.113.2', 'lladdr', MAC, 'dev'], "'dev' needs a value"],
    ['a keyword twice', ['add', '203.0.113.2', 'lladdr', MAC, 'dev', 'vxt0', 'dev', 'vxt1'], "'dev' is given twice"],
    ['no dev', ['add', '203.0.113.2', 'lladdr', MAC], "'dev DEV'"],
    ['a bad device name', ['add', '203.0.113.2', 'lladdr', MAC, 'dev', 'a b'], "dev 'a b'"],
    ['a flag vxtap has not', ['add', '203.0.113.2', 'lladdr', MAC, 'dev', 'vxt0', 'router'], "'router' is not supported"],
    ['a word that is not a string', ['add', 7], "word '7'"],
    ['args that are not an array', { verb: 'add' }, 'args'],
    ['too many words', Array(MAX_NEIGH_WORDS + 1).fill('dev'), `more than the ${MAX_NEIGH_WORDS}`],
    ['a word too long', ['add', 'a'.repeat(MAX_NEIGH_WORD_CHARS + 1)], `longer than ${MAX_NEIGH_WORD_CHARS}`],
  ];
  it.each(cases)('refuses %s with one line that names the word', (_, words, named) => {
    let err: unknown;
    try {
      parseNeighWords(words);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ name: 'VxtapError', code: 'E_USAGE' });
    const message = (err as Error).message;
    expect(message).toMatch(/^neigh: /);
    expect(message).toContain(named);
    expect(message).not.toContain('\n');
  });
});
