import { describe, expect, it } from 'vitest';
import { TrustedAddresses } from './trust.js';

describe('TrustedAddresses', () => {
  it('trusts an address until its last use is removed', () => {
    const t = new TrustedAddresses();
    const peer = 0xc6336402; // above 2^31: stored as int32
    t.add(peer);
    t.add(peer);
    t.remove(peer);
    expect(t.has(peer)).toBe(true);
    expect(t.has(peer | 0)).toBe(true);
    t.remove(peer);
    expect(t.has(peer)).toBe(false);
  });

  it('ignores removing what was never added', () => {
    const t = new TrustedAddresses();
    t.remove(7);
    t.add(7);
    expect(t.has(7)).toBe(true);
  });
});
