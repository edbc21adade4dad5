// Bad requests, made from a seed: malformed and deeply nested JSON, wrong content types, odd paths
// and %-encodings, bad query strings, forged tokens, odd methods, raw HTTP with lying headers.
// test/fuzz.test.ts sends a few thousand to a real server; bench/fuzz.ts sends many more. Each is
// sent on its own connection as raw bytes, so nothing a client library would refuse is left out.
import { connect } from 'node:net';
import { seededRandom } from '../../src/models/seeded-random.ts';

export interface BadRequest {
  /** What kind of badness, for the report. */
  kind: string;
  /** The whole request as sent on the wire. */
  raw: Buffer;
  /**
   * Ends the connection's sending side once written: for requests that lie about their length, so
   * the server sees the end of the body. Node's HTTP server takes that as the client leaving, so
   * other requests keep the connection open until the answer (they ask for `connection: close`).
   */
  halfClose?: boolean;
}

export interface FuzzTargets {
  projectId: string;
  /** A public app and functions on it that never fail by themselves. */
  publicApp: string;
  safeFunctions: string[];
  /** An app with disable_auth = false. */
  lockedApp: string;
  lockedFunction: string;
  /** A token the server accepts (so forged variants of it can be made). */
  validToken: string;
}

/** The fixtures' basic (public) and secured (locked) apps, as test/fuzz.test.ts and bench/fuzz.ts serve them. */
export function fixtureTargets(validToken: string): FuzzTargets {
  return {
    projectId: 'p-test',
    publicApp: 'basic',
    safeFunctions: ['plain', 'whoami', 'typed', 'nothing', 'created'],
    lockedApp: 'secured',
    lockedFunction: 'whoami',
    validToken,
  };
}

export type Answer = { status: number; body: string } | { status: 'closed' } | { status: 'hung' };

type Random = () => number;

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)];
const int = (random: Random, max: number) => Math.floor(random() * max);

/** `count` bad requests, the same ones for the same seed. */
export function badRequests(seed: number, count: number, targets: FuzzTargets): BadRequest[] {
  const random = seededRandom(seed);
  const makers = [malformedJson, deepJson, wrongContentType, oddPath, badQuery, forgedToken, oddMethod, lyingHeaders];
  return Array.from({ length: count }, () => pick(random, makers)(random, targets));
}

function functionPath(random: Random, t: FuzzTargets): string {
  return `/v4/${t.projectId}/${t.publicApp}/${pick(random, t.safeFunctions)}`;
}

function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Buffer {
  const data = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const head = { host: 'fuzz', 'content-type': 'application/json', 'content-length': String(data.length), ...headers };
  return raw('POST', path, head, data);
}

function raw(method: string, path: string, headers: Record<string, string>, body: Buffer = Buffer.alloc(0)): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'connection: close', '', ''];
  return Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), body]);
}

function malformedJson(random: Random, t: FuzzTargets): BadRequest {
  const bodies = [
    '{"name": "x"',
    '{"name": "x"}}',
    '{name: 1}',
    "{'a': 1}",
    '{"a": NaN}',
    '{"a": 1e999999}',
    '{"a": "\\ud800"}',
    '{"a": "\\u00zz"}',
    '{"__proto__": {"polluted": true}}',
    '{"constructor": {"prototype": {"polluted": true}}}',
    '[1, 2, 3]',
    '"just a string"',
    '42',
    'null',
    'true',
    '\ufeff{"a": 1}',
    '{"a": 1,}',
    '{"a": [1, 2,]}',
    `{"a": "${'x'.repeat(int(random, 200_000))}"}`,
    `{${Array.from({ length: 2_000 }, (_, i) => `"k${i}": ${i}`).join(',')}}`,
    Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1'),
    '',
    ' ',
    '{"a": 1} trailing',
  ];
  return { kind: 'malformed JSON', raw: post(functionPath(random, t), Buffer.from(pick(random, bodies), 'utf8')) };
}

function deepJson(random: Random, t: FuzzTargets): BadRequest {
  const depth = pick(random, [600, 1_000, 5_000, 20_000]);
  const open = random() < 0.5 ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  const body = `{"x":${open.repeat(depth)}1${close.repeat(depth)}}`;
  return { kind: `JSON nested ${depth} deep`, raw: post(functionPath(random, t), body) };
}

function wrongContentType(random: Random, t: FuzzTargets): BadRequest {
  const type = pick(random, [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'application/json; charset=latin-9',
    'application/json; charset=utf-16',
    'application/jsonx',
    'json',
    '',
  ]);
  return { kind: `content-type "${type}"`, raw: post(functionPath(random, t), '{"name":"x"}', { 'content-type': type }) };
}

function oddPath(random: Random, t: FuzzTargets): BadRequest {
  const app = `/v4/${t.projectId}/${t.publicApp}`;
  const paths = [
    `${app}/plain%00`,
    `${app}/%zz`,
    `${app}/%`,
    `${app}/%c0%af`,
    `${app}/${'a'.repeat(int(random, 20_000))}`,
    `//v4//${t.projectId}//${t.publicApp}//plain`,
    `/v4/${t.projectId}/../../etc/passwd`,
    `${app}/plain/../plain`,
    `${app}/plain/chat/completions/extra`,
    `${app}/%E2%80%AEnialp`,
    `/v4/${t.projectId}/${'x'.repeat(300)}/plain`,
    `/v4/%00/${t.publicApp}/plain`,
    `/v2/projects/${t.projectId}/apps/${t.projectId}-${t.publicApp}/runs/%ff`,
    `/v2/projects/${t.projectId}/apps/%2e%2e/runs`,
    `/v2/projects/${t.projectId}/apps/${t.projectId}-${t.publicApp}/runs/${'9'.repeat(100)}/cancel`,
    '/',
    '*',
    'http://evil.example/v4/p/a/b',
  ];
  return { kind: 'odd path', raw: post(pick(random, paths), '{}') };
}

