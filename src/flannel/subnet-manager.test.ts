import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from './file-store.js';
import { udpAttrs } from './lease.js';
import { SubnetManager } from './subnet-manager.js';

const dir = mkdtempSync(join(tmpdir(), 'vxtap-subnet-manager-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('subnet manager start-up', () => {
  // The test's own timeout bounds it: without stop() ending the wait, the retries
  // would go on for an hour.
  it('stops its start-up retries at once on stop() (SIGTERM during the lease-file start-up retries)', { timeout: 20_000 }, async () => {
    const path = join(dir, 'leases-are-a-directory.json');
    mkdirSync(path); // reading it fails (EISDIR): a store error, retried
    const manager = new SubnetManager({
      store: new FileStore(path), attrs: udpAttrs('198.51.100.1'), backoffMs: [3_600_000, 3_600_000], startupTimeoutMs: 7_200_000,
    });
    const config = manager.getConfig();
    // Stop, most likely once it has failed and waits to retry (before that, the first failure ends it).
    await new Promise((r) => setTimeout(r, 100));
    manager.stop();
    await expect(config).rejects.toThrow(`lease file ${path}: reading failed (EISDIR)`);
  });
});
