// An exclusive lock on a file shared by processes on one host (vxtap in
// several network namespaces using one lease file).
//
// Node's fs has no flock(2) or fcntl(2) locks, and the project takes no
// native dependency for this, so the lock is a lock file: `<path>.lock`,
// holding its owner's pid and process start time. It is written aside and
// hard-linked into place, so it never exists without its owner's name, and
// link(2) fails with EEXIST if another process holds it. Holders keep it for
// one synchronous read-modify-write (well under a millisecond for a small
// file), so waiters poll.
//
// A lock whose owner is gone (its pid is not running, or now belongs to a
// process that started at another time) is stale and broken. Breaking is
// serialized by a second lock file, `<path>.lock.break`, so that two
// processes that both find the lock stale cannot remove a fresh one that a
// third took in between. The pid check needs every user of the file in one
// PID namespace; network namespaces (`ip netns exec`) share it.
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { VxtapError } from '../core/errors.js';

/** A break lock older than this was left by a process that died breaking. */
const BREAK_STALE_MS = 10_000;

/** Field 22 of /proc/PID/stat (start time in clock ticks), or null if there is no such process. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name, is in parentheses and may itself hold spaces or ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const OWNER = `${process.pid} ${startTime(process.pid)}\n`;

function tryLock(lock: string): boolean {
  const tmp = `${lock}.${process.pid}`;
  writeFileSync(tmp, OWNER);
  try {
    linkSync(tmp, lock);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function isStale(owner: string): boolean {
  const [pid, start] = owner.trim().split(' ');
  return startTime(Number(pid)) !== start;
}

function breakIfStale(lock: string): void {
  let ino: number;
  let owner: string;
  try {
    ino = statSync(lock).ino;
    owner = readFileSync(lock, 'utf8');
  } catch {
    return; // released meanwhile
  }
  if (!isStale(owner)) return;
  const brk = `${lock}.break`;
  if (!tryLock(brk)) {
    try {
      if (Date.now() - statSync(brk).mtimeMs > BREAK_STALE_MS) unlinkSync(brk);
    } catch {
      // gone meanwhile
    }
    return;
  }
  try {
    // Still the same stale file? Only a breaker (us, now) or its dead owner could remove it.
    if (statSync(lock).ino === ino && readFileSync(lock, 'utf8') === owner) unlinkSync(lock);
  } catch {
    // gone meanwhile
  } finally {
    unlinkSync(brk);
  }
}

/**
 * Runs `fn` (synchronous, so the lock is held as briefly as possible) while
 * holding `<path>.lock`. Waits up to `timeoutMs` for another holder, or until
 * `signal` aborts (the store is closing).
 */
export async function withFileLock<T>(path: string, fn: () => T, timeoutMs: number, signal?: AbortSignal): Promise<T> {
  const lock = `${path}.lock`;
  const deadline = Date.now() + timeoutMs;
  for (let wait = 1; !tryLock(lock); wait = Math.min(wait * 2, 50)) {
    if (signal?.aborted) throw new VxtapError('E_STORE', `${path}: closed while waiting for its lock`);
    breakIfStale(lock);
    if (Date.now() > deadline) {
      let owner = 'another process';
      try {
        owner = `pid ${readFileSync(lock, 'utf8').split(' ')[0]}`;
      } catch {
        // released just now
      }
      throw new VxtapError('E_STORE', `${path}: locked by ${owner} for over ${timeoutMs} ms: if that process hangs, stop it`);
    }
    // Jitter keeps waiters from retrying in lockstep.
    await sleep(wait * (1 + Math.random()), undefined, { signal }).catch(() => undefined);
  }
  try {
    return fn();
  } finally {
    unlinkSync(lock);
  }
}
