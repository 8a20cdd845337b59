// subnet.env, which flannel's CNI plugin reads to configure pods, in the
// format flanneld writes (pkg/subnet: WriteSubnetFile):
//
//   FLANNEL_NETWORK=10.5.0.0/16
//   FLANNEL_SUBNET=10.5.52.1/24     <- the lease's first host address
//   FLANNEL_MTU=1450
//   FLANNEL_IPMASQ=false
//
// flanneld also reads FLANNEL_SUBNET back at start to ask for the same subnet.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { VxtapError } from '../core/errors.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { formatSubnet, parseSubnet, type Subnet } from './subnet.js';

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

export interface SubnetEnv {
  readonly network: Subnet;
  /** Our lease. */
  readonly subnet: Subnet;
  readonly mtu: number;
  /** Whether this node masquerades traffic leaving the overlay. */
  readonly ipMasq: boolean;
}

function formatSubnetEnv(e: SubnetEnv): string {
  return [
    `FLANNEL_NETWORK=${formatSubnet(e.network)}`,
    `FLANNEL_SUBNET=${formatIpv4Addr(e.subnet.addr + 1)}/${e.subnet.len}`,
    `FLANNEL_MTU=${e.mtu}`,
    `FLANNEL_IPMASQ=${e.ipMasq}`,
    '',
  ].join('\n');
}

function unwritable(path: string, code: string | undefined): VxtapError {
  return new VxtapError('E_CONFIG', `--subnet-file ${path}: cannot write the file there (${code}): give a path in a directory that exists or can be created`);
}

/**
 * Creates the file's directory, or says in one line why the file cannot be
 * there. A node runs it at start, before it takes a lease.
 */
export function prepareSubnetFile(path: string): void {
  let isDir: boolean;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    isDir = statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  } catch (err) {
    throw unwritable(path, (err as NodeJS.ErrnoException).code);
  }
  if (isDir) throw unwritable(path, 'EISDIR');
}

/**
 * Writes the file whole or not at all: a temporary file in the same
 * directory, renamed over it, so the CNI plugin never reads half of one.
 */
export function writeSubnetEnv(path: string, e: SubnetEnv): void {
  prepareSubnetFile(path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}`);
  try {
    writeFileSync(tmp, formatSubnetEnv(e), { mode: 0o644, flush: true });
    renameSync(tmp, path);
  } catch (err) {
    throw unwritable(path, (err as NodeJS.ErrnoException).code);
  }
}

/** A subnet-valued variable of an existing file, or null if the file or a valid value is missing. */
function readSubnetVar(path: string, name: string): Subnet | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const m = new RegExp(`^${name}=(\\S+)$`, 'm').exec(text);
  try {
    return m ? parseSubnet(m[1]) : null;
  } catch {
    return null;
  }
}

/** The subnet of FLANNEL_SUBNET in an existing file, or null if there is none. */
export function readPreviousSubnet(path: string): Subnet | null {
  return readSubnetVar(path, 'FLANNEL_SUBNET');
}

/** FLANNEL_NETWORK and FLANNEL_SUBNET of an existing file, or null unless both are there. */
export function readPreviousNetwork(path: string): { network: Subnet; subnet: Subnet } | null {
  const network = readSubnetVar(path, 'FLANNEL_NETWORK');
  const subnet = readSubnetVar(path, 'FLANNEL_SUBNET');
  return network && subnet ? { network, subnet } : null;
}
