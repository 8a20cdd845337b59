// Certificates for the etcd TLS tests, made with openssl in a temporary
// directory: CAs, and certificates they sign for the addresses given (as
// IP subjectAltNames, what etcd's clients check), each usable as server and
// client. Keys are RSA 2048, valid for a day.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertPair {
  readonly cert: string;
  readonly key: string;
}

export class TestPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'vxtap-pki-'));

  private openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  private path(name: string): string {
    return join(this.dir, name);
  }

  /** A self-signed CA (basicConstraints CA:TRUE). */
  ca(name: string): CertPair {
    const p = { cert: this.path(`${name}.crt`), key: this.path(`${name}.key`) };
    this.openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.key, '-out', p.cert, '-days', '1', '-subj', `/CN=${name}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    return p;
  }

  /** A certificate `ca` signs, for the IP addresses given. */
  leaf(name: string, ca: CertPair, ips: readonly string[]): CertPair {
    const p = { cert: this.path(`${name}.crt`), key: this.path(`${name}.key`) };
    const csr = this.path(`${name}.csr`);
    const ext = this.path(`${name}.ext`);
    writeFileSync(ext, `subjectAltName=${ips.map((ip) => `IP:${ip}`).join(',')}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
    this.openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p.key, '-out', csr, '-subj', `/CN=${name}`);
    this.openssl('x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', p.cert, '-days', '1', '-extfile', ext);
    return p;
  }

  destroy(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