function badQuery(random: Random, t: FuzzTargets): BadRequest {
  const queries = [
    'async=maybe',
    'async=true&async=false',
    'async[]=true',
    'webhookEndpoint=javascript:alert(1)',
    'webhookEndpoint=',
    'webhookEndpoint=http://',
    `webhookEndpoint=http://${'a'.repeat(5_000)}.example/`,
    'webhookEndpoint=file:///etc/passwd',
    '%zz=1',
    'a=%',
    `${'q'.repeat(10_000)}=1`,
  ];
  const runs = `/v2/projects/${t.projectId}/apps/${t.projectId}-${t.publicApp}/runs`;
  const listQueries = ['limit=-1', 'limit=abc', 'limit=1e9', 'nextToken=garbage', 'nextToken=%ff', 'asyncOnly=perhaps', 'limit=0'];
  if (random() < 0.3) return { kind: 'bad runs query', raw: raw('GET', `${runs}?${pick(random, listQueries)}`, { host: 'fuzz' }) };
  return { kind: 'bad query', raw: post(`${functionPath(random, t)}?${pick(random, queries)}`, '{}') };
}

function forgedToken(random: Random, t: FuzzTargets): BadRequest {
  const [head = '', payload = '', signature = ''] = t.validToken.split('.');
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const tokens = [
    '',
    'Bearer',
    'Bearer ',
    'Basic dXNlcjpwYXNz',
    `Bearer ${head}.${payload}`,
    `Bearer ${head}.${payload}.${signature.slice(0, -2)}xx`,
    `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`,
    `Bearer ${b64({ alg: 'HS512', typ: 'JWT' })}.${payload}.${signature}`,
    `Bearer ${head}.${b64({ projectId: t.projectId, exp: 1 })}.${signature}`,
    `Bearer ${'a'.repeat(int(random, 60_000))}`,
    `Bearer ${head}.!!!.${signature}`,
    `bearer ${t.validToken}x`,
    `Bearer ${t.validToken} ${t.validToken}`,
  ];
  const path = `/v4/${t.projectId}/${t.lockedApp}/${t.lockedFunction}`;
  return { kind: 'forged token', raw: post(path, '{}', { authorization: pick(random, tokens) }) };
}

function oddMethod(random: Random, t: FuzzTargets): BadRequest {
  const method = pick(random, ['PROPFIND', 'TRACE', 'CONNECT', 'OPTIONS', 'HEAD', 'PATCH', 'DELETE', 'BREW', 'GET']);
  return { kind: `method ${method}`, raw: raw(method, functionPath(random, t), { host: 'fuzz' }) };
}

function lyingHeaders(random: Random, t: FuzzTargets): BadRequest {
  const path = functionPath(random, t);
  const body = Buffer.from('{"name":"x"}');
  const variants: Array<[string, Buffer]> = [
    [
      'content-length shorter than the body',
      raw('POST', path, { host: 'fuzz', 'content-type': 'application/json', 'content-length': '3' }, body),
    ],
    [
      'content-length longer than the body',
      raw('POST', path, { host: 'fuzz', 'content-type': 'application/json', 'content-length': '500' }, body),
    ],
    ['content-length not a number', raw('POST', path, { host: 'fuzz', 'content-type': 'application/json', 'content-length': 'ten' }, body)],
    [
      'content-length and chunked',
      raw('POST', path, { host: 'fuzz', 'content-type': 'application/json', 'content-length': '12', 'transfer-encoding': 'chunked' }, body),
    ],
    [
      'broken chunks',
      raw(
        'POST',
        path,
        { host: 'fuzz', 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
        Buffer.from('zz\r\n{}\r\n0\r\n\r\n'),
      ),
    ],
    [
      'content-encoding gzip, not gzipped',
      raw('POST', path, { host: 'fuzz', 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': '12' }, body),
    ],
    ['no host', raw('POST', path, { 'content-type': 'application/json', 'content-length': '12' }, body)],
    [
      'header without a colon',
      Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nhost: fuzz\r\nbroken header\r\ncontent-length: 2\r\n\r\n`), Buffer.from('{}')]),
    ],
    ['HTTP/0.9', Buffer.from(`GET ${path}\r\n\r\n`)],
    ['HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
  ];
  const [kind, bytes] = pick(random, variants);
  return { kind, raw: bytes, halfClose: true };
}

/**
 * Sends one request on a fresh connection and reads the status line of the answer:
 * a status, 'closed' when the server closed without answering, or 'hung' past `timeoutMs`.
 */
export function send(host: string, port: number, request: BadRequest, timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (answer: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish({ status: 'hung' }), timeoutMs);
    socket.on('connect', () => (request.halfClose ? socket.end(request.raw) : socket.write(request.raw)));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      finish(status ? { status: Number(status[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) } : { status: 'closed' });
    });
  });
}

/** Whether a 5xx answer was caused by the server itself rather than by user code (a function_error). */
export function serverFault(answer: Answer): boolean {
  if (typeof answer.status !== 'number' || answer.status < 500) return false;
  return !('body' in answer && /"type":"function_error"/.test(answer.body));
}
