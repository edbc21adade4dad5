// What makes two answers comparable across servers and days: volatile values (run ids, other
// uuids, times, durations) replaced by placeholders, and the shape of a JSON value (its key
// order and the type of every leaf) written out as a value of its own.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/;
/** Keys whose number is a measurement or a moment, never the same twice. */
const VOLATILE_NUMBERS = new Set(['run_time_ms', 'runtimeMs', 'runTimeMs', 'queueTimeMs', 'durationMs', 'created', 'timestamp']);

/** `value` with volatile parts replaced: `runId` → "<run_id>", other uuids → "<uuid>", times → "<time>". */
export function normalise(value: unknown, runId?: string, key?: string): unknown {
  if (typeof value === 'string') {
    if (runId !== undefined && value === runId) return '<run_id>';
    if (UUID.test(value)) return '<uuid>';
    if (ISO_TIME.test(value)) return '<time>';
    return value;
  }
  if (typeof value === 'number') return key !== undefined && VOLATILE_NUMBERS.has(key) ? '<number>' : value;
  if (Array.isArray(value)) return value.map((item) => normalise(item, runId));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalise(v, runId, k);
    return out;
  }
  return value;
}

/**
 * The shape of a JSON value: an object's keys in order with their shapes, an array's distinct item
 * shapes, and "string" / "number" / "boolean" / "null" for leaves.
 */
export function shapeOf(value: unknown): unknown {
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const seen = new Map<string, unknown>();
    for (const item of value) {
      const shape = shapeOf(item);
      seen.set(JSON.stringify(shape), shape);
    }
    return [...seen.values()];
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = shapeOf(v);
    return out;
  }
  return typeof value;
}
