// Checks a body against a function's declared parameter schema, at the edge, before any run
// exists. Every bad key is reported, not only the first.
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { ParamProblem } from '../errors.ts';

const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: true });

export type ParamsValidator = (params: Record<string, unknown>) => ParamProblem[];

export function compileParamsValidator(schema: Record<string, unknown>): ParamsValidator {
  // An object schema that says nothing about extra keys rejects them: a misspelt key is a bug.
  const strictSchema =
    schema.type === 'object' && schema.additionalProperties === undefined ? { ...schema, additionalProperties: false } : schema;
  const validate: ValidateFunction = ajv.compile(strictSchema);
  return (params) => (validate(params) ? [] : (validate.errors ?? []).map(describeProblem));
}

function describeProblem(error: ErrorObject): ParamProblem {
  const path = error.instancePath
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
  switch (error.keyword) {
    case 'required': {
      const key = (error.params as { missingProperty: string }).missingProperty;
      return { key: path ? `${path}.${key}` : key, problem: 'is required' };
    }
    case 'additionalProperties': {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      return { key: path ? `${path}.${key}` : key, problem: 'is not a parameter of this function' };
    }
    default:
      return { key: path || '(body)', problem: error.message ?? 'is invalid' };
  }
}
