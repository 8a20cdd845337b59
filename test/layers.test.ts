// The import graph of src/ (README: Layers). Parsed with the TypeScript
// compiler from the sources, every import and re-export counted, type-only
// ones too (they are dependencies of the code even where the build erases
// them). It fails on any cycle between modules, and on a folder importing
// from a folder of its own layer or above. Then each built module is
// imported first in a fresh node process: a cycle the graph missed would
// show there as a module read before it was initialized.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SRC = join(ROOT, 'src');
const DIST = join(ROOT, 'dist', 'src');

/**
 * The layers, bottom first; a folder imports only from the layers below its
 * own (and from itself). `.` is src/ itself: cli.ts. README lists the same.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['core'], // errors a user can hit, drop reasons
  ['wire'], // codecs and specification constants
  ['io'], // the native addon: devices, sockets, queues, offloads
  ['switch'], // the FDB, the route table, trusted senders
  ['capture'], // the mirror, pcapng, filters, decode, sniff
  ['dataplane'], // what the pipelines share
  ['vxlan', 'udp'], // the two pipelines
  ['control'], // config, the control socket and its clients, CLI flags, log, privileges
  ['flannel', 'lab', 'docker'], // the flannel node; the namespace lab; the Docker network driver
  ['.'], // the command line
];

/** Modules whose import runs them: they are entry points, never imported. */
const ENTRY_POINTS: Record<string, string> = {
  'cli.js': 'runs the command line (checked below with --version)',
  'vxlan/worker.js': 'runs a VTEP queue on a worker thread',
  'lab/demo.js': 'runs the demo',
  'lab/tcpxfer.js': 'runs a transfer end of the lab (sink or source)',
};

function sources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => join(dir, f))
    .sort();
}

/** Each module's relative imports (as src/ paths of .ts files). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, false);
    const deps: string[] = [];
    const visit = (node: ts.Node): void => {
      let spec: ts.Expression | undefined;
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) spec = node.moduleSpecifier;
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) spec = node.arguments[0];
      if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) {
        deps.push(relative(SRC, resolve(dirname(file), spec.text.replace(/\.js$/, '.ts'))));
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    graph.set(relative(SRC, file), deps);
  }
  return graph;
}

/** Every cycle's modules, found by depth-first search (each cycle at least once). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const dfs = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const d of graph.get(m) ?? []) {
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) dfs(d);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of graph.keys()) if (!state.has(m)) dfs(m);
  return found;
}

const folderOf = (module: string): string => (module.includes('/') ? module.split('/')[0] : '.');
const layerOf = (folder: string): number => LAYERS.findIndex((l) => l.includes(folder));

describe('issue 16.8: the import graph of src/', () => {
  const graph = importGraph();

  it('resolves every relative import to a source file', () => {
    const missing = [...graph].flatMap(([m, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${m} -> ${d}`));
    expect(missing).toEqual([]);
  });

  it('has no cycle', () => {
    expect(cycles(graph).map((c) => c.join(' -> '))).toEqual([]);
  });

  it('puts every folder in a layer', () => {
    const folders = new Set([...graph.keys()].map(folderOf));
    expect([...folders].filter((f) => layerOf(f) < 0)).toEqual([]);
  });

  it('has each folder import only from the layers below it', () => {
    const upward: string[] = [];
    for (const [m, deps] of graph) {
      const from = folderOf(m);
      for (const d of deps) {
        const to = folderOf(d);
        if (to !== from && layerOf(to) >= layerOf(from)) upward.push(`${m} -> ${d} (${to} is not below ${from})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('finds a cycle and an upward import when there is one', () => {
    const bad = new Map([['wire/a.ts', ['io/b.ts']], ['io/b.ts', ['wire/a.ts']]]);
    expect(cycles(bad)).toEqual([['wire/a.ts', 'io/b.ts', 'wire/a.ts']]);
    expect(layerOf(folderOf('io/b.ts'))).toBeGreaterThan(layerOf(folderOf('wire/a.ts')));
  });
});

describe('issue 16.8: each built module', () => {
  // The modules of src/, not what dist/ holds: a stale file there from a module since moved is no module.
  const modules = [...importGraph().keys()].map((m) => m.replace(/\.ts$/, '.js'));

  it.each(modules.filter((m) => ENTRY_POINTS[m] === undefined))('%s imports first in a fresh process', (m) => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(DIST, m))});`], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('cli.js runs when started first', () => {
    const r = spawnSync(process.execPath, [join(DIST, 'cli.js'), '--version'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
