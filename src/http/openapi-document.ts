// GET /openapi.json: the routes of every loaded app, one path per public function with the
// parameter schema it declared, shaped like shared/reference/cerebrium-openapi.yml. OpenAPI 3.1,
// because functions' schemas are JSON Schema (TypeBox) and 3.1 takes JSON Schema as it is.
import { type AppFunction, AppRegistry, type LoadedApp } from '../apps/app-registry.ts';

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json(ref('ErrorResponse')) });

const COMPONENT_SCHEMAS: Record<string, Schema> = {
  RunResponse: {
    type: 'object',
    required: ['run_id', 'result', 'run_time_ms'],
    properties: {
      run_id: { type: 'string', format: 'uuid', description: 'Unique identifier of the run; also the x-request-id header.' },
      result: { description: 'What the function returned.' },
      run_time_ms: { type: 'number', description: "The function's own duration in milliseconds." },
    },
  },
  AsyncAcceptedResponse: {
    type: 'object',
    required: ['run_id'],
    additionalProperties: false,
    properties: { run_id: { type: 'string', format: 'uuid' } },
  },
  OpenAiError: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['message', 'type', 'code'],
        properties: {
          message: { type: 'string' },
          type: { type: 'string' },
          param: { type: ['string', 'null'] },
          code: { type: ['string', 'null'] },
        },
      },
    },
  },
  ChatCompletion: {
    type: 'object',
    required: ['id', 'object', 'created', 'model', 'choices'],
    properties: {
      id: { type: 'string' },
      object: { const: 'chat.completion' },
      created: { type: 'integer' },
      model: { type: 'string' },
      choices: {
        type: 'array',
        items: {
          type: 'object',
          required: ['index', 'message', 'finish_reason'],
          properties: {
            index: { type: 'integer' },
            message: { type: 'object', required: ['role'], properties: { role: { type: 'string' } } },
            finish_reason: { type: ['string', 'null'] },
          },
        },
      },
      usage: { $ref: '#/components/schemas/Usage' },
    },
  },
  Usage: {
    type: 'object',
    required: ['prompt_tokens', 'total_tokens'],
    properties: {
      prompt_tokens: { type: 'integer' },
      completion_tokens: { type: 'integer' },
      total_tokens: { type: 'integer' },
    },
  },
  EmbeddingList: {
    type: 'object',
    required: ['object', 'data', 'model', 'usage'],
    properties: {
      object: { const: 'list' },
      data: {
        type: 'array',
        items: {
          type: 'object',
          required: ['object', 'index', 'embedding'],
          properties: {
            object: { const: 'embedding' },
            index: { type: 'integer' },
            embedding: {
              description: 'Floats, or base64 of little-endian float32 when encoding_format is "base64".',
              oneOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }],
            },
          },
        },
      },
      model: { type: 'string' },
      usage: { $ref: '#/components/schemas/Usage' },
    },
  },
  Run: {
    type: 'object',
    required: ['id', 'functionName', 'status', 'async', 'method', 'createdAt', 'region'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      functionName: { type: 'string' },
      status: { enum: ['pending', 'running', 'success', 'failure', 'cancelled'] },
      statusCode: { type: ['integer', 'null'] },
      async: { type: 'boolean' },
      webhookEndpoint: { type: ['string', 'null'] },
      method: { type: 'string' },
      createdAt: { type: 'string', format: 'date-time' },
      completedAt: { type: ['string', 'null'] },
      runtimeMs: { type: ['number', 'null'] },
      queueTimeMs: { type: ['number', 'null'] },
      region: { type: 'string' },
      result: { description: 'What the function returned, once it succeeded.' },
      error: { type: ['object', 'null'] },
    },
  },
  ErrorResponse: {
    type: 'object',
    required: ['error'],
    properties: {
      run_id: { type: 'string', format: 'uuid', description: 'Present when a run existed.' },
      error: {
        type: 'object',
        required: ['message', 'type', 'code'],
        properties: {
          message: { type: 'string' },
          type: { type: 'string' },
          code: { type: 'string' },
        },
      },
    },
  },
};

function pathParameters(): Schema[] {
  return [{ name: 'projectId', in: 'path', required: true, description: 'Any project id is accepted.', schema: { type: 'string' } }];
}

const queryParameters: Schema[] = [
  {
    name: 'async',
    in: 'query',
    required: false,
    description: 'When true, the call answers 202 with a run_id and runs in the background.',
    schema: { type: 'boolean' },
  },
  {
    name: 'webhookEndpoint',
    in: 'query',
    required: false,
    description: "An http(s) URL that receives the run's outcome as a POST.",
    schema: { type: 'string', format: 'uri' },
  },
];

