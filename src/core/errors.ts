// Errors a user can cause (flags, config, environment). Each has a stable
// code, names the field or flag involved and says how to fix it. The CLI
// prints them as one line and exits with 2; anything else is a bug.

export type ErrorCode =
  | 'E_USAGE' // bad command line
  | 'E_CONFIG' // config file missing, unparsable or invalid
  | 'E_PERMISSION' // needs root / CAP_NET_ADMIN / CAP_NET_RAW
  | 'E_DEVICE' // a TAP/TUN device could not be created or configured
  | 'E_ADDRESS' // an address could not be bound
  | 'E_CONTROL' // the control socket could not be reached
  | 'E_STORE' // the flannel lease store (etcd or the lease file) cannot be reached or used
  | 'E_CREDENTIALS' // etcd and vxtap do not accept each other's TLS certificates, or etcd refuses the user
  | 'E_LEASE' // no flannel subnet lease: none free, or ours was revoked
  | 'E_MISSING'; // an optional part is not installed (libpcap's binding, for sniff)

export class VxtapError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(oneLine(message));
    this.name = 'VxtapError';
  }
}

/**
 * The message with its control characters escaped as in JSON (`\n`, `\u001b`):
 * messages quote what the user gave (a flag value, a config key, a filter),
 * which may hold a newline or an escape sequence, and the error must stay one
 * line on a terminal and in a log.
 */
function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** `networks[0].ports[1].mtu` from a validator's path: how an error names the field. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`;
  return out || '(top level)';
}
