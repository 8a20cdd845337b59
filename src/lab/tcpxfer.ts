// A TCP transfer checked end to end: `sink PORT` receives one connection and
// `source HOST PORT BYTES [RATE]` sends random bytes, as fast as it can or at
// RATE bytes a second (an application-limited stream, whose congestion window
// stays small); each prints one JSON line with the byte count, the SHA-256 of
// the stream and the seconds it took. Equal hashes on both ends mean every
// byte crossed the overlay intact.
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';

export interface Transfer {
  bytes: number;
  sha256: string;
  seconds: number;
}

const CHUNK = 1 << 20;
/** A paced source writes every TICK_MS what the rate allows by then. */
const TICK_MS = 5;

function sink(port: number): void {
  const server = createServer((sock) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let start = 0;
    sock.on('data', (d: Buffer) => {
      if (bytes === 0) start = performance.now();
      bytes += d.length;
      hash.update(d);
    });
    sock.on('end', () => {
      const r: Transfer = { bytes, sha256: hash.digest('hex'), seconds: (performance.now() - start) / 1000 };
      process.stdout.write(JSON.stringify(r) + '\n');
      server.close();
    });
  });
  server.listen(port, () => process.stderr.write('listening\n'));
}

function source(host: string, port: number, total: number, rate: number): void {
  const hash = createHash('sha256');
  const sock = connect(port, host);
  let sent = 0;
  let start = 0;
  let tick: NodeJS.Timeout | null = null;
  const pump = () => {
    const allowed = rate > 0 ? Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate)) : total;
    while (sent < allowed) {
      const chunk = randomBytes(Math.min(CHUNK, allowed - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    if (sent < total) return; // the next tick
    if (tick !== null) clearInterval(tick);
    tick = null;
    sock.end();
  };
  sock.on('connect', () => {
    start = performance.now();
    if (rate > 0) tick = setInterval(pump, TICK_MS);
    pump();
  });
  sock.on('close', () => {
    const r: Transfer = { bytes: sent, sha256: hash.digest('hex'), seconds: (performance.now() - start) / 1000 };
    process.stdout.write(JSON.stringify(r) + '\n');
  });
  sock.on('error', (e) => {
    process.stderr.write(`tcpxfer: ${e.message}\n`);
    process.exit(1);
  });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'sink') sink(Number(args[0]));
else if (mode === 'source') source(args[0], Number(args[1]), Number(args[2]), Number(args[3] ?? 0));
else {
  process.stderr.write('usage: tcpxfer sink PORT | tcpxfer source HOST PORT BYTES [RATE]\n');
  process.exit(2);
}
