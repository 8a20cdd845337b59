// Runtime FDB changes with `bridge fdb`'s grammar, as the kernel's vxlan FDB
// takes them:
//
//   add|append|replace|del LLADDR dev DEV [dst IP] [vni N] [static|dynamic]
//
// The all-zeros LLADDR is the VNI's flood list: `append` adds a destination,
// `del ... dst IP` removes one, `del` without dst empties it. `add` refuses an
// entry that exists (EEXIST), `replace` overwrites or creates, `del` of a
// missing entry is an error (ENOENT). Without `dst` a unicast entry points at
// the local port DEV. The client sends the words as they were typed; the
// instance parses them here (bounded: it is a request from the socket), decides
// the change against queue 0's FDB and has every queue apply it.
import { VxtapError } from '../core/errors.js';
import { formatIpv4Addr, parseIpv4Addr } from '../wire/ipaddr.js';
import { formatMac, parseMac } from '../wire/mac.js';
import { VNI_MAX } from '../wire/vxlan.js';
import type { VtepQueues } from '../vxlan/queues.js';
import type { FdbChange, Vtep } from '../vxlan/vtep.js';
import { devNameProblem } from './control-path.js';
import { commandWords, quoteWord } from './words.js';

/** The words one command may have, and the longest word: a request is bounded. */
export const MAX_FDB_WORDS = 12;
export const MAX_FDB_WORD_CHARS = 64;

const VERBS = ['add', 'append', 'replace', 'del'] as const;
export type FdbVerb = (typeof VERBS)[number];

export interface FdbCommand {
  verb: FdbVerb;
  mac: number;
  dev: string;
  /** Remote VTEP (uint32); absent: the local port `dev`. */
  dst?: number;
  vni?: number;
  isStatic: boolean;
}

/** What a change answers: whether anything changed (append of a destination already listed does not). */
export interface FdbReply {
  changed: boolean;
}

const ZERO_MAC = 0;

const bad = (msg: string): never => {
  throw new VxtapError('E_USAGE', `fdb: ${msg}`);
};

const q = (s: unknown): string => quoteWord(s, MAX_FDB_WORD_CHARS);

/** Parses the words after `fdb` (or a request's `args`); every error names the word that is wrong. */
export function parseFdbWords(words: unknown): FdbCommand {
  const [verb, lladdr, ...rest] = commandWords(words, MAX_FDB_WORDS, MAX_FDB_WORD_CHARS, bad);
  if (!(VERBS as readonly string[]).includes(verb)) bad(`unknown command ${q(verb ?? '')}: expected add, append, replace, del or show`);
  if (lladdr === undefined) bad(`${q(verb)} needs LLADDR, a MAC such as 00:00:00:00:00:00 (the flood list)`);
  let mac = 0;
  try {
    mac = parseMac(lladdr);
  } catch {
    bad(`${q(lladdr)} is not a MAC address (LLADDR): write it as aa:bb:cc:dd:ee:ff`);
  }
  const seen = new Map<string, string>();
  for (let i = 0; i < rest.length; i++) {
    const key = rest[i];
    if (key === 'static' || key === 'dynamic') {
      const other = key === 'static' ? 'dynamic' : 'static';
      if (seen.has(key) || seen.has(other)) bad(`${q(key)}: the state is given already`);
      seen.set(key, '');
      continue;
    }
    if (key !== 'dev' && key !== 'dst' && key !== 'vni') bad(`unexpected word ${q(key)}: expected dev, dst, vni, static or dynamic`);
    if (seen.has(key)) bad(`${q(key)} is given twice`);
    const value = rest[++i];
    if (value === undefined) bad(`${q(key)} needs a value: ${key === 'dev' ? 'the TAP device' : key === 'dst' ? 'the remote VTEP\'s IPv4 address' : 'a VNI'}`);
    seen.set(key, value);
  }
  const dev = seen.get('dev') ?? bad(`${q(verb)} needs 'dev DEV', the instance's TAP device`);
  const devProblem = devNameProblem(dev);
  if (devProblem !== null) bad(`dev ${q(dev)}: a device name ${devProblem}`);
  const dstWord = seen.get('dst');
  let dst: number | undefined;
  if (dstWord !== undefined) {
    try {
      dst = parseIpv4Addr(dstWord);
    } catch {
      bad(`dst ${q(dstWord)} is not an IPv4 address`);
    }
    if (dst === 0) bad(`dst ${q(dstWord)}: give the remote VTEP's address`);
  }
  const vniWord = seen.get('vni');
  if (vniWord !== undefined && (!/^\d{1,8}$/.test(vniWord) || Number(vniWord) > VNI_MAX)) bad(`vni ${q(vniWord)}: expected a number 0-${VNI_MAX}`);
  const isStatic = !seen.has('dynamic');
  if (mac === ZERO_MAC) {
    if (verb !== 'del' && dst === undefined) bad(`${q(lladdr)} is the flood list, which holds remote VTEPs: add 'dst IP'`);
    if (!isStatic) bad(`'dynamic': the flood list (${q(lladdr)}) does not age`);
  } else {
    if (Math.floor(mac / 2 ** 40) & 1) bad(`${q(lladdr)} is a multicast address, which goes to the flood list: give a unicast MAC or 00:00:00:00:00:00`);
    if (verb === 'append') bad(`'append' adds to the flood list (00:00:00:00:00:00); ${q(lladdr)} has one destination: use add or replace`);
  }
  return { verb: verb as FdbVerb, mac, dev, ...(dst !== undefined && { dst }), ...(vniWord !== undefined && { vni: Number(vniWord) }), isStatic };
}

