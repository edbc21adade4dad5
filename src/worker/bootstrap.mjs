// Entry point of every replica thread. tsx registers its loader per thread, so a replica must
// register it itself before it can import the replica code and the user's TypeScript modules.
import { register } from 'tsx/esm/api';

register();
const replica = await import('./replica.ts');
export default replica.default;
