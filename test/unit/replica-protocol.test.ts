// The replica protocol's shapes on their own. Thread replicas carry these messages by structured
// clone; a process replica will read and write the very same objects as JSON lines, so each
// message's JSON text is pinned here exactly, key order included.
import { describe, expect, it } from 'vitest';
import {
  PROCESS_REPLICA_MESSAGE_TYPES,
  PROCESS_SERVER_MESSAGE_TYPES,
  type ProcessReplicaMessage,
  type ProcessServerMessage,
  REPLICA_MESSAGE_TYPES,
  type ReplicaMessage,
  type RunResult,
  SERVER_MESSAGE_TYPES,
  type ServerMessage,
} from '../../src/replica-protocol.ts';

type ByType<M extends { type: string }> = { [T in M['type']]: Extract<M, { type: T }> };

/** One sample of every replica → server message, with the JSON line a process replica writes for it. */
const replicaSamples: ByType<ReplicaMessage> = {
  started: { type: 'started', replica: 7 },
  chunks: { type: 'chunks', data: ['data: {"token":"Hel"}\n\n', { token: 'lo' }, 3, null, ['a', 'b']] },
  logs: { type: 'logs', lines: [{ at: 1700000000000, stream: 'log', level: 'info', line: 'loading "model"' }] },
  end: { type: 'end', result: { ok: true, json: '{"answer":42}', statusCode: 201, runTimeMs: 12.5 } },
};

const replicaLines: Record<ReplicaMessage['type'], string> = {
  started: '{"type":"started","replica":7}',
  chunks: '{"type":"chunks","data":["data: {\\"token\\":\\"Hel\\"}\\n\\n",{"token":"lo"},3,null,["a","b"]]}',
  logs: '{"type":"logs","lines":[{"at":1700000000000,"stream":"log","level":"info","line":"loading \\"model\\""}]}',
  end: '{"type":"end","result":{"ok":true,"json":"{\\"answer\\":42}","statusCode":201,"runTimeMs":12.5}}',
};

/** One sample of every server → replica message, with the JSON line a process replica reads for it. */
const serverSamples: ByType<ServerMessage> = {
  abort: { type: 'abort', reason: 'Cancelled through the runs API' },
  credit: { type: 'credit', n: 32 },
};

const serverLines: Record<ServerMessage['type'], string> = {
  abort: '{"type":"abort","reason":"Cancelled through the runs API"}',
  credit: '{"type":"credit","n":32}',
};

const sorted = (names: readonly string[]) => [...names].sort();

describe('the protocol vocabulary', () => {
  it('lists every replica → server message type, and no other', () => {
    // The sample table is typed to need exactly one entry per type of the union.
    expect(sorted(REPLICA_MESSAGE_TYPES)).toEqual(sorted(Object.keys(replicaSamples)));
    expect(new Set(REPLICA_MESSAGE_TYPES).size).toBe(REPLICA_MESSAGE_TYPES.length);
  });

  it('lists every server → replica message type, and no other', () => {
    expect(sorted(SERVER_MESSAGE_TYPES)).toEqual(sorted(Object.keys(serverSamples)));
    expect(new Set(SERVER_MESSAGE_TYPES).size).toBe(SERVER_MESSAGE_TYPES.length);
  });
});

describe.each(REPLICA_MESSAGE_TYPES)('the replica → server message "%s"', (type) => {
  const sample = replicaSamples[type];

  it('serialises to exactly one JSON line of the expected shape', () => {
    const line = JSON.stringify(sample);
    expect(line).toBe(replicaLines[type]);
    // A newline inside a chunk is escaped, so one message can never span two lines.
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual(sample);
  });

  it('survives structured clone unchanged', () => {
    const copy = structuredClone(sample);
    expect(copy).toEqual(sample);
    expect(copy).not.toBe(sample);
  });
});

describe.each(SERVER_MESSAGE_TYPES)('the server → replica message "%s"', (type) => {
  const sample = serverSamples[type];

  it('serialises to exactly one JSON line of the expected shape', () => {
    const line = JSON.stringify(sample);
    expect(line).toBe(serverLines[type]);
    expect(JSON.parse(line)).toEqual(sample);
  });

  it('survives structured clone unchanged', () => {
    const copy = structuredClone(sample);
    expect(copy).toEqual(sample);
    expect(copy).not.toBe(sample);
  });
});