/** The change `c` makes to queue 0's FDB, or null when it changes nothing; errors name the word that is wrong. */
export function resolveFdbCommand(c: FdbCommand, vtep: Vtep): FdbChange | null {
  const vni = vtep.vniOf(c.dev) ?? bad(`dev ${q(c.dev)} is not a port of this instance: it has ${vtep.portNames().join(', ')}`);
  if (c.vni !== undefined && c.vni !== vni) bad(`vni '${c.vni}': dev ${c.dev} is on VNI ${vni}`);
  const mac = formatMac(c.mac);
  if (c.mac === ZERO_MAC) {
    const list = vtep.floodList(vni);
    const dst = c.dst;
    const listed = dst !== undefined && list.includes(dst);
    const flood = (remotes: number[]): FdbChange => ({ op: 'flood', vni, remotes });
    switch (c.verb) {
      case 'add':
        if (list.length > 0) bad(`${mac} exists on VNI ${vni} (EEXIST): use append to add a destination to the flood list`);
        return flood([dst!]);
      case 'append':
        return listed ? null : flood([...list, dst!]);
      case 'replace':
        // As the kernel: the first destination is replaced, the others stay.
        return listed ? null : flood([dst!, ...list.slice(1)]);
      case 'del':
        if (list.length === 0) bad(`${mac} has no entry on VNI ${vni} (ENOENT)`);
        if (dst === undefined) return flood([]);
        if (!listed) bad(`dst '${formatIpv4Addr(dst)}' is not in the flood list of VNI ${vni} (ENOENT)`);
        return flood(list.filter((r) => r !== dst));
    }
  }
  const entry = vtep.entry(vni, c.mac);
  if (c.verb === 'del') {
    if (entry === undefined) bad(`${mac} has no entry on VNI ${vni} (ENOENT)`);
    if (c.dst !== undefined && entry!.remote !== c.dst) bad(`dst '${formatIpv4Addr(c.dst)}': the entry for ${mac} is ${entry!.dev !== undefined ? `dev ${entry!.dev}` : `dst ${formatIpv4Addr(entry!.remote!)}`} (ENOENT)`);
    return { op: 'delete', vni, mac: c.mac };
  }
  if (c.verb === 'add' && entry !== undefined) bad(`${mac} exists on VNI ${vni} (EEXIST): use replace to overwrite it`);
  return { op: 'set', vni, mac: c.mac, ...(c.dst === undefined && { dev: c.dev }), remote: c.dst ?? 0, isStatic: c.isStatic };
}

/** Serves one `fdb-update` request: parses its words, decides the change and answers once every queue applied it. */
export async function fdbUpdate(args: unknown, queues: VtepQueues | undefined): Promise<FdbReply> {
  const command = parseFdbWords(args);
  if (queues === undefined) bad('this instance has no VXLAN FDB (it runs the udp overlay only)');
  const change = resolveFdbCommand(command, queues!.leader);
  if (change === null) return { changed: false };
  const full = await queues!.applyFdb(change);
  if (full.length > 0) bad(`${formatMac(command.mac)}: the FDB of VNI ${change.vni} is full (maxaddress) in queue ${full.join(', ')}: delete entries or raise maxaddress`);
  return { changed: true };
}
