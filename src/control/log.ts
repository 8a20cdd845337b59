// The process's logger: JSON lines on stderr (pino), at the level that
// VXTAP_LOG_LEVEL names.
import pino, { type Logger } from 'pino';
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
