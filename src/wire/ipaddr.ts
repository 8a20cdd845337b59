/**
 * IP address text conversion (configuration, CLI, printing; not the hot
 * path). IPv4 addresses are uint32 numbers in network order: 10.0.0.1 is
 * 0x0a000001. IPv6 addresses are four such words, most significant first:
 * 2001:db8::1 is [0x20010db8, 0, 0, 1].
 */

// Decimal 0-255 without leading zeros: "010" is rejected rather than guessed
// at, since inet_aton(3) would read it as octal 8.
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const QUAD = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const ADDR_RE = new RegExp(`^${QUAD}$`);
const CIDR_RE = new RegExp(`^(${QUAD})/(3[0-2]|[12]?\\d)$`);

/** Parses a dotted quad such as `192.168.0.1` into a uint32; throws naming the bad value. */
export function parseIpv4Addr(s: string): number {
  const m = ADDR_RE.exec(s);
  if (m === null) throw new Error(`invalid IPv4 address ${JSON.stringify(s)}`);
  return ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
}

/** Formats a uint32 as a dotted quad. */
export function formatIpv4Addr(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/**
 * Parses `a.b.c.d/len` (len 0-32, no leading zeros). The address is returned
 * as written, host bits included, so `10.0.0.1/24` can name an interface
 * address and its subnet at once. Throws naming the bad value.
 */
export function parseCidr(s: string): { addr: number; len: number } {
  const m = CIDR_RE.exec(s);
  if (m === null) throw new Error(`invalid CIDR ${JSON.stringify(s)}`);
  return { addr: parseIpv4Addr(m[1]), len: +m[6] };
}

/** The text forms of an IPv6 address are at most this long (an IPv4 tail included). */
const IPV6_TEXT_MAX = 45;
const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses an IPv6 address in the RFC 4291 section 2.2 forms (`::` once, an
 * optional dotted-quad tail) into four uint32 words; no zone, no prefix.
 * Throws naming the bad value.
 */
export function parseIpv6Addr(s: string): number[] {
  const bad = (): never => {
    throw new Error(`invalid IPv6 address ${JSON.stringify(s.length > IPV6_TEXT_MAX ? `${s.slice(0, IPV6_TEXT_MAX)}...` : s)}`);
  };
  if (s.length > IPV6_TEXT_MAX || s.length < 2) bad();
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    const words = part.split(':');
    words.forEach((w, i) => {
      if (i === words.length - 1 && w.includes('.')) {
        let v = 0;
        try {
          v = parseIpv4Addr(w);
        } catch {
          bad();
        }
        out.push(v >>> 16, v & 0xffff);
      } else if (HEXTET.test(w)) {
        out.push(parseInt(w, 16));
      } else {
        bad();
      }
    });
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  // A dotted quad only ends the address.
  if (halves.length === 2 && halves[0].includes('.')) bad();
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) bad();
  const all = [...head, ...Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  return [0, 1, 2, 3].map((k) => ((all[2 * k] << 16) | all[2 * k + 1]) >>> 0);
}

/** Formats four words as RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIpv6Addr(w: readonly number[]): string {
  const g = w.flatMap((x) => [(x >>> 16) & 0xffff, x & 0xffff]);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
