// The capture filter language, compiled once into a predicate that runs on
// every mirrored frame without allocating.
//
//   expr      := term (("and" | "&&" | "or" | "||") term)*
//   term      := ("not" | "!") term | "(" expr ")" | primitive
//   primitive := "vni" N | "mac" MAC | "host" IPv4 | "port" N
//              | ["proto"] ("tcp" | "udp" | "icmp" | "arp")
//
// As in pcap-filter(7), "and" and "or" have equal precedence and group left to
// right; "not" binds tightest. A primitive matches if any layer matches: the
// outer Ethernet/IPv4/UDP or the frame inside VXLAN or the udp overlay. So
// `host 198.51.100.2` selects traffic to or from that VTEP and `host
// 203.0.113.2` traffic to or from that overlay address; `proto udp` matches
// every VXLAN packet (its outer header is UDP).
//
// Filter text comes from whoever can reach the control socket, and the
// predicate runs on the data path's thread, so its size is bounded: at most
// MAX_FILTER_LENGTH characters, and at most MAX_FILTER_DEPTH levels of
// nesting, both while parsing and in the compiled predicate. A run of one
// operator (`a or b or c ...`) compiles to one loop, not to nested closures,
// so only '(', 'not' and a switch between 'and' and 'or' add a level.
import { VxtapError } from '../core/errors.js';
import { getI32, getU16 } from '../wire/bytes.js';
import { ARP_SPA, ARP_TPA } from '../wire/arp.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_SRC } from '../wire/ethernet.js';
import { parseIpv4Addr } from '../wire/ipaddr.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_DST, IPV4_SRC } from '../wire/ipv4.js';
import { macHi, macLo, macNumberHi, macNumberLo, parseMac } from '../wire/mac.js';
import { VNI_MAX } from '../wire/vxlan.js';
import { ETH, L4, LEVELS, NET, PROTO, STRIDE, TYPE, VNI, dissect, newLayers } from './dissect.js';
import { LINKTYPE_ETHERNET } from './pcapng.js';

const PROTOCOLS = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP, arp: -1 } as const;
export type Protocol = keyof typeof PROTOCOLS;

export type FilterNode =
  | { op: 'and' | 'or'; a: FilterNode; b: FilterNode }
  | { op: 'not'; a: FilterNode }
  | { op: 'vni' | 'port' | 'host' | 'mac'; value: number }
  | { op: 'proto'; value: Protocol };

/** Does the frame b[off, off+len) match? `vni` is the VNI it was seen on, or -1 if it carries its own. */
export type FramePredicate = (b: Uint8Array, off: number, len: number, vni: number) => boolean;

interface Token {
  text: string;
  col: number;
}

/** Longest filter accepted, in characters: a bound on the work done per mirrored frame. */
export const MAX_FILTER_LENGTH = 4096;
/** Deepest nesting accepted: bounds the parser's and the predicate's recursion. */
export const MAX_FILTER_DEPTH = 64;

const PRIMITIVE = "'vni', 'mac', 'host', 'port', 'proto', 'tcp', 'udp', 'icmp', 'arp', 'not' or '('";

const TOKEN = /\s*(\(|\)|&&|\|\||!|[^\s()!&|]+|\S)/y;

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(src); m !== null; m = TOKEN.exec(src)) {
    out.push({ text: m[1], col: m.index + m[0].length - m[1].length + 1 });
  }
  return out;
}

function tooDeep(): never {
  throw new VxtapError('E_USAGE', `--filter: nested more than ${MAX_FILTER_DEPTH} levels deep (each '(', 'not' and switch between 'and' and 'or' is one): simplify it`);
}

/** A parsed subtree and the depth of its compiled predicate (see compile()). */
type Subtree = [node: FilterNode, height: number];

class Parser {
  private i = 0;
  /** Open '(' and 'not' around the current token: the parser's own recursion. */
  private nesting = 0;

  constructor(private readonly tokens: Token[]) {}

