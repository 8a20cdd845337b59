// Runtime neighbour entries with `ip neigh`'s grammar, as the kernel's
// neighbour table takes them for a vxlan device:
//
//   add|replace|change|del IP [lladdr MAC] dev DEV [nud permanent]
//
// IP is IPv4 or IPv6, anywhere among the other words (as ip's). `add` refuses
// an address that has an entry (EEXIST), `change` one that has none
// (ENOENT), `replace` overwrites or creates, `del` of a missing entry is an
// error (ENOENT). An entry belongs to the VNI of the port DEV: the ARP/ND
// proxy answers from it on every port of that VNI. Entries are permanent.
// As in fdb-commands.ts, the client sends the words as typed; the instance
// parses them (bounded), decides against queue 0's table, and every queue
// applies the change before the answer.
import { VxtapError } from '../core/errors.js';
import { FAMILY_IPV4, FAMILY_IPV6, type NeighFamily } from '../switch/neigh.js';
import { formatIpv4Addr, formatIpv6Addr, parseIpv4Addr, parseIpv6Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac } from '../wire/mac.js';
import type { VtepQueues } from '../vxlan/queues.js';
import type { NeighChange, NeighRow, Vtep } from '../vxlan/vtep.js';
import { devNameProblem } from './control-path.js';
import { commandWords, quoteWord } from './words.js';

/** The words one command may have, and the longest word: a request is bounded. */
export const MAX_NEIGH_WORDS = 10;
export const MAX_NEIGH_WORD_CHARS = 64;

const VERBS = ['add', 'replace', 'change', 'del'] as const;
export type NeighVerb = (typeof VERBS)[number];

export interface NeighCommand {
  verb: NeighVerb;
  family: NeighFamily;
  /** One uint32 word (IPv4) or four (IPv6). */
  addr: number[];
  /** Absent only for del. */
  mac?: number;
  dev: string;
}

/** What a change answers: whether anything changed (replace with the entry as it is does not). */
export interface NeighReply {
  changed: boolean;
}

const bad = (msg: string): never => {
  throw new VxtapError('E_USAGE', `neigh: ${msg}`);
};
const q = (s: unknown): string => quoteWord(s, MAX_NEIGH_WORD_CHARS);

/** The address of `word`, or why the proxy could never answer for it. */
function parseTarget(word: string): { family: NeighFamily; addr: number[] } {
  if (word.includes(':')) {
    let a: number[] = [];
    try {
      a = parseIpv6Addr(word);
    } catch {
      bad(`${q(word)} is not an IPv6 address`);
    }
    const first = a[0] >>> 24;
    const zero = (a[0] | a[1] | a[2]) === 0;
    if (zero && (a[3] === 0 || a[3] === 1)) bad(`${q(word)} is the ${a[3] === 0 ? 'unspecified' : 'loopback'} address, which no neighbour has: give a unicast address`);
    if (first === 0xff) bad(`${q(word)} is a multicast address, which no neighbour entry answers for: give a unicast address`);
    return { family: FAMILY_IPV6, addr: a };
  }
  let v = 0;
  try {
    v = parseIpv4Addr(word);
  } catch {
    bad(`${q(word)} is not an IPv4 or IPv6 address`);
  }
  const first = v >>> 24;
  if (v === 0 || v === 0xffffffff) bad(`${q(word)} is not a host's address: give a unicast address`);
  if (first === 127) bad(`${q(word)} is a loopback address, which no neighbour has: give a unicast address`);
  if ((first & 0xf0) === 0xe0) bad(`${q(word)} is a multicast address, which no neighbour entry answers for: give a unicast address`);
  return { family: FAMILY_IPV4, addr: [v] };
}

