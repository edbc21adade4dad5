import { defineFunction, Type, type FunctionContext } from 'cerebrium-local';

/** The hello function: answers a prompt. */
export const run = defineFunction(
  {
    params: Type.Object({ prompt: Type.String({ description: 'What to answer' }) }),
    description: 'Echoes a greeting for the prompt',
  },
  ({ prompt }, ctx: FunctionContext) => {
    ctx.log.info({ chars: prompt.length }, 'answering a prompt');
    return { answer: `Hello from ${ctx.env.APP_NAME}! You said: ${prompt}`, run_id: ctx.runId };
  },
);
