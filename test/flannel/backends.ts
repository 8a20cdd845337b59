// The two lease stores as test backends, so one suite runs against both: a
// real etcd (one server per test file, a fresh key prefix per test) and the
// lease file (a fresh file per test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { EtcdStore } from '../../src/flannel/etcd-store.js';
import { FileStore } from '../../src/flannel/file-store.js';
import type { LeaseStore } from '../../src/flannel/store.js';
import { EtcdServer } from './etcd-server.js';

/** One flannel network in a backend. */
export interface Cluster {
  /** A new store handle, as a node opens one; closed by close(). */
  store(): LeaseStore;
  putConfig(text: string): Promise<void>;
  /** Drops all history up to now, as `etcdctl compact` does. */
  compact(): Promise<void>;
  close(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  cluster(): Cluster;
}

function tracked(open: () => LeaseStore): { store(): LeaseStore; closeAll(): Promise<void> } {
  const stores: LeaseStore[] = [];
  return {
    store: () => {
      const s = open();
      stores.push(s);
      return s;
    },
    closeAll: async () => {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
}

export class EtcdBackend implements Backend {
  readonly name = 'etcd';
  server!: EtcdServer;
  private admin!: Etcd3;
  private n = 0;

  async setup(): Promise<void> {
    this.server = await EtcdServer.create();
    this.admin = new Etcd3({ hosts: this.server.endpoint });
  }

  async teardown(): Promise<void> {
    this.admin?.close();
    await this.server?.destroy();
  }

  /** A store on `prefix` with a short call deadline, so an outage fails fast. */
  open(prefix: string): EtcdStore {
    return new EtcdStore({ endpoints: [this.server.endpoint], prefix, callTimeoutMs: 2000 });
  }

  cluster(): Cluster {
    const prefix = `/vxtap-test-${this.n++}/network`;
    const t = tracked(() => this.open(prefix));
    return {
      store: t.store,
      putConfig: async (text) => {
        await this.admin.put(`${prefix}/config`).value(text);
      },
      compact: async () => {
        const { header } = await this.admin.kv.range({ key: Buffer.from(prefix) });
        await this.admin.kv.compact({ revision: header.revision, physical: true });
      },
      close: t.closeAll,
    };
  }
}

export class FileBackend implements Backend {
  readonly name = 'lease file';
  private dir = '';
  private n = 0;

  async setup(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'vxtap-leases-'));
  }

  async teardown(): Promise<void> {
    rmSync(this.dir, { recursive: true, force: true });
  }

  cluster(): Cluster {
    const path = join(this.dir, `leases-${this.n++}.json`);
    const open = (): FileStore => new FileStore(path, { pollMs: 100 });
    const t = tracked(open);
    return {
      store: t.store,
      putConfig: (text) => open().putConfig(text),
      compact: () => open().compact(),
      close: t.closeAll,
    };
  }
}
