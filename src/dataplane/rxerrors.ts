// Receive errors of a pipeline's descriptors. Each is counted as rx_error by
// the pipeline; this reports them, at most twice per descriptor: its first
// error, and the moment it stops receiving (the addon gives up on a
// descriptor that can never be read again, such as a TAP whose device was
// deleted). A stopped descriptor stays stopped: the rest of the pipeline
// keeps forwarding, as the kernel's bridge does when one port goes away, and
// `vxtap stats` lists it under rx_stopped until vxtap is restarted.
import { getSystemErrorName } from 'node:util';

export interface RxErrorEvent {
  /** The device, or `udp <address>:<port>` for the underlay socket. */
  dev: string;
  /** The errno name, e.g. EBADFD. */
  code: string;
  /** It stopped receiving. */
  stopped: boolean;
}

/** EBADFD, which a detached TAP/TUN reads, is missing from libuv's names. */
const EBADFD = 77;

export function errnoName(errno: number): string {
  if (errno === EBADFD) return 'EBADFD';
  const name = getSystemErrorName(-errno);
  return name.startsWith('Unknown') ? `errno ${errno}` : name;
}

export class RxErrors {
  /** Called for each report (the CLI logs it). */
  onError: ((e: RxErrorEvent) => void) | null = null;
  /** Descriptors that stopped receiving. */
  readonly stopped: string[] = [];
  private readonly seen = new Set<string>();

  /** Reports the error n (-errno, from startRx's callback) of `dev`, if it is dev's first or it stopped. */
  report(dev: string, n: number, stopped: boolean): void {
    if (stopped) this.stopped.push(dev);
    else if (this.seen.has(dev)) return;
    this.seen.add(dev);
    this.onError?.({ dev, code: errnoName(-n), stopped });
  }
}
