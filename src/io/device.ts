// TAP and TUN devices: creation through the addon, link settings through
// iproute2 (one `ip -batch` per device, so set-up costs one exec).
import { execFile, execFileSync } from 'node:child_process';
import { addon, isSysError, Kind, type NativeEndpoint } from './native.js';
import { VxtapError } from '../core/errors.js';

export interface DeviceOptions {
  /** IFF_TAP (Ethernet frames) or IFF_TUN (IP packets). */
  tap: boolean;
  /** IFF_VNET_HDR: frames carry a virtio-net header (offloads). */
  vnetHdr?: boolean;
  /** IFF_MULTI_QUEUE: several descriptors on one device. */
  multiQueue?: boolean;
}

export interface Device {
  readonly name: string;
  readonly endpoint: NativeEndpoint;
}

/**
 * Creates (or attaches to) a TAP/TUN device. It is not persistent: the kernel
 * removes it when the descriptor closes, so a crash leaves nothing behind.
 */
export function openDevice(name: string, opts: DeviceOptions): Device {
  const kind = opts.tap ? 'TAP' : 'TUN';
  try {
    const { fd, name: actual } = addon.openTun(name, opts.tap, opts.vnetHdr ?? false, opts.multiQueue ?? false);
    // GRO on write needs to know where IP starts: after Ethernet on a TAP.
    return { name: actual, endpoint: new addon.Endpoint(fd, Kind.Device, opts.vnetHdr ?? false, opts.tap ? 14 : 0) };
  } catch (e) {
    if (!isSysError(e)) throw e;
    if (e.code === 'EACCES' && e.message.startsWith('open /dev/net/tun')) {
      // udev makes it 0666 (systemd's 50-udev-default.rules); some containers leave it 0600.
      throw new VxtapError('E_PERMISSION', `creating ${kind} device '${name}': this user may not open /dev/net/tun: make it 0666, as udev does (chmod 0666 /dev/net/tun), or run vxtap as root`);
    }
    if (e.code === 'EPERM' || e.code === 'EACCES') {
      throw new VxtapError('E_PERMISSION', `creating ${kind} device '${name}' needs CAP_NET_ADMIN: run vxtap as root, or grant CAP_NET_ADMIN`);
    }
    if (e.code === 'EBUSY' || e.code === 'EINVAL') {
      throw new VxtapError('E_DEVICE', `dev '${name}' already exists as another kind of device or is in use: choose another --dev`);
    }
    if (e.code === 'ENOENT' || e.code === 'ENODEV') {
      throw new VxtapError('E_DEVICE', `/dev/net/tun is missing: load the tun module (modprobe tun)`);
    }
    throw new VxtapError('E_DEVICE', `creating ${kind} device '${name}': ${e.message}`);
  }
}

export interface LinkSettings {
  mtu?: number;
  /** CIDR, e.g. 203.0.113.1/24. */
  address?: string;
  /** MAC as aa:bb:cc:dd:ee:ff. */
  mac?: string;
  up?: boolean;
}

/** The iproute2 commands that apply link settings. */
export function linkCommands(name: string, s: LinkSettings): string[] {
  const cmds: string[] = [];
  if (s.mac !== undefined) cmds.push(`link set dev ${name} address ${s.mac}`);
  if (s.mtu !== undefined) cmds.push(`link set dev ${name} mtu ${s.mtu}`);
  if (s.address !== undefined) cmds.push(`address add ${s.address} dev ${name}`);
  if (s.up) cmds.push(`link set dev ${name} up`);
  return cmds;
}

/** Applies link settings with one `ip -batch` run. */
export function configureLink(name: string, s: LinkSettings): void {
  const cmds = linkCommands(name, s);
  if (cmds.length > 0) ipBatch(cmds, `configuring ${name}`);
}

/** Runs iproute2 commands in one process; `what` prefixes the error. */
export function ipBatch(cmds: string[], what: string): void {
  try {
    execFileSync('ip', ['-batch', '-'], { input: cmds.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    throw ipError(e, what);
  }
}

/**
 * ipBatch without blocking the thread while `ip` runs: for a running data
 * path, whose batches go on meanwhile.
 */
export function ipBatchAsync(cmds: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = execFile('ip', ['-batch', '-'], (e, _stdout, stderr) => (e ? reject(ipError({ stderr }, what)) : resolve()));
    p.stdin!.end(cmds.join('\n') + '\n');
  });
}

function ipError(e: unknown, what: string): VxtapError {
  const stderr = (e as { stderr?: Buffer | string }).stderr?.toString().trim() || String(e);
  return new VxtapError('E_DEVICE', `${what}: ip says: ${stderr.split('\n')[0]}`);
}

/**
 * The MTU of the interface that holds IPv4 address `ip`; a user error naming
 * `local` when no interface has it.
 */
export function mtuOfAddress(ip: string): number {
  const links = JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as Array<{
    mtu: number;
    addr_info: Array<{ local: string }>;
  }>;
  const link = links.find((l) => l.addr_info.some((a) => a.local === ip));
  if (link === undefined) {
    throw new VxtapError('E_ADDRESS', `local: ${ip} is not an address of this host: give one configured on an underlay interface`);
  }
  return link.mtu;
}
