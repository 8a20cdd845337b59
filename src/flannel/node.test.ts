import { describe, expect, it } from 'vitest';
import { ipForceBatch } from './node.js';

describe('ipForceBatch', () => {
  it('runs every command and reports each failure with its command and ip\'s reason', async () => {
    const failed = await ipForceBatch(['link show dev lo', 'link show dev vxtapnosuch0', 'address show dev lo', 'frobnicate now']);
    expect(failed.map((f) => f.cmd)).toEqual(['link show dev vxtapnosuch0', 'frobnicate now']);
    expect(failed[0].error).toMatch(/vxtapnosuch0/);
    expect(failed[1].error).toMatch(/frobnicate/);
  });

  it('reports nothing when every command succeeds', async () => {
    expect(await ipForceBatch(['link show dev lo', 'route show table local'])).toEqual([]);
  });
});
