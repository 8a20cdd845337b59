import { describe, expect, it } from 'vitest';
import { DROP_NAMES, sendDropReason } from '../core/drops.js';
import { oversizeGsoAsEmsgsize } from './queues.js';

const EINVAL = 22;
const EMSGSIZE = 90;
const EAGAIN = 11;

describe('send status', () => {
  it('counts an oversize UDP GSO send as tx_too_big on kernels that say EINVAL for it, as on those that say EMSGSIZE', () => {
    // Messages: a GSO send refused with EINVAL (before Linux 6.13), one with
    // EMSGSIZE (after), a plain datagram with EINVAL, a full buffer, a success.
    const status = Int32Array.of(EINVAL, EMSGSIZE, EINVAL, EAGAIN, 0);
    const gso = Uint16Array.of(1522, 1522, 0, 1522, 1522);
    oversizeGsoAsEmsgsize(status, gso, status.length);
    expect(Array.from(status, (e) => (e === 0 ? 'sent' : DROP_NAMES[sendDropReason(e)])))
      .toEqual(['tx_too_big', 'tx_too_big', 'tx_error', 'tx_busy', 'sent']);
  });
});
