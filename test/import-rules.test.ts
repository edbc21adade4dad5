// The import rules ARCHITECTURE.md states, checked on the source: a layer imports only from the
// layers below it and from the leaves; a leaf imports no layer. So the runtime cannot reach up
// for a Run or a reply, and nothing below src/http can use the HTTP layer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const srcDir = fileURLToPath(new URL('../src', import.meta.url));

/** Highest first. A layer may import from any layer with a lower rank, and from every leaf. */
const LAYERS: Record<string, number> = {
  cli: 10,
  'serve.ts': 9,
  http: 8,
  auth: 7,
  runs: 6,
  apps: 5,
  runtime: 4,
  worker: 3,
  // The replica program of Python apps (bridge.py): it imports nothing of src, like src/worker it is what runs in a replica.
  python: 3,
  // The dashboard's browser code (static files the server sends): it imports nothing of src.
  dashboard: 0,
  // What user code imports inside a replica: the public API, then the models it offers.
  'index.ts': 2,
  // Part of that API which replicas read for every app (function specs, the context type), without TypeBox.
  'function-spec.ts': 2,
  models: 1,
};

/** Shared by every layer; they import nothing of the layers (a leaf may import another leaf). */
const LEAVES = new Set([
  'config',
  'errors.ts',
  'error-codes.ts',
  'replica-protocol.ts',
  'defaults.ts',
  'log.ts',
  'openai.ts',
  // Fault injection's directives, rules and draws (the layers carry them out), and the parity kit's client side.
  'faults',
  'parity',
]);

/** The layer or leaf a path under src/ belongs to: its top folder, or its file name at the top. */
const unitOf = (pathInSrc: string) => pathInSrc.split('/')[0];

interface Import {
  from: string;
  to: string;
}

function relativeImports(): Import[] {
  const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((f) => /\.(ts|mts|mjs)$/.test(f));
  const imports: Import[] = [];
  for (const file of files) {
    const text = readFileSync(join(srcDir, file), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.\.?\/[^']+)'/g)) {
      const target = relative(srcDir, join(srcDir, dirname(file), m[1]));
      if (target.startsWith('..')) continue; // outside src (package.json and the like)
      imports.push({ from: file, to: target });
    }
  }
  return imports;
}

describe('import rules', () => {
  it('puts every folder and top-level file of src in a layer or among the leaves', () => {
    const units = new Set(readdirSync(srcDir).filter((name) => !name.startsWith('.')));
    const unplaced = [...units].filter((unit) => !(unit in LAYERS) && !LEAVES.has(unit));
    expect(unplaced, 'add each to LAYERS or LEAVES here and to ARCHITECTURE.md').toEqual([]);
  });

  it('finds the imports it checks', () => {
    // A scan that finds nothing has stopped reading the source, not found it clean.
    expect(relativeImports().length).toBeGreaterThan(150);
  });

  it('never lets a layer import from a layer above it', () => {
    const upward = relativeImports()
      .filter(({ from, to }) => {
        const [a, b] = [unitOf(from), unitOf(to)];
        return a !== b && a in LAYERS && b in LAYERS && LAYERS[b] > LAYERS[a];
      })
      .map(({ from, to }) => `${from} → ${to}`);
    expect(upward).toEqual([]);
  });

  it('keeps the leaves free of every layer', () => {
    const leaking = relativeImports()
      .filter(({ from, to }) => LEAVES.has(unitOf(from)) && unitOf(to) in LAYERS)
      .map(({ from, to }) => `${from} → ${to}`);
    expect(leaking).toEqual([]);
  });

  it('keeps user code out of the server thread: only the replica entry and its inspection load app modules', () => {
    // The server never imports src/worker's replica code; it reaches replicas through src/runtime's backends.
    const intoReplica = relativeImports()
      .filter(({ from, to }) => unitOf(to) === 'worker' && unitOf(from) !== 'worker' && !to.endsWith('sse-frame.ts'))
      .map(({ from, to }) => `${from} → ${to}`);
    expect(intoReplica).toEqual([]);
  });
});