  private fail(expected: string): never {
    const t = this.tokens[this.i];
    const got = t === undefined ? 'the end of the filter' : `'${t.text}' at column ${t.col}`;
    throw new VxtapError('E_USAGE', `filter: expected ${expected}, got ${got}`);
  }

  private peek(): string | undefined {
    return this.tokens[this.i]?.text;
  }

  expr(): Subtree {
    let [a, height] = this.term();
    // The operator of the run that `a` ends and the deepest member of that run.
    let run: 'and' | 'or' | undefined;
    let deepest = 0;
    for (;;) {
      const t = this.peek();
      const op = t === 'and' || t === '&&' ? 'and' : t === 'or' || t === '||' ? 'or' : undefined;
      if (op === undefined) return [a, height];
      this.i++;
      const [b, hb] = this.term();
      // The same operator joins the run's loop; another one starts a run with `a` as its first member.
      if (op !== run) deepest = height;
      run = op;
      deepest = Math.max(deepest, hb);
      height = deepest + 1;
      if (height > MAX_FILTER_DEPTH) tooDeep();
      a = { op, a, b };
    }
  }

  private term(): Subtree {
    const t = this.peek();
    if (t === undefined) return this.fail(PRIMITIVE);
    this.i++;
    if (t === 'not' || t === '!' || t === '(') {
      if (++this.nesting > MAX_FILTER_DEPTH) tooDeep();
      const parsed = t === '(' ? this.parenthesised() : this.negated();
      this.nesting--;
      return parsed;
    }
    return [this.primitive(t), 1];
  }

  private negated(): Subtree {
    const [a, height] = this.term();
    if (height + 1 > MAX_FILTER_DEPTH) tooDeep();
    return [{ op: 'not', a }, height + 1];
  }

  private parenthesised(): Subtree {
    const e = this.expr();
    if (this.peek() !== ')') this.fail("'and', 'or' or ')'");
    this.i++;
    return e;
  }

  private primitive(t: string): FilterNode {
    if (Object.hasOwn(PROTOCOLS, t)) return { op: 'proto', value: t as Protocol };
    switch (t) {
      case 'vni': return { op: 'vni', value: this.number(`a VNI (0-${VNI_MAX}) after 'vni'`, VNI_MAX) };
      case 'port': return { op: 'port', value: this.number("a port (0-65535) after 'port'", 0xffff) };
      case 'host': return { op: 'host', value: this.parsed("an IPv4 address after 'host'", parseIpv4Addr) };
      case 'mac': return { op: 'mac', value: this.parsed("a MAC address such as 02:00:00:00:00:01 after 'mac'", parseMac) };
      case 'proto': {
        const p = this.peek();
        if (p === undefined || !Object.hasOwn(PROTOCOLS, p)) this.fail("'tcp', 'udp', 'icmp' or 'arp' after 'proto'");
        this.i++;
        return { op: 'proto', value: p as Protocol };
      }
    }
    this.i--;
    return this.fail(PRIMITIVE);
  }

  private number(expected: string, max: number): number {
    const t = this.peek();
    if (t === undefined || !/^\d+$/.test(t) || Number(t) > max) this.fail(expected);
    this.i++;
    return Number(t);
  }

  private parsed(expected: string, parse: (s: string) => number): number {
    const t = this.peek();
    let v: number | undefined;
    try {
      if (t !== undefined) v = parse(t);
    } catch {
      // reported below with the token
    }
    if (v === undefined) this.fail(expected);
    this.i++;
    return v;
  }

  end(): void {
    if (this.i < this.tokens.length) this.fail("'and', 'or' or the end of the filter");
  }
}

/** Parses a filter; null for an empty (match-all) one. Errors name the token and what was expected. */
export function parseFilter(src: string): FilterNode | null {
  if (src.length > MAX_FILTER_LENGTH) {
    throw new VxtapError('E_USAGE', `--filter: ${src.length} characters, more than the limit of ${MAX_FILTER_LENGTH}: shorten it`);
  }
  const tokens = tokenize(src);
  if (tokens.length === 0) return null;
  const p = new Parser(tokens);
  const [node] = p.expr();
  p.end();
  return node;
}

