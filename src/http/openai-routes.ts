// The OpenAI-compatible routes, in their own encapsulated plugin so that their errors, and only
// theirs, leave in OpenAI's envelope. The root's body parser and auth hook still apply: a child
// context inherits what the root registered before it.
import type { FastifyInstance } from 'fastify';
import { type OpenAiRouteOptions, registerChatRoute } from './openai-chat.ts';
import { registerEmbeddingsRoutes } from './openai-embeddings.ts';
import { registerOpenAiErrorHandling } from './openai-errors.ts';

export type { OpenAiRouteOptions } from './openai-chat.ts';

export function registerOpenAiRoutes(server: FastifyInstance, options: OpenAiRouteOptions): void {
  void server.register(async (scope) => {
    registerOpenAiErrorHandling(scope);
    registerChatRoute(scope, options);
    registerEmbeddingsRoutes(scope, options);
  });
}
