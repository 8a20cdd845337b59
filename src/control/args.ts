// A small flag parser for the CLI: `--flag value`, repeatable flags, flags
// that take two values (--srcport MIN MAX) and switches. Every mistake is a
// one-line VxtapError naming the flag.
import { VxtapError } from '../core/errors.js';

export interface FlagSpec {
  /** Values the flag takes: 0 for a switch. */
  arity: 0 | 1 | 2;
  repeat?: boolean;
  /** Values must be non-negative integers. */
  int?: boolean;
  /** Short alias, e.g. 'c' for -c. */
  short?: string;
}

export type FlagValues = Map<string, Array<string | number>[]>;

export interface Parsed {
  flags: FlagValues;
  positionals: string[];
}

function usage(msg: string): never {
  throw new VxtapError('E_USAGE', `${msg} (see: vxtap help)`);
}

export function parseFlags(argv: string[], specs: Record<string, FlagSpec>): Parsed {
  const flags: FlagValues = new Map();
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).filter(([, s]) => s.short).map(([n, s]) => [s.short!, n]));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name: string | undefined;
    if (arg.startsWith('--')) name = arg.slice(2);
    else if (/^-[A-Za-z]$/.test(arg)) name = byShort.get(arg.slice(1)) ?? arg.slice(1);
    if (name === undefined) {
      positionals.push(arg);
      continue;
    }
    // Own properties only: `--constructor` or `--__proto__` must not find Object.prototype's.
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) usage(`unknown flag ${arg}`);
    const values: Array<string | number> = [];
    for (let k = 0; k < spec.arity; k++) {
      const v = argv[++i];
      if (v === undefined || (v.startsWith('--') && v.length > 2)) {
        usage(`${arg} needs ${spec.arity === 2 ? 'two values' : 'a value'}`);
      }
      if (spec.int) {
        if (!/^\d+$/.test(v)) usage(`${arg}: expected a non-negative integer, got '${v}'`);
        values.push(Number(v));
      } else {
        values.push(v);
      }
    }
    const seen = flags.get(name);
    if (seen && !spec.repeat) usage(`${arg} given twice`);
    if (seen) seen.push(values);
    else flags.set(name, [values]);
  }
  return { flags, positionals };
}

/** The single value of a one-value flag, or undefined. */
export function one<T extends string | number>(p: Parsed, name: string): T | undefined {
  return p.flags.get(name)?.[0]?.[0] as T | undefined;
}

export function all<T extends string | number>(p: Parsed, name: string): T[] {
  return (p.flags.get(name) ?? []).map((v) => v[0] as T);
}

export function has(p: Parsed, name: string): boolean {
  return p.flags.has(name);
}

export function required<T extends string | number>(p: Parsed, name: string, what: string): T {
  const v = one<T>(p, name);
  if (v === undefined) usage(`missing --${name} (${what})`);
  return v;
}
