// What the plugin keeps across its restarts: the networks Docker created
// through it (Docker never sends CreateNetwork again for them) and their
// endpoints. A file under the state directory, written whole to a temporary
// name and renamed, so a crash leaves the old state or the new one; read back
// through a validator, since it is input like any other.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { formatPath, VxtapError } from '../core/errors.js';

const networkState = z.strictObject({
  id: z.string().min(1).max(128),
  vni: z.number().int().min(0).max(0xffffff),
  remotes: z.array(z.string().max(15)).max(256),
  port: z.number().int().min(1).max(65535),
  mode: z.enum(['bridge', 'private']),
  mtu: z.number().int().min(68).max(65535),
  /** The address Docker's IPAM gave the network's gateway, without its prefix; the containers' default route. */
  gateway: z.string().max(64).optional(),
});

const endpointState = z.strictObject({
  id: z.string().min(1).max(128),
  network: z.string().min(1).max(128),
  /** The TAP's name in the plugin's namespace (Docker renames it inside the container). */
  dev: z.string().min(1).max(15),
  mac: z.string().max(17),
  /** The addresses Docker's IPAM gave it (CIDR), to give back to a container after a restart. */
  address: z.string().max(64).optional(),
  address6: z.string().max(64).optional(),
  /** A container holds the port (between Join and Leave). */
  joined: z.boolean(),
  /** The container's sandbox (its network namespace's path), while joined. */
  sandbox: z.string().max(4096).optional(),
});

const stateSchema = z.strictObject({
  version: z.literal(1),
  networks: z.array(networkState).max(4096),
  endpoints: z.array(endpointState).max(65536),
});

export type NetworkState = z.infer<typeof networkState>;
export type EndpointState = z.infer<typeof endpointState>;
export type State = z.infer<typeof stateSchema>;

/** The state in `file`, or an empty one if there is none; a one-line error naming the file if it does not validate. */
export function loadState(file: string): State {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, networks: [], endpoints: [] };
    throw new VxtapError('E_CONFIG', `state file ${file}: cannot read it (${(e as NodeJS.ErrnoException).code}): check --state-dir`);
  }
  const fix = 'fix it, or remove it and recreate the vxtap networks (docker network rm, docker network create)';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new VxtapError('E_CONFIG', `state file ${file}: not JSON: ${fix}`);
  }
  const parsed = stateSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new VxtapError('E_CONFIG', `state file ${file}: ${formatPath(issue.path)}: ${issue.message}: ${fix}`);
  }
  return parsed.data;
}

/** Writes the state atomically (temporary file, then rename), readable by root alone. */
export function saveState(file: string, state: State): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 1) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}
