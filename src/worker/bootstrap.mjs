// Entry point of every replica thread. Loader hooks are registered per thread, so a replica
// registers tsx (user apps and this project are TypeScript) and the 'cerebrium-local' resolver
// itself, before it imports the replica code and the user's modules.
import { register as registerHook } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerHook('./resolve-self.mjs', import.meta.url);
registerTsx();
const replica = await import('./replica.ts');
export default replica.default;
