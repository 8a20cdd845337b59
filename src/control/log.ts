// The process's logger: JSON lines on stderr (pino), at the level that
// VXTAP_LOG_LEVEL names.
import pino, { type Logger } from 'pino';
import type { RxErrorEvent } from '../dataplane/rxerrors.js';
import { VxtapError } from '../core/errors.js';

const LEVELS = [...Object.keys(pino.levels.values), 'silent'];

/** A logger at VXTAP_LOG_LEVEL (default info); a level pino does not know is a one-line error. */
export function createLogger(env: NodeJS.ProcessEnv = process.env): Logger {
  const level = env.VXTAP_LOG_LEVEL ?? 'info';
  if (!LEVELS.includes(level)) {
    throw new VxtapError('E_CONFIG', `VXTAP_LOG_LEVEL: '${level}' is not a log level: use one of ${LEVELS.join(', ')}`);
  }
  return pino({ name: 'vxtap', level }, pino.destination(2));
}

/**
 * Logs a pipeline's receive errors (RxErrors reports each descriptor's first
 * and its stop): a warning, or an error when it stopped receiving.
 */
export function rxErrorLogger(log: Logger): (e: RxErrorEvent) => void {
  return (e) => {
    if (e.stopped) log.error({ dev: e.dev, code: e.code }, `${e.dev} stopped receiving (${e.code}); the rest keeps forwarding: restart vxtap to recreate it`);
    else log.warn({ dev: e.dev, code: e.code }, `${e.dev}: receive error ${e.code}, counted as rx_error (logged once per device)`);
  };
}
