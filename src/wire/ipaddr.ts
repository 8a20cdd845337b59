/**
 * IPv4 address text conversion (configuration, CLI, printing; not the hot
 * path). Addresses are uint32 numbers in network order: 10.0.0.1 is 0x0a000001.
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
