// Every `code` the server can answer with, in one list: its HTTP status, its error `type`, and
// what it means to the caller. docs/errors.md shows the same list as a table, and
// test/error-codes.test.ts checks the two against each other and against the codes raised
// in src/, so a new code cannot ship undocumented.
//
// The status and type are those of the /v4 and /v2 routes. The OpenAI-compatible routes answer
// 422 as 400 and pick `type` from the status (src/http/openai-errors.ts); the code is the same.
/** The broad class of an error; `code` says the exact cause. */
export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'validation_error'
  | 'function_error'
  | 'timeout_error'
  | 'server_error'
  | 'unavailable_error';

export interface ErrorCodeInfo {
  status: number;
  type: ErrorType;
  /** One sentence for the caller, as docs/errors.md shows it. */
  meaning: string;
}

export const ERROR_CODES = {
  // Request: the body, query or method is not one the route takes.
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The body is not valid JSON.',
  },
  forbidden_key: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The body has a `__proto__` or `constructor.prototype` key, which is refused before any code sees it.',
  },
  json_too_deep: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The body nests arrays and objects deeper than the server accepts (`--max-json-depth`, 512 by default).',
  },
  body_not_object: {
    status: 400,
    type: 'invalid_request_error',
    meaning: "The body is JSON but not an object; a function's parameters are the keys of one object.",
  },
  body_too_large: {
    status: 413,
    type: 'invalid_request_error',
    meaning: 'The body is larger than the server accepts (`--body-limit`, 16 MiB by default).',
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    meaning: 'The Content-Type header cannot be parsed as a media type.',
  },
  bad_request: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The request was refused before it reached a route, for a reason the message gives.',
  },
  invalid_params: {
    status: 422,
    type: 'validation_error',
    meaning: "The body does not match the parameters the function declares; `params` lists each key's problem.",
  },
  invalid_async: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `async` query parameter is not `true`, `false`, `1` or `0`.',
  },
  invalid_webhook_endpoint: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `webhookEndpoint` query parameter is not one http:// or https:// URL.',
  },
  invalid_fault: {
    status: 400,
    type: 'invalid_request_error',
    meaning:
      'The `x-cerebrium-local-fault` header, or a fault rule, holds a directive the server cannot read (only with `--allow-faults`; see docs/testing-your-client.md).',
  },
  invalid_encoding_format: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `encoding_format` of an embeddings request is not `float` or `base64`.',
  },
  invalid_limit: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `limit` query parameter of the runs list is not an integer in the allowed range.',
  },
  invalid_next_token: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `nextToken` query parameter of the runs list is not one this server gave out.',
  },
  invalid_run_filter: {
    status: 400,
    type: 'invalid_request_error',
    meaning: 'The `status` query parameter of the runs list is not a run state (pending, running, success, failure, cancelled).',
  },
  method_not_allowed: {
    status: 405,
    type: 'invalid_request_error',
    meaning: 'Functions are called with POST; the `Allow` header says so.',
  },

  // Auth: the app requires a bearer token and this request's token does not do.
  missing_token: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The request has no `Authorization` header, or no token after `Bearer`.',
  },
  not_bearer: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The `Authorization` header does not use the Bearer scheme.',
  },
  malformed_token: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The bearer token is not a well-formed JWT.',
  },
  algorithm_not_allowed: {
    status: 401,
    type: 'authentication_error',
    meaning: "The token's signing algorithm is not one the configured key accepts.",
  },
  invalid_signature: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The token signature does not verify against the configured key.',
  },
  no_matching_key: {
    status: 401,
    type: 'authentication_error',
    meaning: "No single key in the JWKS matches the token's `kid` and algorithm.",
  },
  token_expired: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The token has expired.',
  },
  token_not_yet_valid: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The token is not valid yet: its `nbf` is in the future.',
  },
  invalid_claims: {
    status: 401,
    type: 'authentication_error',
    meaning: 'A claim of the token, named in the message, is invalid.',
  },
  missing_project_claim: {
    status: 401,
    type: 'authentication_error',
    meaning: 'The token carries no `projectId` claim.',
  },
  project_mismatch: {
    status: 403,
    type: 'permission_error',
    meaning: 'The token is valid but was issued for another project.',
  },
  jwks_unavailable: {
    status: 503,
    type: 'unavailable_error',
    meaning: 'The server could not fetch the signing keys from its JWKS URL; try again shortly.',
  },

  // Routing: what the path names does not exist here.
  route_not_found: {
    status: 404,
    type: 'not_found_error',
    meaning: 'No route matches the method and path.',
  },
  app_not_found: {
    status: 404,
    type: 'not_found_error',
    meaning: 'The app named in the path is not served here, or the app id is not of the form `<projectId>-<appName>`.',
  },
  function_not_found: {
    status: 404,
    type: 'not_found_error',
    meaning: 'The app has no function of that name.',
  },
  function_private: {
    status: 404,
    type: 'not_found_error',
    meaning: 'The function name starts with `_`, which keeps it private to the app.',
  },
  not_a_function: {
    status: 404,
    type: 'not_found_error',
    meaning: 'The app exports that name, but it is not a function.',
  },
  run_not_found: {
    status: 404,
    type: 'not_found_error',
    meaning: 'The app has no run with that id.',
  },
  run_finished: {
    status: 409,
    type: 'invalid_request_error',
    meaning: 'The run to cancel has already ended.',
  },

  // Capacity: the server cannot take the run now; the same request may succeed later.
  apps_loading: {
    status: 503,
    type: 'unavailable_error',
    meaning: 'The server is still loading its apps; try again shortly.',
  },
  shutting_down: {
    status: 503,
    type: 'unavailable_error',
    meaning: 'The server is shutting down and takes no new runs.',
  },
  queue_full: {
    status: 429,
    type: 'unavailable_error',
    meaning: 'Too many runs are already waiting for this app (`--max-queue`); retry after the `Retry-After` header.',
  },
  store_unavailable: {
    status: 503,
    type: 'unavailable_error',
    meaning:
      'The run store cannot write (disk full, I/O error, or its Postgres database cannot be reached), so no async run is started; `/ready` names the store until it can.',
  },

  // Run outcome: a run started and did not succeed; the body carries its run_id.
  function_exception: {
    status: 500,
    type: 'function_error',
    meaning: 'The function threw; the message is its error message.',
  },
  result_not_serialisable: {
    status: 500,
    type: 'function_error',
    meaning: 'The function returned a value JSON cannot encode.',
  },
  invalid_status_code: {
    status: 500,
    type: 'function_error',
    meaning: 'The function returned a numeric `status_code` outside 200–599, which cannot be the status of its answer.',
  },
  invalid_chat_result: {
    status: 500,
    type: 'function_error',
    meaning: 'A function called as chat completions returned something other than a completion, a string or chunks.',
  },
  invalid_embeddings_result: {
    status: 500,
    type: 'function_error',
    meaning: 'A function called as embeddings returned something other than an embeddings response or a list of vectors.',
  },
  run_cancelled: {
    status: 500,
    type: 'function_error',
    meaning: 'The run was cancelled, through the runs API or because its caller disconnected.',
  },
  response_grace_period_exceeded: {
    status: 504,
    type: 'timeout_error',
    meaning: "The run did not finish within the app's `response_grace_period` and was aborted.",
  },
  replica_crashed: {
    status: 500,
    type: 'server_error',
    meaning:
      'The replica running the function died (it exited, ran out of memory, or threw outside the function); a new replica takes its place.',
  },
  upstream_unreachable: {
    status: 502,
    type: 'server_error',
    meaning:
      "A custom runtime's replica did not answer the forwarded request (it refused the connection, closed it, or refused a WebSocket upgrade).",
  },
  bad_gateway: {
    status: 502,
    type: 'server_error',
    meaning:
      "The gateway got no valid answer from the app's replica (on Cerebrium: a replica lost or restarting); this server answers it only as an injected fault (`status=502`).",
  },
  service_unavailable: {
    status: 503,
    type: 'unavailable_error',
    meaning:
      'The app cannot take calls for now (on Cerebrium: no capacity, or a deployment under way); this server answers it only as an injected fault (`status=503`).',
  },
  server_stopped: {
    status: 500,
    type: 'server_error',
    meaning: 'The server stopped before the run finished; the runs API shows the run as failed after a restart.',
  },

  // Server: a fault of the server itself.
  internal_error: {
    status: 500,
    type: 'server_error',
    meaning: 'An unexpected error in the server; its log has the details.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The status, type and meaning of `code`, or undefined for a code the server never answers. */
export function errorCodeInfo(code: ErrorCode): ErrorCodeInfo;
export function errorCodeInfo(code: string): ErrorCodeInfo | undefined;
export function errorCodeInfo(code: string): ErrorCodeInfo | undefined {
  return Object.hasOwn(ERROR_CODES, code) ? ERROR_CODES[code as ErrorCode] : undefined;
}
