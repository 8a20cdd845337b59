import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VxtapError } from '../core/errors.js';
import { dispatch, type DriverHandlers, MAX_BODY_BYTES, REQUESTS } from './protocol.js';
import { PluginServer } from './server.js';

/** Every method answers what it was given back, except CreateNetwork, which refuses, and Leave, which has a bug. */
const handlers = Object.fromEntries(Object.keys(REQUESTS).map((m) => [m, (r: object) => {
  if (m === 'CreateNetwork') throw new VxtapError('E_USAGE', '-o vni is required');
  if (m === 'Leave') throw new TypeError('a bug');
  return { Echo: r };
}])) as unknown as DriverHandlers;

describe('the remote driver protocol', () => {
  const internal: unknown[] = [];
  const call = (path: string, body: string) => dispatch(handlers, path, body, (e) => internal.push(e));

  it('answers the handshake and the capabilities without a body', async () => {
    expect(await call('/Plugin.Activate', '')).toEqual({ status: 200, body: { Implements: ['NetworkDriver'] } });
    expect(await call('/NetworkDriver.GetCapabilities', '')).toEqual({ status: 200, body: { Scope: 'local' } });
  });

  it('answers 404 for a method it does not have, inherited names included', async () => {
    for (const p of ['/NetworkDriver.GwAllocCheck', '/NetworkDriver.constructor', '/NetworkDriver.__proto__', '/IpamDriver.RequestPool', '/']) {
      expect((await call(p, '{}')).status, p).toBe(404);
    }
  });

  it('answers 400 naming the field for a body that does not decode', async () => {
    expect(await call('/NetworkDriver.Join', '{')).toEqual({ status: 400, body: { Err: 'Join: the body is not JSON' } });
    expect(await call('/NetworkDriver.Join', '{"NetworkID":"n","EndpointID":"e"}')).toEqual({ status: 400, body: { Err: 'Join: SandboxKey: Invalid input: expected string, received undefined' } });
    expect((await call('/NetworkDriver.Leave', JSON.stringify({ NetworkID: 'n/../x', EndpointID: 'e' }))).body).toEqual({ Err: 'Leave: NetworkID: expected an id of letters, digits, "_", "." or "-"' });
    expect((await call('/NetworkDriver.Leave', JSON.stringify({ NetworkID: 'n'.repeat(129), EndpointID: 'e' }))).status).toBe(400);
  });

  it('passes a decoded request on, and answers a refusal as {"Err": line} with 200, a bug as 500', async () => {
    const join = { NetworkID: 'n', EndpointID: 'e', SandboxKey: '/var/run/docker/netns/1', Options: {} };
    expect(await call('/NetworkDriver.Join', JSON.stringify({ ...join, Extra: 1 }))).toEqual({ status: 200, body: { Echo: join } });
    expect(await call('/NetworkDriver.CreateNetwork', '{"NetworkID":"n"}')).toEqual({ status: 200, body: { Err: '-o vni is required' } });
    expect(await call('/NetworkDriver.Leave', '{"NetworkID":"n","EndpointID":"e"}')).toEqual({ status: 500, body: { Err: 'internal error in Leave: see the vxtap docker-plugin log' } });
    expect(internal).toHaveLength(1);
  });
});

describe('the plugin socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-plugin-'));
  const server = new PluginServer(join(dir, 'p', 'vxtap.sock'), handlers, () => undefined);
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const post = (path: string, body: Buffer | string, method = 'POST') => new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
    const req = request({ socketPath: server.path, path, method }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });

  it('serves the protocol on a 0600 unix socket, in the plugin API media type', async () => {
    await server.listen();
    const r = await post('/Plugin.Activate', '');
    expect(r).toEqual({ status: 200, type: 'application/vnd.docker.plugins.v1.2+json', body: '{"Implements":["NetworkDriver"]}\n' });
    const { statSync } = await import('node:fs');
    expect(statSync(server.path).mode & 0o777).toBe(0o600);
  });

  it('takes POST only, and no body over the bound', async () => {
    expect((await post('/Plugin.Activate', '', 'GET')).status).toBe(405);
    for (const size of [MAX_BODY_BYTES + 1, 16 * MAX_BODY_BYTES]) {
      expect(await post('/NetworkDriver.Join', Buffer.alloc(size, 0x20)), `${size} bytes`).toEqual({
        status: 413, type: 'application/vnd.docker.plugins.v1.2+json', body: `{"Err":"request body over ${MAX_BODY_BYTES} bytes"}\n`,
      });
    }
    expect((await post('/NetworkDriver.Leave', JSON.stringify({ NetworkID: 'n', EndpointID: 'e' }) + ' '.repeat(MAX_BODY_BYTES - 40))).status).toBe(500);
  });

  it('refuses a second plugin on a socket that answers', async () => {
    await expect(new PluginServer(server.path, handlers, () => undefined).listen()).rejects.toThrow(`plugin socket ${server.path} belongs to a running instance: stop it or pass another --plugin-dir`);
  });
});