/** Parses the words after `neigh` (or a request's `args`); every error names the word that is wrong. */
export function parseNeighWords(words: unknown): NeighCommand {
  const [verb, ...rest] = commandWords(words, MAX_NEIGH_WORDS, MAX_NEIGH_WORD_CHARS, bad);
  if (!(VERBS as readonly string[]).includes(verb)) bad(`unknown command ${q(verb ?? '')}: expected add, replace, change, del or show`);
  const seen = new Map<string, string>();
  let target: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i];
    if (key === 'lladdr' || key === 'dev' || key === 'nud') {
      if (seen.has(key)) bad(`${q(key)} is given twice`);
      const value = rest[++i];
      if (value === undefined) bad(`${q(key)} needs a value: ${key === 'dev' ? 'the TAP device' : key === 'lladdr' ? 'a MAC such as 02:00:00:00:00:01' : 'permanent'}`);
      seen.set(key, value);
      continue;
    }
    if (key === 'proxy' || key === 'router' || key === 'extern_learn' || key === 'managed') bad(`${q(key)} is not supported: vxtap's entries are plain permanent ones`);
    if (target !== undefined) bad(`unexpected word ${q(key)}: the address is ${q(target)} already; expected lladdr, dev or nud`);
    target = key;
  }
  if (target === undefined) bad(`${q(verb)} needs the neighbour's address (IP), IPv4 or IPv6`);
  const { family, addr } = parseTarget(target!);
  const lladdr = seen.get('lladdr');
  let mac: number | undefined;
  if (lladdr !== undefined) {
    try {
      mac = parseMac(lladdr);
    } catch {
      bad(`lladdr ${q(lladdr)} is not a MAC address: write it as aa:bb:cc:dd:ee:ff`);
    }
    if (mac === 0 || Math.floor(mac! / 2 ** 40) & 1) bad(`lladdr ${q(lladdr)} is not a unicast MAC, which a host has: give the neighbour's own`);
  } else if (verb !== 'del') {
    bad(`${q(verb)} needs 'lladdr MAC', the MAC the proxy answers with`);
  }
  const nud = seen.get('nud');
  if (nud !== undefined && nud !== 'permanent') bad(`nud ${q(nud)}: vxtap's entries are permanent: give nud permanent or leave it out`);
  const dev = seen.get('dev') ?? bad(`${q(verb)} needs 'dev DEV', the instance's TAP device`);
  const devProblem = devNameProblem(dev);
  if (devProblem !== null) bad(`dev ${q(dev)}: a device name ${devProblem}`);
  return { verb: verb as NeighVerb, family, addr, ...(mac !== undefined && { mac }), dev };
}

function formatAddr(family: NeighFamily, addr: number[]): string {
  return family === FAMILY_IPV4 ? formatIpv4Addr(addr[0]) : formatIpv6Addr(addr);
}

/** The VNI of port `dev`; an error naming it when the instance has no such port. */
function vniOfDev(vtep: Vtep, dev: string): number {
  return vtep.vniOf(dev) ?? bad(`dev ${q(dev)} is not a port of this instance: it has ${vtep.portNames().join(', ')}`);
}

/** The change `c` makes to queue 0's table, or null when it changes nothing; errors name the word that is wrong. */
export function resolveNeighCommand(c: NeighCommand, vtep: Vtep): NeighChange | null {
  const vni = vniOfDev(vtep, c.dev);
  const ip = formatAddr(c.family, c.addr);
  const entry = vtep.neighEntry(vni, c.family, c.addr);
  if (c.verb === 'del') {
    if (entry === undefined) bad(`${ip} has no entry on VNI ${vni} (ENOENT)`);
    if (c.mac !== undefined && c.mac !== entry!.mac) bad(`lladdr '${formatMac(c.mac)}': the entry for ${ip} is lladdr ${formatMac(entry!.mac)} (ENOENT)`);
    return { op: 'delete', vni, family: c.family, addr: c.addr };
  }
  if (c.verb === 'add' && entry !== undefined) bad(`${ip} has an entry on VNI ${vni} (EEXIST): use replace to overwrite it`);
  if (c.verb === 'change' && entry === undefined) bad(`${ip} has no entry on VNI ${vni} to change (ENOENT): use add or replace`);
  if (entry !== undefined && entry.mac === c.mac && entry.dev === c.dev) return null;
  return { op: 'set', vni, family: c.family, addr: c.addr, mac: c.mac!, dev: c.dev };
}

/** Serves one `neigh-update` request: parses its words, decides the change and answers once every queue applied it. */
export async function neighUpdate(args: unknown, queues: VtepQueues | undefined): Promise<NeighReply> {
  const command = parseNeighWords(args);
  if (queues === undefined) bad('this instance has no VXLAN network (it runs the udp overlay only)');
  const change = resolveNeighCommand(command, queues!.leader);
  if (change === null) return { changed: false };
  const full = await queues!.applyNeigh(change);
  if (full.length > 0) bad(`${formatAddr(command.family, command.addr)}: the neighbour table of VNI ${change.vni} is full in queue ${full.join(', ')}: delete entries first`);
  return { changed: true };
}

/** Serves one `neigh` request: the entries of every VNI, or of the VNI of `dev`. */
export function neighShow(dev: unknown, vtep: Vtep | undefined): NeighRow[] {
  if (vtep === undefined) return [];
  if (dev === undefined) return vtep.neighRows();
  if (typeof dev !== 'string' || devNameProblem(dev) !== null) bad(`dev ${q(dev)} is not a device name`);
  return vtep.neighRows(vniOfDev(vtep, dev as string));
}
