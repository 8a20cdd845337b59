/**
 * 48-bit IEEE 802 MAC addresses as numbers.
 *
 * A MAC is a number `hi * 2^32 + lo` below 2^48 (so exactly representable in a
 * double), never a string on the hot path. For hashing, `macHi` and `macLo`
 * split it into a 16-bit and a signed 32-bit part, both of which V8 keeps as
 * small integers.
 *
 *     first octet:  b7 b6 b5 b4 b3 b2 U/L I/G
 *     I/G (0x01): 1 = group (multicast or broadcast) address
 *     U/L (0x02): 1 = locally administered address
 */

import { randomBytes } from 'node:crypto';
import { getI32, getU16, setU16, setU32 } from './bytes.js';

const TWO_32 = 0x1_0000_0000;

/** ff:ff:ff:ff:ff:ff. */
export const MAC_BROADCAST = 0xffff_ffff_ffff;
/** 00:00:00:00:00:00. */
export const MAC_ZERO = 0;

/** Returns the first 2 bytes of the MAC at `off` as a 16-bit number (hash key, high part). */
export function macHi(b: Uint8Array, off: number): number {
  return getU16(b, off);
}

/** Returns the last 4 bytes of the MAC at `off` as a signed int32 (hash key, low part). */
export function macLo(b: Uint8Array, off: number): number {
  return getI32(b, off + 2);
}

/** Combines `macHi` and `macLo` results into the 48-bit MAC number. */
export function macFromParts(hi: number, lo: number): number {
  return hi * TWO_32 + (lo >>> 0);
}

/** Returns the `macHi` part of a MAC number (its first 2 bytes). */
export function macNumberHi(mac: number): number {
  return Math.floor(mac / TWO_32);
}

/** Returns the `macLo` part of a MAC number (its last 4 bytes, as a signed int32). */
export function macNumberLo(mac: number): number {
  return mac | 0;
}

/** Reads the MAC at `off` as a 48-bit number. */
export function readMac(b: Uint8Array, off: number): number {
  return macFromParts(macHi(b, off), macLo(b, off));
}

/** Writes the 48-bit MAC number `mac` at `off`. */
export function writeMac(b: Uint8Array, off: number, mac: number): void {
  writeMacParts(b, off, macNumberHi(mac), macNumberLo(mac));
}

/** Writes the MAC whose `macHi` and `macLo` parts are `hi` and `lo` at `off` (no 48-bit number on the hot path). */
export function writeMacParts(b: Uint8Array, off: number, hi: number, lo: number): void {
  setU16(b, off, hi);
  setU32(b, off + 2, lo);
}

/** True if the MAC at `off` is a group address (I/G bit set); broadcast is one. */
export function isMulticastMac(b: Uint8Array, off: number): boolean {
  return (b[off] & 0x01) !== 0;
}

/** True if the MAC at `off` is 00:00:00:00:00:00. */
export function isZeroMac(b: Uint8Array, off: number): boolean {
  return (b[off] | b[off + 1] | b[off + 2] | b[off + 3] | b[off + 4] | b[off + 5]) === 0;
}

/** Returns a random unicast, locally administered MAC (not for the hot path). */
export function randomLocalMac(): number {
  const b = randomBytes(6);
  b[0] = (b[0] & ~0x03) | 0x02;
  return readMac(b, 0);
}

const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}$/i;

/** Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (any case, one separator kind). */
export function parseMac(s: string): number {
  if (!MAC_RE.test(s)) throw new Error(`invalid MAC address ${JSON.stringify(s)}`);
  return parseInt(s.replace(/[:-]/g, ''), 16);
}

/** Formats a MAC number as lowercase `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: number): string {
  if (!Number.isInteger(mac) || mac < 0 || mac > MAC_BROADCAST) {
    throw new RangeError(`invalid MAC number ${mac}`);
  }
  return mac.toString(16).padStart(12, '0').replace(/..(?!$)/g, '$&:');
}
