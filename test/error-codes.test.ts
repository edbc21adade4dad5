// The error catalogue (src/error-codes.ts) against its two mirrors: the table in docs/errors.md,
// and the codes src/ actually raises. A code added in one place and not the others fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCodeInfo, errorCodeInfo } from '../src/error-codes.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const catalogue: Record<string, ErrorCodeInfo> = ERROR_CODES;
const normalise = (text: string) => text.replace(/\s+/g, ' ').trim();

interface DocRow {
  code: string;
  status: number;
  type: string;
  meaning: string;
}

/** The rows of the one `| code | status | type | meaning |` table in docs/errors.md. */
function docRows(): DocRow[] {
  const lines = readFileSync(join(repoRoot, 'docs/errors.md'), 'utf8').split('\n');
  const isHeader = (line: string) => /^\|\s*code\s*\|\s*status\s*\|\s*type\s*\|\s*meaning\s*\|\s*$/.test(line);
  const headers = lines.flatMap((line, i) => (isHeader(line) ? [i] : []));
  expect(headers, 'docs/errors.md should hold exactly one code table').toHaveLength(1);
  const rows: DocRow[] = [];
  // Skip the header and its |---| line; the table ends at the first line that is not a row.
  for (const line of lines.slice(headers[0] + 2)) {
    if (!line.trim().startsWith('|')) break;
    const cells = line.trim().replace(/^\|/, '').replace(/\|$/, '').split('|').map(normalise);
    expect(cells, `table row "${line}" should have four cells`).toHaveLength(4);
    const code = /^`([a-z0-9_]+)`$/.exec(cells[0]);
    expect(code, `the code cell of "${line}" should be one code in backticks`).not.toBeNull();
    rows.push({ code: code![1], status: Number(cells[1]), type: cells[2], meaning: cells[3] });
  }
  return rows;
}

function sourceFiles(): { path: string; text: string }[] {
  const srcDir = join(repoRoot, 'src');
  return readdirSync(srcDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => ({ path: relative(repoRoot, join(srcDir, file)), text: readFileSync(join(srcDir, file), 'utf8') }));
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;

/**
 * Every code src/ raises: the literal first argument of each `new CerebriumLocalError(`. Those
 * whose code is not a literal are returned as `unread`. (The compiler already refuses a code that
 * is not catalogued; this finds catalogued codes that nothing raises any more.)
 */
function scanSource(): { raised: Set<string>; unread: string[] } {
  const raised = new Set<string>();
  const unread: string[] = [];
  for (const { path, text } of sourceFiles()) {
    for (const m of text.matchAll(/new CerebriumLocalError\(\s*(?:'(\w+)')?/g)) {
      if (m[1]) raised.add(m[1]);
      else unread.push(`${path}:${lineOf(text, m.index)}`);
    }
  }
  return { raised, unread };
}

describe('the error catalogue', () => {
  it('is listed in docs/errors.md row for row, in the same order', () => {
    const documented = docRows().map((row) => row.code);
    const catalogued = Object.keys(ERROR_CODES);
    expect(
      catalogued.filter((code) => !documented.includes(code)),
      'catalogued codes with no row in docs/errors.md',
    ).toEqual([]);
    expect(
      documented.filter((code) => !catalogued.includes(code)),
      'rows in docs/errors.md for codes not catalogued',
    ).toEqual([]);
    expect(documented, 'docs/errors.md rows, in catalogue order, each once').toEqual(catalogued);
  });

  it('gives each code the same status, type and meaning in docs/errors.md', () => {
    for (const row of docRows()) {
      const entry = catalogue[row.code];
      expect(entry, `${row.code} is in the docs but not the catalogue`).toBeDefined();
      expect({ code: row.code, status: row.status, type: row.type, meaning: row.meaning }).toEqual({
        code: row.code,
        status: entry.status,
        type: entry.type,
        meaning: normalise(entry.meaning),
      });
    }
  });

  it('can read the code of every error src constructs, so none escapes the check', () => {
    const { raised, unread } = scanSource();
    // A scan that finds next to nothing has stopped matching the source, not found it clean.
    expect(raised.size).toBeGreaterThan(30);
    // The class itself passes its parameter on; every other construction names its code.
    expect(
      unread.filter((where) => !where.startsWith('src/errors.ts')),
      'errors built with a code that is not a string literal',
    ).toEqual([]);
  });

  it('lists only codes that src still raises', () => {
    const { raised } = scanSource();
    expect(
      Object.keys(catalogue).filter((code) => !raised.has(code)),
      'catalogued codes nothing raises',
    ).toEqual([]);
  });

  it('answers errorCodeInfo for catalogued codes and undefined for anything else', () => {
    expect(errorCodeInfo('app_not_found')).toEqual({
      status: 404,
      type: 'not_found_error',
      meaning: ERROR_CODES.app_not_found.meaning,
    });
    expect(errorCodeInfo('no_such_code')).toBeUndefined();
    expect(errorCodeInfo('constructor')).toBeUndefined();
    expect(errorCodeInfo('toString')).toBeUndefined();
  });
});
