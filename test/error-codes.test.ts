// The error catalogue (src/error-codes.ts) against its two mirrors: the table in docs/errors.md,
// and the codes src/ actually raises. A code added in one place and not the others fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorCodes as fastifyErrorCodes } from 'fastify';
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

interface RaisedCode {
  code: string;
  status: number;
  type: string;
  where: string;
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
 * Every code src/ raises with a literal: `new CerebriumLocalError(status, 'type', 'code'`, and
 * `helper('code'` for each helper of the form `const helper = (code: string, …) =>
 * new CerebriumLocalError(status, 'type', code` (notFound, badRequest, unavailable, unauthorized,
 * forbidden, and any added later). Constructions the scan cannot read are returned as `unread`.
 */
function scanSource(): { raised: RaisedCode[]; unread: string[] } {
  const files = sourceFiles();
  const raised: RaisedCode[] = [];
  const unread: string[] = [];
  const helpers = new Map<string, { status: number; type: string }>();

  const helperDefinition =
    /\bconst\s+(\w+)\s*=\s*\(\s*code:\s*string[^)]*\)\s*=>\s*new CerebriumLocalError\(\s*(\d+)\s*,\s*'(\w+)'\s*,\s*code\b/g;
  for (const { text } of files) {
    for (const m of text.matchAll(helperDefinition)) helpers.set(m[1], { status: Number(m[2]), type: m[3] });
  }

  const literal = /^new CerebriumLocalError\(\s*(\d+)\s*,\s*'(\w+)'\s*,\s*'(\w+)'/;
  // fromFastify: any other 4xx Fastify error keeps its own code, with a fallback when it has none.
  const fastifyFallback = /^new CerebriumLocalError\(\s*status\s*,\s*'(\w+)'\s*,\s*\(err\.code \?\? '(\w+)'\)\.toLowerCase\(\)/;
  for (const { path, text } of files) {
    // The helpers' own constructions pass `code` through; their callers are scanned below.
    const inHelper = new Set([...text.matchAll(helperDefinition)].map((m) => m.index + m[0].indexOf('new CerebriumLocalError(')));
    for (const m of text.matchAll(/new CerebriumLocalError\(/g)) {
      if (inHelper.has(m.index)) continue;
      const rest = text.slice(m.index);
      const where = `${path}:${lineOf(text, m.index)}`;
      const direct = literal.exec(rest);
      const fallback = fastifyFallback.exec(rest);
      if (direct) raised.push({ code: direct[3], status: Number(direct[1]), type: direct[2], where });
      else if (fallback) raised.push({ code: fallback[2], status: 400, type: fallback[1], where });
      else unread.push(where);
    }
    for (const [name, { status, type }] of helpers) {
      for (const m of text.matchAll(new RegExp(`(?<![\\w.])${name}\\(\\s*('(\\w+)')?`, 'g'))) {
        const where = `${path}:${lineOf(text, m.index)}`;
        if (m[2]) raised.push({ code: m[2], status, type, where });
        else unread.push(`${where} (${name} without a literal code)`);
      }
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

  it('holds every code src raises, with the status and type it is raised with', () => {
    const { raised } = scanSource();
    // A scan that finds next to nothing has stopped matching the source, not found it clean.
    expect(raised.length).toBeGreaterThan(30);
    const missing = raised.filter((r) => !Object.hasOwn(catalogue, r.code)).map((r) => `${r.code} (${r.where})`);
    expect(missing, 'codes raised in src but missing from src/error-codes.ts and docs/errors.md').toEqual([]);
    const mismatched = raised
      .filter((r) => catalogue[r.code].status !== r.status || catalogue[r.code].type !== r.type)
      .map((r) => `${r.code}: raised as ${r.status} ${r.type} at ${r.where}`);
    expect(mismatched, 'codes raised with another status or type than src/error-codes.ts gives').toEqual([]);
  });

  it('can read the code of every error src constructs, so none escapes the check', () => {
    expect(scanSource().unread, 'errors built with a code that is not a string literal: give a literal, or teach this scan').toEqual([]);
  });

  it('lists only codes src still raises, or Fastify codes with the status Fastify gives them', () => {
    const raisedCodes = new Set(scanSource().raised.map((r) => r.code));
    const fastifyCodes = fastifyErrorCodes as unknown as Record<string, (new () => { statusCode?: number }) | undefined>;
    for (const [code, entry] of Object.entries(catalogue)) {
      if (raisedCodes.has(code)) continue;
      const FastifyError = code.startsWith('fst_err_') ? fastifyCodes[code.toUpperCase()] : undefined;
      expect(FastifyError, `${code} is catalogued but nothing in src raises it`).toBeDefined();
      expect(new FastifyError!().statusCode, `${code}'s status`).toBe(entry.status);
    }
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
