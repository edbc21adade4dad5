// What an app's functions import: `import { defineFunction, Type } from 'cerebrium-local'`.
// Kept small on purpose: it is loaded into every replica whose app imports it.

import { createRequire } from 'node:module';
import type * as TypeBox from '@sinclair/typebox';

export type { Static, TSchema } from '@sinclair/typebox';
// TypeBox's CommonJS build, by require: imported as ESM, its hundreds of modules each pass through
// the loader hooks every replica registers (tsx), which cost ~300 ms of each thread replica's cold
// start. Its schemas are the same either way (TypeBox marks them with Symbol.for keys).
export const Type: typeof TypeBox.Type = (createRequire(import.meta.url)('@sinclair/typebox') as typeof TypeBox).Type;

// What a function is given and how it declares its parameters: in a module of their own, which a
// replica reads without loading TypeBox (an app that never imports 'cerebrium-local' never pays for it).
export { defineFunction, FUNCTION_SPEC, type FunctionContext, type FunctionSpec, functionSpecOf } from './function-spec.ts';
// Batching is for any function, so it is here too; models live in 'cerebrium-local/models'.
export { type BatchCaller, type BatchFunction, type BatchOptions, batched } from './models/batching.ts';
// Builders and types for functions behind the OpenAI-compatible routes (no imports of its own).
export * from './openai.ts';
