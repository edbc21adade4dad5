// GET /openapi.json: the routes of every loaded app, one path per public function with the
// parameter schema it declared, shaped like shared/reference/cerebrium-openapi.yml. OpenAPI 3.1,
// because functions' schemas are JSON Schema (TypeBox) and 3.1 takes JSON Schema as it is.
import { AppRegistry, type AppFunction, type LoadedApp } from '../apps/app-registry.ts';

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
  return [
    { name: 'projectId', in: 'path', required: true, description: 'Any project id is accepted.', schema: { type: 'string' } },
  ];
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

function invokeOperation(app: LoadedApp, fn: AppFunction): Schema {
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
    responses[403] = errorResponse("The token is for another project.");
  }
  const operation: Schema = {
    operationId: `${app.config.name}.${fn.name}`,
    tags: [app.config.name],
    summary: fn.description ?? `Invoke ${fn.name} (${fn.file})${streams ? '; streams with Accept: text/event-stream' : ''}`,
    parameters: [...pathParameters(), ...queryParameters],
    requestBody: {
      required: false,
      content: json(fn.paramsSchema ?? { type: 'object', additionalProperties: true, description: "The function's parameters." }),
    },
    responses,
  };
  if (!app.config.disableAuth) operation.security = [{ bearerAuth: [] }];
  return operation;
}

export interface OpenApiOptions {
  /** The server's own URL, listed under `servers`. */
  serverUrl: string;
  version: string;
}

export function buildOpenApiDocument(registry: AppRegistry, options: OpenApiOptions): Schema {
  const paths: Record<string, Schema> = {};
  const apps = registry.list();
  for (const app of apps) {
    for (const fn of AppRegistry.publicFunctions(app)) {
      paths[`/v4/{projectId}/${app.config.name}/${fn.name}`] = { post: invokeOperation(app, fn) };
    }
  }
  const document: Schema = {
    openapi: '3.1.0',
    info: {
      title: 'cerebrium-local',
      version: options.version,
      description:
        "The Cerebrium inference surface as this server emulates it: each public function of each loaded app is a POST " +
        'under /v4/{projectId}/{appName}/{functionName}. The OpenAI-compatible routes (/chat/completions, /embeddings) ' +
        'and the runs API (/v2/projects/...) are described in the README.',
    },
    servers: [{ url: options.serverUrl }],
    paths,
    components: { schemas: COMPONENT_SCHEMAS },
  };
  if (apps.some((app) => !app.config.disableAuth)) {
    (document.components as Schema).securitySchemes = {
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    };
  }
  return document;
}
