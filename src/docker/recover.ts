// Giving a running container its interface back after the plugin restarted.
//
// A TAP lives as long as the descriptor that holds it (vxtap's are not
// persistent), so when the plugin stops, the TAPs Docker had moved into
// containers disappear from them. At the next start the driver opens a new
// TAP with the endpoint's name, MAC and MTU (a new port of the network) and
// this module does what Docker did at Join: move it into the container's
// sandbox (the network namespace at its SandboxKey), name it as the first free
// DST_PREFIX+index there (eth0 for a container on one network), give it the
// endpoint's addresses and bring it up, and put the default route via the
// network's gateway back if the sandbox has none.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ipBatch } from '../io/device.js';
import { VxtapError } from '../core/errors.js';

export interface Sandboxed {
  /** The TAP, in this namespace. */
  dev: string;
  /** The container's network namespace (SandboxKey). */
  sandbox: string;
  address?: string;
  address6?: string;
  gateway?: string;
}

/** Runs `ip` inside the sandbox's network namespace. */
function inSandbox(sandbox: string, args: string[], input?: string): string {
  try {
    return execFileSync('nsenter', [`--net=${sandbox}`, 'ip', ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    const err = (e as { stderr?: string }).stderr?.trim().split('\n')[0] ?? String(e);
    throw new VxtapError('E_DEVICE', `in sandbox ${sandbox}: ip ${args.join(' ')}: ${err}`);
  }
}

/**
 * Moves `e.dev` into its sandbox and sets it up as Docker had; returns the
 * name it has there. Throws a VxtapError saying what failed (the sandbox is
 * gone, or a command was refused); the TAP is then the caller's to remove.
 */
export function moveIntoSandbox(e: Sandboxed, prefix: string): string {
  if (!existsSync(e.sandbox)) throw new VxtapError('E_DEVICE', `sandbox ${e.sandbox} is gone (the container stopped)`);
  const names = new Set((JSON.parse(inSandbox(e.sandbox, ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname));
  let i = 0;
  while (names.has(`${prefix}${i}`)) i++;
  const name = `${prefix}${i}`;
  ipBatch([`link set dev ${e.dev} netns ${e.sandbox}`], `moving ${e.dev} into sandbox ${e.sandbox}`);
  const hasDefault = inSandbox(e.sandbox, ['-4', 'route', 'show', 'default']).trim() !== '';
  const cmds = [
    `link set dev ${e.dev} name ${name}`,
    ...(e.address ? [`address add ${e.address} dev ${name}`] : []),
    ...(e.address6 ? [`address add ${e.address6} dev ${name} nodad`] : []),
    `link set dev ${name} up`,
    ...(e.gateway && e.address && !hasDefault ? [`route add default via ${e.gateway} dev ${name}`] : []),
  ];
  inSandbox(e.sandbox, ['-batch', '-'], cmds.join('\n') + '\n');
  return name;
}
