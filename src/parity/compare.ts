// What differs between a golden answer and the emulator's: the status, the set of headers that
// matter (and the media type), the body's key order and types, the SSE framing and the async run.
// Values themselves are not compared: a model's output may differ, its surface must not.
import type { Observation } from './exchange.ts';

/** Header values compared as well as their presence. */
const COMPARED_VALUES = ['content-type', 'cache-control'];

export function differences(golden: Observation, actual: Observation): string[] {
  const out: string[] = [];
  if (golden.status !== actual.status) out.push(`status: expected ${golden.status}, got ${actual.status}`);
  compareHeaders(golden.headers, actual.headers, out);
  if ((golden.text === undefined) !== (actual.text === undefined)) {
    out.push(`body: expected ${golden.text === undefined ? 'JSON' : 'text'}, got ${actual.text === undefined ? 'JSON' : 'text'}`);
  }
  if (golden.shape !== undefined || actual.shape !== undefined) compareShapes(golden.shape, actual.shape, 'body', out);
  compareEvents(golden, actual, out);
  if (golden.run || actual.run) {
    if (golden.run?.status !== actual.run?.status)
      out.push(`run: read back with ${actual.run?.status ?? 'nothing'}, expected ${golden.run?.status ?? 'nothing'}`);
    compareShapes(golden.run?.shape, actual.run?.shape, 'run', out);
  }
  return out;
}

function compareHeaders(golden: Record<string, string>, actual: Record<string, string>, out: string[]): void {
  for (const name of Object.keys(golden)) if (!(name in actual)) out.push(`header ${name}: missing (expected "${golden[name]}")`);
  for (const name of Object.keys(actual)) if (!(name in golden)) out.push(`header ${name}: not expected (got "${actual[name]}")`);
  for (const name of COMPARED_VALUES) {
    if (name in golden && name in actual && golden[name] !== actual[name]) {
      out.push(`header ${name}: expected "${golden[name]}", got "${actual[name]}"`);
    }
  }
}

const kindOf = (shape: unknown) =>
  Array.isArray(shape) ? 'array' : typeof shape === 'object' && shape !== null ? 'object' : String(shape);

/** Shapes as shapeOf makes them: objects' keys in order, arrays' distinct item shapes, leaf type names. */
function compareShapes(golden: unknown, actual: unknown, path: string, out: string[]): void {
  const [g, a] = [kindOf(golden), kindOf(actual)];
  if (g !== a) {
    out.push(`${path}: expected ${g}, got ${a}`);
    return;
  }
  if (g === 'array') {
    const [gs, as] = [golden as unknown[], actual as unknown[]];
    // An empty array says nothing about its items.
    if (gs.length > 0 && as.length > 0) compareShapes(gs[0], as[0], `${path}[]`, out);
    return;
  }
  if (g !== 'object') return;
  const [go, ao] = [golden as Record<string, unknown>, actual as Record<string, unknown>];
  const [gk, ak] = [Object.keys(go), Object.keys(ao)];
  const missing = gk.filter((k) => !ak.includes(k));
  const extra = ak.filter((k) => !gk.includes(k));
  if (missing.length > 0) out.push(`${path}: missing key${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`);
  if (extra.length > 0) out.push(`${path}: unexpected key${extra.length > 1 ? 's' : ''} ${extra.join(', ')}`);
  const shared = gk.filter((k) => ak.includes(k));
  const sharedActual = ak.filter((k) => gk.includes(k));
  if (shared.join('\u0000') !== sharedActual.join('\u0000')) {
    out.push(`${path}: key order expected [${shared.join(', ')}], got [${sharedActual.join(', ')}]`);
  }
  for (const key of shared) compareShapes(go[key], ao[key], `${path}.${key}`, out);
}

function compareEvents(golden: Observation, actual: Observation, out: string[]): void {
  if (!golden.events && !actual.events) return;
  if (!golden.events || !actual.events) {
    out.push(`framing: expected ${golden.events ? 'an event stream' : 'no event stream'}, got ${actual.events ? 'one' : 'none'}`);
    return;
  }
  const [ge, ae] = [golden.events, actual.events];
  if (ge.length !== ae.length) out.push(`framing: expected ${ge.length} events, got ${ae.length}`);
  for (let i = 0; i < Math.min(ge.length, ae.length); i += 1) {
    if (ge[i].fields.join(',') !== ae[i].fields.join(',')) {
      out.push(`framing: event ${i + 1} has fields [${ae[i].fields.join(', ')}], expected [${ge[i].fields.join(', ')}]`);
    }
    if (ge[i].event !== ae[i].event)
      out.push(`framing: event ${i + 1} is named ${ae[i].event ?? '(none)'}, expected ${ge[i].event ?? '(none)'}`);
    compareShapes(ge[i].shape, ae[i].shape, `event ${i + 1} data`, out);
  }
  if (golden.streamEnd !== actual.streamEnd) out.push(`framing: the stream ended ${actual.streamEnd}, expected ${golden.streamEnd}`);
}
