// POST /v4/:projectId/:appName/:functionName/embeddings (and /embedding, the name Cerebrium's docs
// use). The function returns an OpenAI embeddings response or bare vectors; the route answers the
// OpenAI list object, each vector as floats or, when asked (the Node SDK's default), as base64 of
// little-endian float32 — so the function never deals with encodings.
import type { FastifyInstance } from 'fastify';
import { CerebriumLocalError } from '../errors.ts';
import { type EmbeddingsResponse, embeddingTokens } from '../openai.ts';
import type { Run } from '../runs/run.ts';
import { runError } from '../runs/run-outcome.ts';
import { resetWhenSettled } from './fault-reply.ts';
import type { OpenAiRouteOptions } from './openai-chat.ts';
import { isJsonObject } from './openai-chat-chunks.ts';
import { acceptAsync, startForCaller } from './run-reply.ts';
import { type FunctionRoute, parseRunRequest } from './run-request.ts';

type EncodingFormat = 'float' | 'base64';

export function registerEmbeddingsRoutes(scope: FastifyInstance, { runs, sse }: OpenAiRouteOptions): void {
  for (const path of ['embeddings', 'embedding']) {
    scope.post<FunctionRoute>(`/v4/:projectId/:appName/:functionName/${path}`, async (request, reply) => {
      // Checked before a run exists: a format the route cannot write must not cost a run.
      const format = encodingFormat(request.body);
      const { request: runRequest, async } = await parseRunRequest(request, runs);
      if (async) return acceptAsync(reply, runs, runRequest);

      const started = startForCaller(reply, runs, runRequest);
      if (runRequest.fault?.reset) return resetWhenSettled(reply, started);
      const { run, settled } = started;
      await settled;
      if (run.status !== 'success') throw runError(run, sse.exposeStack);
      const body = embeddingsBody(run, format);
      return reply.code(200).type('application/json; charset=utf-8').send(JSON.stringify(body));
    });
  }
}

function encodingFormat(body: unknown): EncodingFormat {
  const format = isJsonObject(body) ? body.encoding_format : undefined;
  if (format === undefined || format === null || format === 'float') return 'float';
  if (format === 'base64') return 'base64';
  throw new CerebriumLocalError('invalid_encoding_format', `encoding_format must be "float" or "base64", not ${JSON.stringify(format)}`, {
    param: 'encoding_format',
  });
}

function invalidResult(run: Run, why: string): CerebriumLocalError {
  return new CerebriumLocalError(
    'invalid_embeddings_result',
    `An embeddings function must return an embeddings response or a list of vectors (number[][] or Float32Array[]); "${run.functionName}" returned ${why}`,
  );
}

/** The OpenAI list object for a run's result, vectors in the format asked for. */
function embeddingsBody(run: Run, format: EncodingFormat): EmbeddingsResponse {
  const value: unknown = JSON.parse(run.resultJson ?? 'null');
  const request = run.params;
  let items: unknown[];
  let model: unknown = request.model;
  let usage: unknown;
  if (isJsonObject(value) && Array.isArray(value.data)) {
    items = value.data.map((item) => (isJsonObject(item) ? item.embedding : item));
    model = typeof value.model === 'string' && value.model !== '' ? value.model : model;
    usage = value.usage;
  } else if (Array.isArray(value)) {
    // One flat vector answers a single input.
    items = value.length > 0 && value.every((x) => typeof x === 'number') ? [value] : value;
  } else {
    throw invalidResult(run, value === null ? 'null' : typeof value);
  }

  const data = items.map((item, index) => {
    const vector = readVector(item);
    if (!vector) throw invalidResult(run, `an item at index ${index} that is not a vector`);
    return { object: 'embedding' as const, index, embedding: format === 'base64' ? toBase64(vector) : vector };
  });
  const promptTokens =
    isJsonObject(usage) && typeof usage.prompt_tokens === 'number' ? usage.prompt_tokens : embeddingTokens(request.input);
  const totalTokens = isJsonObject(usage) && typeof usage.total_tokens === 'number' ? usage.total_tokens : promptTokens;
  return {
    object: 'list',
    data,
    model: typeof model === 'string' ? model : run.functionName,
    usage: { prompt_tokens: promptTokens, total_tokens: totalTokens },
  };
}

/**
 * A vector as it arrives in the result's JSON: an array of numbers, a base64 string (a function
 * that encoded it itself), or `{"0": …, "1": …}`, which is how JSON.stringify writes a Float32Array.
 */
function readVector(item: unknown): number[] | undefined {
  if (Array.isArray(item)) return item.every((x) => typeof x === 'number') ? (item as number[]) : undefined;
  if (typeof item === 'string') {
    const bytes = Buffer.from(item, 'base64');
    if (bytes.length % 4 !== 0) return undefined;
    const vector: number[] = [];
    for (let offset = 0; offset < bytes.length; offset += 4) vector.push(bytes.readFloatLE(offset));
    return vector;
  }
  if (isJsonObject(item)) {
    const length = Object.keys(item).length;
    const vector: number[] = [];
    for (let i = 0; i < length; i++) {
      const x = item[i];
      if (typeof x !== 'number') return undefined;
      vector.push(x);
    }
    return vector;
  }
  return undefined;
}

/** Little-endian float32, whatever the machine's own byte order. */
function toBase64(vector: number[]): string {
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i], i * 4);
  return bytes.toString('base64');
}
