// Every table and key of cerebrium.toml that the real CLI knows (see
// shared/reference/cerebrium-surface.md, section 7), with the type each must have.
// A table is a plain object of keys; a leaf is a TypeBox schema.
import { type TSchema, Type } from '@sinclair/typebox';

export interface TableSpec {
  [key: string]: TSchema | TableSpec;
}

const Str = Type.String();
const StrOrList = Type.Union([Type.String(), Type.Array(Type.String())]);
const StrList = Type.Array(Type.String());
const NonNegInt = Type.Integer({ minimum: 0 });
const PosInt = Type.Integer({ minimum: 1 });
const NonNegNumber = Type.Number({ minimum: 0 });
const PosNumber = Type.Number({ exclusiveMinimum: 0 });
/** `[cerebrium.dependencies.pip]` and friends: package name = version string. */
const PackageVersions = Type.Record(Type.String(), Type.String());

export const CEREBRIUM_TOML: TableSpec = {
  cerebrium: {
    deployment: {
      name: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9_-]*$' }),
      python_version: Str,
      disable_auth: Type.Boolean(),
      include: StrOrList,
      exclude: StrOrList,
      shell_commands: StrList,
      pre_build_commands: StrList,
      docker_base_image_url: Str,
      use_uv: Type.Boolean(),
      deployment_initialization_timeout: PosNumber,
    },
    hardware: {
      cpu: PosNumber,
      memory: PosNumber,
      compute: StrOrList,
      gpu_count: NonNegInt,
      provider: Str,
      region: Str,
    },
    scaling: {
      min_replicas: NonNegInt,
      max_replicas: PosInt,
      cooldown: NonNegNumber,
      replica_concurrency: PosInt,
      response_grace_period: PosNumber,
      scaling_metric: Str,
      scaling_target: NonNegNumber,
      scaling_buffer: NonNegInt,
      evaluation_interval_seconds: PosInt,
      load_balancing_algorithm: Str,
      compute_tier: Str,
      roll_out_duration_seconds: NonNegNumber,
    },
    runtime: {
      custom: {
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        entrypoint: StrOrList,
        healthcheck_endpoint: Str,
        readycheck_endpoint: Str,
        dockerfile_path: Str,
      },
    },
    dependencies: {
      pip: PackageVersions,
      apt: PackageVersions,
      conda: PackageVersions,
      paths: { pip: Str, apt: Str, conda: Str },
    },
  },
};

export function isTableSpec(spec: TSchema | TableSpec): spec is TableSpec {
  // TypeBox schemas always carry a `type`, `anyOf` or `patternProperties`; tables never do.
  return !('type' in spec) && !('anyOf' in spec) && !('patternProperties' in spec);
}

/** Words for what a key must hold, for error messages ("an integer >= 1"). */
export function describeSchema(schema: TSchema): string {
  if (schema.anyOf) return (schema.anyOf as TSchema[]).map(describeSchema).join(' or ');
  const bounds: string[] = [];
  if (schema.minimum !== undefined) bounds.push(`>= ${schema.minimum}`);
  if (schema.exclusiveMinimum !== undefined) bounds.push(`> ${schema.exclusiveMinimum}`);
  if (schema.maximum !== undefined) bounds.push(`<= ${schema.maximum}`);
  const suffix = bounds.length ? ` ${bounds.join(' and ')}` : '';
  switch (schema.type) {
    case 'string':
      return schema.pattern ? `a string matching ${schema.pattern}` : 'a string';
    case 'boolean':
      return 'a boolean (true or false)';
    case 'integer':
      return `an integer${suffix}`;
    case 'number':
      return `a number${suffix}`;
    case 'array':
      return `a list of ${describeSchema(schema.items as TSchema).replace(/^an? /, '')}s`;
    case 'object':
      return 'a table of string values';
    default:
      return 'a valid value';
  }
}
