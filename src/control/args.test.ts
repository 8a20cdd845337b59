import { describe, expect, it } from 'vitest';
import { has, parseFlags } from './args.js';

describe('parseFlags', () => {
  const specs = { dev: { arity: 1 }, quiet: { arity: 0 } } as const;

  it('takes flags, switches and positionals', () => {
    const p = parseFlags(['--dev', 'vxt0', 'show', '--quiet'], specs);
    expect([...p.flags]).toEqual([['dev', [['vxt0']]], ['quiet', [[]]]]);
    expect(p.positionals).toEqual(['show']);
  });

  it.each(['--__proto__', '--constructor', '--toString', '--hasOwnProperty'])('refuses %s as an unknown flag, not as an Object.prototype property', (flag) => {
    expect(() => parseFlags([flag], specs)).toThrow(`unknown flag ${flag} (see: vxtap help)`);
  });

  it('still refuses a flag of those names after a known one', () => {
    const p = parseFlags(['--quiet'], specs);
    expect(has(p, '__proto__')).toBe(false);
    expect(() => parseFlags(['--quiet', '--__proto__', 'x'], specs)).toThrow('unknown flag --__proto__');
  });
});