function invokeOperation(app: LoadedApp, fn: AppFunction, components: Schema): Schema {
  const streams = fn.kind !== 'function';
  const ok: Schema = { description: 'The run succeeded.', content: json(ref('RunResponse')) };
  if (streams) {
    (ok.content as Schema)['text/event-stream'] = {
      schema: { type: 'string', description: 'One Server-Sent Event per chunk the generator yields.' },
    };
  }
  const responses: Record<string, Schema> = {
    200: ok,
    202: { description: 'Accepted to run in the background (async=true).', content: json(ref('AsyncAcceptedResponse')) },
    400: errorResponse('The body is not a JSON object, or a query parameter is invalid.'),
    404: errorResponse('No such app or function, or the name is private.'),
    413: errorResponse('The body is larger than the limit.'),
    429: errorResponse('Too many runs are waiting for this app.'),
    500: errorResponse('The function threw, its result cannot be encoded, or its replica crashed.'),
    503: errorResponse('The server is loading its apps or shutting down.'),
    504: errorResponse('The run outlived response_grace_period.'),
  };
  if (fn.paramsSchema) responses[422] = errorResponse('The body does not match the parameters the function declared.');
  if (!app.config.disableAuth) {
    responses[401] = errorResponse('Missing or invalid bearer token.');
    responses[403] = errorResponse('The token is for another project.');
  }
  const operation: Schema = {
    operationId: `${app.config.name}.${fn.name}`,
    tags: [app.config.name],
    summary: fn.description ?? `Invoke ${fn.name} (${fn.file})${streams ? '; streams with Accept: text/event-stream' : ''}`,
    parameters: [...pathParameters(), ...queryParameters],
    requestBody: {
      required: false,
      content: json(
        fn.paramsSchema
          ? hoistDefs(fn.paramsSchema, `${app.config.name}.${fn.name}.`, components)
          : { type: 'object', additionalProperties: true, description: "The function's parameters." },
      ),
    },
    responses,
  };
  if (!app.config.disableAuth) operation.security = [{ bearerAuth: [] }];
  return operation;
}

const openAiError = (description: string) => ({ description, content: json(ref('OpenAiError')) });

/** The routes every function has besides its own path: OpenAI's, then the runs API. */
function sharedPaths(appNames: string[]): Record<string, Schema> {
  return { ...openAiPaths(appNames), ...runsPaths() };
}

/** OpenAI's routes under a function's path: chat completions, and embeddings under both names. */
function openAiPaths(appNames: string[]): Record<string, Schema> {
  const appName = { name: 'appName', in: 'path', required: true, schema: { type: 'string', enum: appNames } };
  const functionName = { name: 'functionName', in: 'path', required: true, schema: { type: 'string' } };
  const openAiParameters = [...pathParameters(), appName, functionName];
  const openAiErrors = {
    400: openAiError('The body is not valid for the route or for the function.'),
    401: openAiError('Missing or invalid bearer token (apps with disable_auth = false).'),
    404: openAiError('No such app or function.'),
    500: openAiError('The function threw or returned something the route cannot answer with.'),
  };
  const embeddings = { post: embeddingsOperation(openAiParameters, openAiErrors) };
  return {
    '/v4/{projectId}/{appName}/{functionName}/chat/completions': { post: chatCompletionsOperation(openAiParameters, openAiErrors) },
    '/v4/{projectId}/{appName}/{functionName}/embeddings': embeddings,
    '/v4/{projectId}/{appName}/{functionName}/embedding': embeddings,
  };
}

function chatCompletionsOperation(parameters: Schema[], errors: Record<number, Schema>): Schema {
  return {
    operationId: 'openaiChatCompletions',
    tags: ['OpenAI compatible'],
    summary: 'OpenAI chat completions: the function gets the request body; stream: true answers SSE chunks ending in [DONE]',
    parameters,
    requestBody: { required: true, content: json({ type: 'object', additionalProperties: true }) },
    responses: {
      200: {
        description: 'The chat.completion, or with stream: true the chat.completion.chunk events.',
        content: { ...json(ref('ChatCompletion')), 'text/event-stream': { schema: { type: 'string' } } },
      },
      ...errors,
    },
  };
}

function embeddingsOperation(parameters: Schema[], errors: Record<number, Schema>): Schema {
  return {
    operationId: 'openaiEmbeddings',
    tags: ['OpenAI compatible'],
    summary: "OpenAI embeddings from a function that returns vectors or an embeddings response (the SDK's default encoding is base64)",
    parameters,
    requestBody: { required: true, content: json({ type: 'object', additionalProperties: true }) },
    responses: { 200: { description: 'The embeddings list.', content: json(ref('EmbeddingList')) }, ...errors },
  };
}

