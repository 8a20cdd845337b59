// libnetwork's remote network driver protocol (moby libnetwork/docs/remote.md,
// drivers/remote/api): Docker POSTs a JSON object to /Plugin.Activate, then
// /NetworkDriver.<Method>, over the plugin's unix socket, and reads a JSON
// object back.
//
// - A request that does not decode (not JSON, not an object, a field of the
//   wrong type) is answered 400 with {"Err": "..."} naming the field, as the
//   protocol asks: "it must respond with an HTTP error status".
// - A request that decodes but cannot be carried out is answered 200 with
//   {"Err": "one line"}; Docker shows that line to the user ("Error response
//   from daemon: remote: LINE").
// - An unknown method is 404, which tells Docker it is not implemented (it
//   accepts that for the optional ones).
//
// Everything is bounded: a body of at most MAX_BODY_BYTES, ids of at most
// MAX_ID_CHARS, at most MAX_POOLS address pools. dispatch() never throws, so a
// fuzzer can feed it anything.
import { z } from 'zod';
import { formatPath, VxtapError } from '../core/errors.js';

/** The media type of the plugin API's replies. */
export const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** The largest request body taken; Docker's are a few hundred bytes. */
export const MAX_BODY_BYTES = 64 * 1024;
/** Docker's ids are 64 hex digits. */
export const MAX_ID_CHARS = 128;
/** Address pools one network may have per family. */
export const MAX_POOLS = 16;

const id = z.string().min(1).max(MAX_ID_CHARS).regex(/^[A-Za-z0-9_.-]+$/, { message: 'expected an id of letters, digits, "_", "." or "-"' });
const text = z.string().max(256);
const options = z.record(z.string(), z.unknown()).nullish();
const ipam = z.object({
  AddressSpace: text.optional(),
  Pool: text,
  Gateway: text.optional(),
  AuxAddresses: z.record(z.string(), text).nullish(),
});
const endpoint = z.object({ NetworkID: id, EndpointID: id });
const discovery = z.object({ DiscoveryType: z.number().int(), DiscoveryData: z.unknown() });

/** The requests the driver takes, by method (the URL is /NetworkDriver.<method>). */
export const REQUESTS = {
  CreateNetwork: z.object({
    NetworkID: id,
    Options: options,
    IPv4Data: z.array(ipam).max(MAX_POOLS).nullish(),
    IPv6Data: z.array(ipam).max(MAX_POOLS).nullish(),
  }),
  DeleteNetwork: z.object({ NetworkID: id }),
  CreateEndpoint: endpoint.extend({
    Interface: z.object({ Address: text.optional(), AddressIPv6: text.optional(), MacAddress: text.optional() }).nullish(),
    Options: options,
  }),
  DeleteEndpoint: endpoint,
  EndpointOperInfo: endpoint,
  Join: endpoint.extend({ SandboxKey: z.string().max(4096), Options: options }),
  Leave: endpoint,
  ProgramExternalConnectivity: endpoint.extend({ Options: options }),
  RevokeExternalConnectivity: endpoint,
  DiscoverNew: discovery,
  DiscoverDelete: discovery,
  AllocateNetwork: z.object({ NetworkID: id }),
  FreeNetwork: z.object({ NetworkID: id }),
} as const;

export type Method = keyof typeof REQUESTS;
export type Request<M extends Method> = z.infer<(typeof REQUESTS)[M]>;
/** What the driver does for each method: the reply object, or a VxtapError whose line becomes Err. */
export type DriverHandlers = { [M in Method]: (req: Request<M>) => object | Promise<object> };

export interface Reply {
  status: number;
  body: object;
}

const PREFIX = '/NetworkDriver.';

/**
 * The reply to one request: `path` is the URL path, `body` what was read
 * (at most MAX_BODY_BYTES, the caller's bound). An error that is not a
 * VxtapError is a bug: it is answered 500 and handed to `internal`.
 */
export async function dispatch(handlers: DriverHandlers, path: string, body: string, internal: (e: unknown) => void): Promise<Reply> {
  if (path === '/Plugin.Activate') return { status: 200, body: { Implements: ['NetworkDriver'] } };
  if (path === `${PREFIX}GetCapabilities`) return { status: 200, body: { Scope: 'local' } };
  const method = path.startsWith(PREFIX) ? path.slice(PREFIX.length) : '';
  if (!Object.hasOwn(REQUESTS, method)) return { status: 404, body: { Err: `${path.slice(0, 64)}: not a method of this driver` } };
  const m = method as Method;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { status: 400, body: { Err: `${m}: the body is not JSON` } };
  }
  const parsed = REQUESTS[m].safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { status: 400, body: { Err: new VxtapError('E_USAGE', `${m}: ${formatPath(issue.path)}: ${issue.message}`).message } };
  }
  try {
    return { status: 200, body: await (handlers[m] as (r: unknown) => object | Promise<object>)(parsed.data) };
  } catch (e) {
    if (e instanceof VxtapError) return { status: 200, body: { Err: e.message } };
    internal(e);
    return { status: 500, body: { Err: `internal error in ${m}: see the vxtap docker-plugin log` } };
  }
}
