// A TCP transfer checked end to end: `sink PORT` receives one connection and
// `source HOST PORT BYTES` sends random bytes; each prints one JSON line with
// the byte count, the SHA-256 of the stream and the seconds it took. Equal
// hashes on both ends mean every byte crossed the overlay intact.
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';

export interface Transfer {
  bytes: number;
  sha256: string;
  seconds: number;
}

const CHUNK = 1 << 20;

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

function source(host: string, port: number, total: number): void {
  const hash = createHash('sha256');
  const sock = connect(port, host);
  let sent = 0;
  let start = 0;
  const pump = () => {
    while (sent < total) {
      const chunk = randomBytes(Math.min(CHUNK, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      if (!sock.write(chunk)) return void sock.once('drain', pump);
    }
    sock.end();
  };
  sock.on('connect', () => {
    start = performance.now();
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
else if (mode === 'source') source(args[0], Number(args[1]), Number(args[2]));
else {
  process.stderr.write('usage: tcpxfer sink PORT | tcpxfer source HOST PORT BYTES\n');
  process.exit(2);
}
