/**
 * Shared helpers for the packet codecs in `src/wire/`.
 *
 * Conventions every codec in this directory follows:
 *
 * - Codecs are plain functions over `(b: Uint8Array, off: number)`, where `off`
 *   is the offset of the header's first byte. Multi-byte fields are big-endian
 *   (network byte order).
 * - Field accessors (`getX`/`setX`) validate nothing and allocate nothing: they
 *   run per packet, after the header has passed its `xxxCheck`.
 * - `xxxCheck(b, off, len)` validates a header, where `len` is the number of
 *   bytes available from `off`. It returns 0, or a nonzero `XXX_ERR_*` reason.
 * - The `Repr` layer (`parseXxx`/`emitXxx`) exists for tests, the CLI and
 *   printing; it is not used per packet. `parseXxx` throws on invalid input and
 *   `emitXxx` returns the number of bytes written.
 *
 * WARNING: every `emitXxx` (and every hot-path header writer such as
 * `writeVxlanHeader`) writes every byte of its header, reserved and padding
 * bytes included. Packet buffers are pooled and reused, so a byte left unwritten
 * still holds whatever the previous packet put there: a stale length or flags
 * byte could make a later length check pass by accident, or send a reserved bit
 * onto the wire.
 */

/** Reads the big-endian 16-bit value at `off`. */
export function getU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Writes `v` (low 16 bits) big-endian at `off`. */
export function setU16(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}

/** Reads the big-endian 24-bit value at `off`. */
export function getU24(b: Uint8Array, off: number): number {
  return (b[off] << 16) | (b[off + 1] << 8) | b[off + 2];
}

/** Writes `v` (low 24 bits) big-endian at `off`. */
export function setU24(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 16;
  b[off + 1] = v >>> 8;
  b[off + 2] = v;
}

/** Reads the big-endian 32-bit value at `off` as a signed int32 (stays a V8 small integer). */
export function getI32(b: Uint8Array, off: number): number {
  return (b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3];
}

/** Reads the big-endian 32-bit value at `off` as an unsigned number. */
export function getU32(b: Uint8Array, off: number): number {
  return getI32(b, off) >>> 0;
}

/** Writes `v` (low 32 bits) big-endian at `off`. */
export function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Repr layer: throws `Error("<what>: <reason>")` unless the check `code` is 0. */
export function assertValid(what: string, code: number, reasons: Readonly<Record<number, string>>): void {
  if (code !== 0) throw new Error(`${what}: ${reasons[code] ?? `reason ${code}`}`);
}

/**
 * Repr layer: returns `v` if it is an integer in [0, max], else throws a
 * RangeError naming the field. Emitters use it so that an out-of-range value
 * fails loudly instead of being silently truncated to the field's width.
 */
export function uint(field: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new RangeError(`${field} ${v} is not an integer in [0, ${max}]`);
  }
  return v;
}
