/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * Summing is split from folding so a checksum can span several regions (for
 * example a pseudo-header and a payload): feed each `checksumAdd` result in as
 * the next call's `initial`, then `checksumFold` once. As RFC 1071 notes, the
 * carries can be deferred: "the sum may be accumulated in a 32-bit register
 * and the carries folded back in at the end". Here the accumulator is a JS
 * number, exact up to 2^53, so no carry is ever lost before the fold.
 */

/**
 * Adds the bytes `b[off .. off+len)` as big-endian 16-bit words to `initial`
 * and returns the unfolded sum. An odd trailing byte counts as the high byte of
 * a word padded with zero (RFC 1071 section 4.1), so only the last region of a
 * multi-region sum may have odd length.
 */
export function checksumAdd(b: Uint8Array, off: number, len: number, initial: number): number {
  let sum = initial;
  const end = off + (len & ~1);
  for (let i = off; i < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (len & 1) sum += b[end] << 8;
  return sum;
}

/** Folds the carries of `sum` into 16 bits and returns its one's complement: the value to store. */
export function checksumFold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}