type Test = (L: Int32Array, b: Uint8Array) => boolean;

/**
 * The predicate of a tree whose height the parser bounded. A run of one
 * operator, which the parser builds left-deep (`((a or b) or c)`), becomes one
 * loop over its members, gathered without recursion.
 */
function compile(n: FilterNode): Test {
  switch (n.op) {
    case 'and':
    case 'or': {
      const members: FilterNode[] = [];
      let x: FilterNode = n;
      for (; (x.op === 'and' || x.op === 'or') && x.op === n.op; x = x.a) members.push(x.b);
      members.push(x);
      const tests = members.reverse().map(compile);
      const all = n.op === 'and';
      // Short-circuits as && and || do: stops at the first member that decides.
      return (L, buf) => {
        for (let k = 0; k < tests.length; k++) if (tests[k](L, buf) !== all) return !all;
        return all;
      };
    }
    case 'not': {
      const a = compile(n.a);
      return (L, buf) => !a(L, buf);
    }
    case 'vni': {
      const v = n.value;
      return (L) => L[VNI] === v;
    }
    case 'mac': {
      const hi = macNumberHi(n.value);
      const lo = macNumberLo(n.value);
      return anyLevel((L, b, s) => {
        const e = L[s + ETH];
        return e >= 0 && ((macHi(b, e) === hi && macLo(b, e) === lo) || (macHi(b, e + ETH_SRC) === hi && macLo(b, e + ETH_SRC) === lo));
      });
    }
    case 'host': {
      const ip = n.value | 0;
      return anyLevel((L, b, s) => {
        const p = L[s + NET];
        if (p < 0) return false;
        const t = L[s + TYPE];
        if (t === ETHERTYPE_IPV4) return getI32(b, p + IPV4_SRC) === ip || getI32(b, p + IPV4_DST) === ip;
        return t === ETHERTYPE_ARP && (getI32(b, p + ARP_SPA) === ip || getI32(b, p + ARP_TPA) === ip);
      });
    }
    case 'port': {
      const port = n.value;
      return anyLevel((L, b, s) => {
        const q = L[s + L4];
        const proto = L[s + PROTO];
        return q >= 0 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP) && (getU16(b, q) === port || getU16(b, q + 2) === port);
      });
    }
    case 'proto': {
      if (n.value === 'arp') return anyLevel((L, _b, s) => L[s + TYPE] === ETHERTYPE_ARP);
      const proto = PROTOCOLS[n.value];
      return anyLevel((L, _b, s) => L[s + NET] >= 0 && L[s + TYPE] === ETHERTYPE_IPV4 && L[s + PROTO] === proto);
    }
  }
}

function anyLevel(test: (L: Int32Array, b: Uint8Array, s: number) => boolean): Test {
  return (L, b) => {
    for (let level = 0, s = 0; level < L[LEVELS]; level++, s += STRIDE) if (test(L, b, s)) return true;
    return false;
  };
}

export interface FilterOptions {
  /** Only frames of this VNI (the capture's --vni). */
  vni?: number;
  linktype?: number;
  /** The instance's VXLAN port, read as VXLAN besides 4789 and 8472. */
  vxlanPort?: number;
  /** The instance's udp overlay port, read as the udp overlay besides 8285. */
  overlayPort?: number;
}

/** Compiles filter text (and a VNI restriction) into a predicate; throws a VxtapError naming the bad token. */
export function compileFilter(src: string, o: FilterOptions = {}): FramePredicate {
  let node = parseFilter(src);
  if (o.vni !== undefined) node = node === null ? { op: 'vni', value: o.vni } : { op: 'and', a: { op: 'vni', value: o.vni }, b: node };
  if (node === null) return () => true;
  const test = compile(node);
  const L = newLayers();
  const linktype = o.linktype ?? LINKTYPE_ETHERNET;
  const vxlanPort = o.vxlanPort ?? 0;
  const overlayPort = o.overlayPort ?? 0;
  return (b, off, len, vni) => {
    dissect(b, off, len, linktype, vxlanPort, vni, L, overlayPort);
    return test(L, b);
  };
}