describe('the native-call gauge that comes with a thread replica’s first "started"', () => {
  // `nativeCalls` is for thread replicas only: it shares memory between threads, which structured
  // clone keeps and JSON cannot express. A process replica never sends it.
  const withGauge = (): Extract<ReplicaMessage, { type: 'started' }> => ({
    type: 'started',
    replica: 3,
    nativeCalls: new Int32Array(new SharedArrayBuffer(8)),
  });

  it('arrives through structured clone as an Int32Array sharing the replica’s memory', () => {
    const sent = withGauge();
    const received = structuredClone(sent);
    expect(received.replica).toBe(3);
    expect(received.nativeCalls).toBeInstanceOf(Int32Array);
    expect(received.nativeCalls?.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(received.nativeCalls).toHaveLength(2);

    // A count the replica raises is seen by the server without another message.
    Atomics.add(sent.nativeCalls!, 0, 1);
    expect(Atomics.load(received.nativeCalls!, 0)).toBe(1);
  });

  it('is not JSON-serialisable: as a JSON line it would arrive as a plain object, its sharing lost', () => {
    const line = JSON.stringify(withGauge());
    expect(line).toBe('{"type":"started","replica":3,"nativeCalls":{"0":0,"1":0}}');
    expect((JSON.parse(line) as { nativeCalls: unknown }).nativeCalls).not.toBeInstanceOf(Int32Array);
  });
});

describe('RunResult', () => {
  it('serialises a success with its JSON text as a string and the status the function chose', () => {
    const result: RunResult = { ok: true, json: '{"echo":{"x":1}}', statusCode: 202, runTimeMs: 1.25 };
    expect(JSON.stringify(result)).toBe('{"ok":true,"json":"{\\"echo\\":{\\"x\\":1}}","statusCode":202,"runTimeMs":1.25}');
    expect(structuredClone(result)).toEqual(result);
  });

  it('serialises a success that chose no status without a statusCode key', () => {
    const result: RunResult = { ok: true, json: 'null', runTimeMs: 0 };
    expect(JSON.stringify(result)).toBe('{"ok":true,"json":"null","runTimeMs":0}');
    expect(structuredClone(result)).toEqual(result);
  });

  it('serialises a failure with the serialised error and its flags', () => {
    const result: RunResult = {
      ok: false,
      error: { name: 'AbortError', message: 'Cancelled through the runs API', stack: 'AbortError: Cancelled\n    at fn', aborted: true },
      runTimeMs: 4,
    };
    expect(JSON.stringify(result)).toBe(
      '{"ok":false,"error":{"name":"AbortError","message":"Cancelled through the runs API",' +
        '"stack":"AbortError: Cancelled\\n    at fn","aborted":true},"runTimeMs":4}',
    );
    expect(JSON.parse(JSON.stringify(result))).toEqual(result);
    expect(structuredClone(result)).toEqual(result);
  });

  it('serialises a replica crash the way the backend reports it', () => {
    const result: RunResult = { ok: false, error: { name: 'ReplicaReplaced', message: 'did not stop', crashed: true }, runTimeMs: 0 };
    expect(JSON.stringify(result)).toBe(
      '{"ok":false,"error":{"name":"ReplicaReplaced","message":"did not stop","crashed":true},"runTimeMs":0}',
    );
    expect(structuredClone(result)).toEqual(result);
  });
});

/** One sample of every line a process replica (src/python/bridge.py) writes, with its exact text. */
const processReplicaSamples: Record<ProcessReplicaMessage['type'], [ProcessReplicaMessage, string]> = {
  ready: [{ type: 'ready', pid: 4242, python: '3.11.2' }, '{"type":"ready","pid":4242,"python":"3.11.2"}'],
  failed: [
    { type: 'failed', error: { name: 'ModuleNotFoundError', message: "No module named 'torch'" } },
    '{"type":"failed","error":{"name":"ModuleNotFoundError","message":"No module named \'torch\'"}}',
  ],
  started: [{ type: 'started', runId: 'r1', replica: 4242 }, '{"type":"started","runId":"r1","replica":4242}'],
  chunks: [{ type: 'chunks', runId: 'r1', data: ['Hel', { token: 'lo' }] }, '{"type":"chunks","runId":"r1","data":["Hel",{"token":"lo"}]}'],
  end: [
    { type: 'end', runId: 'r1', result: { ok: false, error: { name: 'ValueError', message: 'bad' }, runTimeMs: 1.5 } },
    '{"type":"end","runId":"r1","result":{"ok":false,"error":{"name":"ValueError","message":"bad"},"runTimeMs":1.5}}',
  ],
  logs: [
    { type: 'logs', runId: 'r1', lines: [{ at: 1, stream: 'stdout', level: 'info', line: 'hi' }] },
    '{"type":"logs","runId":"r1","lines":[{"at":1,"stream":"stdout","level":"info","line":"hi"}]}',
  ],
  log: [
    { type: 'log', runId: 'r1', stream: 'logging', level: 'warning', line: 'low memory' },
    '{"type":"log","runId":"r1","stream":"logging","level":"warning","line":"low memory"}',
  ],
  exports: [
    { type: 'exports', exports: [{ name: 'predict', file: 'main.py', kind: 'function', paramsSchema: { type: 'object' } }] },
    '{"type":"exports","exports":[{"name":"predict","file":"main.py","kind":"function","paramsSchema":{"type":"object"}}]}',
  ],
};

/** One sample of every line the server writes to a process replica. */
const processServerSamples: Record<ProcessServerMessage['type'], [ProcessServerMessage, string]> = {
  run: [
    { type: 'run', runId: 'r1', projectId: 'p-1', functionName: 'predict', params: { text: 'hi' }, stream: 'raw' },
    '{"type":"run","runId":"r1","projectId":"p-1","functionName":"predict","params":{"text":"hi"},"stream":"raw"}',
  ],
  abort: [
    { type: 'abort', runId: 'r1', reason: 'The caller disconnected' },
    '{"type":"abort","runId":"r1","reason":"The caller disconnected"}',
  ],
  credit: [{ runId: 'r1', type: 'credit', n: 32 }, '{"runId":"r1","type":"credit","n":32}'],
};

describe('process replica lines', () => {
  it('lists every message type a process replica writes, and no other', () => {
    expect(sorted(PROCESS_REPLICA_MESSAGE_TYPES)).toEqual(sorted(Object.keys(processReplicaSamples)));
  });

  it('lists every message type the server writes to a process replica, and no other', () => {
    expect(sorted(PROCESS_SERVER_MESSAGE_TYPES)).toEqual(sorted(Object.keys(processServerSamples)));
  });

  it.each(Object.entries({ ...processReplicaSamples, ...processServerSamples }))(
    'writes "%s" as one exact JSON line',
    (_type, [sample, line]) => {
      expect(JSON.stringify(sample)).toBe(line);
      expect(JSON.parse(line)).toEqual(sample);
    },
  );
});
