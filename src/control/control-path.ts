// Where an instance's control socket is when no --control says otherwise:
// /run/vxtap/<netns>/<dev>.sock. Device names are per network namespace
// (every flannel node has a flannel.1), so the default is per namespace too.
//
// <netns> is the name `ip netns identify` prints: the entry of /var/run/netns
// that is the same file (st_dev, st_ino) as /proc/self/ns/net. A namespace
// without a name, the machine's initial one included, is `ns-<inode>`: the
// inode `readlink /proc/self/ns/net` shows as net:[INODE]. Every process in
// one namespace, root or not, derives the same path, which is what lets
// `vxtap stats --dev NAME` find the instance that runs beside it.
// The cost: a name given to a namespace after an instance started there
// moves the default under it; such an instance is reached with --control.
import { readdirSync, statSync } from 'node:fs';
import { VxtapError } from '../core/errors.js';

export const CONTROL_DIR = '/run/vxtap';
/** Where `ip netns add` bind-mounts named namespaces. */
export const NETNS_DIR = '/var/run/netns';
/** sun_path is 108 bytes and ends in a NUL; Node truncates longer paths without a word. */
export const UNIX_PATH_MAX = 107;

/** The name `ip netns identify` gives the namespace file `self`, or `ns-<inode>`. */
export function netnsName(self = '/proc/self/ns/net', dir = NETNS_DIR): string {
  const me = statSync(self);
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    names = []; // no namespace was ever named on this machine
  }
  for (const name of names) {
    try {
      const st = statSync(`${dir}/${name}`);
      if (st.dev === me.dev && st.ino === me.ino) return name;
    } catch {
      // a stale entry: its namespace is gone
    }
  }
  return `ns-${me.ino}`;
}

/** Linux's IFNAMSIZ, with the NUL. */
const IFNAMSIZ = 16;

/** Why `name` cannot be one component of a path under /run/vxtap, or null. */
function componentProblem(name: string): string | null {
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return `cannot be "${name}"`;
  if (/[/\0]/.test(name)) return 'cannot contain "/"';
  return null;
}

/** Why Linux would refuse `name` as a device name (dev_valid_name), or null. */
export function devNameProblem(name: string): string | null {
  if (Buffer.byteLength(name) > IFNAMSIZ - 1) return `is at most ${IFNAMSIZ - 1} bytes`;
  if (/[\s:]/.test(name)) return 'cannot contain spaces or ":"';
  return componentProblem(name);
}

/** Refuses a unix socket path the kernel would not take whole; `field` is what set it. */
export function checkSocketPath(path: string, field: string): string {
  const len = Buffer.byteLength(path);
  if (len > UNIX_PATH_MAX) {
    throw new VxtapError('E_CONTROL', `${field}: the control socket path ${path} is ${len} bytes, over the ${UNIX_PATH_MAX} a unix socket takes: pass a shorter --control PATH`);
  }
  return path;
}

/** The default control socket of the instance whose first device is `dev`, in namespace `netns`. */
export function defaultControlPath(dev: string, netns = netnsName()): string {
  const devProblem = devNameProblem(dev);
  if (devProblem !== null) throw new VxtapError('E_USAGE', `--dev ${JSON.stringify(dev)}: a device name ${devProblem}`);
  const nsProblem = componentProblem(netns);
  if (nsProblem !== null) {
    throw new VxtapError('E_CONTROL', `network namespace ${JSON.stringify(netns)}: a name that ${nsProblem} cannot name the control socket's folder: pass --control PATH`);
  }
  return checkSocketPath(`${CONTROL_DIR}/${netns}/${dev}.sock`, `network namespace "${netns}"`);
}

/** --control if given (checked), else the default for --dev in this namespace. */
export function controlPathOr(control: string | undefined, dev: () => string): string {
  return control !== undefined ? checkSocketPath(control, '--control') : defaultControlPath(dev());
}
