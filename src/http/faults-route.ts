// The fault rules at run time, for a test suite that switches faults on for one test:
//   GET    /_local/faults  → {"allowHeader", "seed", "rules"}
//   PUT    /_local/faults  {"seed"?, "rules": [...]} → the same, now in force (replacing every rule)
//   DELETE /_local/faults  → the same, with no rules
// Served only with --allow-faults; behind a token when the operator configured a key, as the runs API is.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppAuth } from '../auth/auth-hook.ts';
import { CerebriumLocalError } from '../errors.ts';
import type { FaultInjector } from '../faults/fault-injector.ts';
import { FaultRulesError, readFaultRules } from '../faults/fault-rules.ts';

export interface FaultsRouteOptions {
  injector: FaultInjector;
  auth?: AppAuth;
  /** The project a token must be for. */
  projectId: string;
}

export const FAULTS_PATH = '/_local/faults';

export function registerFaultsRoute(server: FastifyInstance, { injector, auth, projectId }: FaultsRouteOptions): void {
  const guard = async (request: FastifyRequest, reply: FastifyReply) => {
    if (auth?.runsNeedToken) await auth.authorize(request, reply, { appName: '', projectId, always: true });
  };
  server.get(FAULTS_PATH, { onRequest: guard }, async () => injector.describe());
  server.put(FAULTS_PATH, { onRequest: guard }, async (request) => {
    try {
      injector.setRules(readFaultRules(request.body));
    } catch (err) {
      if (err instanceof FaultRulesError) throw new CerebriumLocalError('invalid_fault', err.message);
      throw err;
    }
    request.log.warn({ rules: injector.describe().rules.length }, 'fault rules replaced through /_local/faults');
    return injector.describe();
  });
  server.delete(FAULTS_PATH, { onRequest: guard }, async () => {
    injector.clearRules();
    return injector.describe();
  });
}