/** The runs API: an app's runs, one run, and cancelling one. */
function runsPaths(): Record<string, Schema> {
  const appId = { name: 'appId', in: 'path', required: true, description: '{projectId}-{appName}', schema: { type: 'string' } };
  const runId = { name: 'runId', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } };
  const item = { type: 'object', required: ['item'], properties: { item: ref('Run') } };
  return {
    '/v2/projects/{projectId}/apps/{appId}/runs': { get: listRunsOperation(appId) },
    '/v2/projects/{projectId}/apps/{appId}/runs/{runId}': {
      get: {
        operationId: 'getRun',
        tags: ['Runs'],
        parameters: [...pathParameters(), appId, runId],
        responses: { 200: { description: 'The run.', content: json(item) }, 404: errorResponse('No such run.') },
      },
    },
    '/v2/projects/{projectId}/apps/{appId}/runs/{runId}/cancel': {
      post: {
        operationId: 'cancelRun',
        tags: ['Runs'],
        parameters: [...pathParameters(), appId, runId],
        responses: {
          200: { description: 'The run, once it has stopped (or after 5 s, as it was then).', content: json(item) },
          404: errorResponse('No such run.'),
          409: errorResponse('The run had already finished.'),
        },
      },
    },
  };
}

function listRunsOperation(appId: Schema): Schema {
  return {
    operationId: 'listRuns',
    tags: ['Runs'],
    summary: 'Runs of an app, newest first',
    parameters: [
      ...pathParameters(),
      appId,
      { name: 'asyncOnly', in: 'query', required: false, schema: { type: 'boolean' } },
      { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100 } },
      { name: 'nextToken', in: 'query', required: false, schema: { type: 'string' } },
      // This emulator's filters (the dashboard's); the real runs API has asyncOnly only.
      {
        name: 'status',
        in: 'query',
        required: false,
        schema: { type: 'string', enum: ['pending', 'running', 'success', 'failure', 'cancelled'] },
      },
      { name: 'functionName', in: 'query', required: false, schema: { type: 'string' } },
    ],
    responses: {
      200: {
        description: 'One page of runs.',
        content: json({
          type: 'object',
          required: ['items', 'nextToken'],
          properties: { items: { type: 'array', items: ref('Run') }, nextToken: { type: ['string', 'null'] } },
        }),
      },
      400: errorResponse('A bad limit, nextToken or status.'),
    },
  };
}

/**
 * A parameters schema whose definitions (`$defs`, e.g. a recursive pydantic model's) would not
 * resolve inside a request body: they move to components/schemas under `prefix`, and their refs
 * follow them.
 */
function hoistDefs(schema: Schema, prefix: string, components: Schema): Schema {
  const defs = schema.$defs as Schema | undefined;
  if (!defs) return schema;
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (typeof value !== 'object' || value === null) return value;
    const out: Schema = {};
    for (const [key, inner] of Object.entries(value)) {
      out[key] =
        key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/')
          ? ref(`${prefix}${inner.slice(8)}`).$ref
          : rewrite(inner);
    }
    return out;
  };
  for (const [name, def] of Object.entries(defs)) components[`${prefix}${name}`] = rewrite(def);
  const { $defs: _moved, ...rest } = schema;
  return rewrite(rest) as Schema;
}

export interface OpenApiOptions {
  /** The server's own URL, listed under `servers`. */
  serverUrl: string;
  version: string;
  /** Which apps the caller may see (a locked app only with a token); every app when absent. */
  visible?: (app: LoadedApp) => boolean;
}

export function buildOpenApiDocument(registry: AppRegistry, options: OpenApiOptions): Schema {
  const paths: Record<string, Schema> = {};
  const components: Schema = { ...COMPONENT_SCHEMAS };
  const apps = registry.list().filter((app) => options.visible?.(app) ?? true);
  for (const app of apps) {
    for (const fn of AppRegistry.publicFunctions(app)) {
      paths[`/v4/{projectId}/${app.config.name}/${fn.name}`] = { post: invokeOperation(app, fn, components) };
    }
  }
  Object.assign(paths, sharedPaths(apps.map((app) => app.config.name)));
  const document: Schema = {
    openapi: '3.1.0',
    info: {
      title: 'cerebrium-local',
      version: options.version,
      description:
        'The Cerebrium inference surface as this server emulates it: each public function of each loaded app is a POST ' +
        'under /v4/{projectId}/{appName}/{functionName}, also served as OpenAI chat/completions and embeddings; ' +
        'runs are read and cancelled under /v2/projects/{projectId}/apps/{projectId}-{appName}/runs.',
    },
    servers: [{ url: options.serverUrl }],
    paths,
    components: { schemas: components },
  };
  if (apps.some((app) => !app.config.disableAuth)) {
    (document.components as Schema).securitySchemes = {
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    };
  }
  return document;
}
