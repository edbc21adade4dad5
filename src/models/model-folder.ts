// A Hugging Face-style export folder, as `optimum-cli export onnx` or a sentence-transformers repo
// lays it out: the ONNX file (model.onnx, or onnx/model*.onnx with one file per dtype), tokenizer.json,
// config.json, 1_Pooling/config.json (how token vectors become one), sentence_bert_config.json
// (max_seq_length) and modules.json (whether a Normalize step follows). Reading it is plain file
// work: what to load and how to pool, decided once, before any session exists.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Which of an export's ONNX files to load. */
export const MODEL_DTYPES = ['fp32', 'fp16', 'int8', 'q4'] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];

// The file names Hugging Face exports use for each dtype (transformers.js / optimum conventions), best first.
const FILES_BY_DTYPE: Record<ModelDtype, string[]> = {
  fp32: ['model.onnx', 'onnx/model.onnx'],
  fp16: ['model_fp16.onnx', 'onnx/model_fp16.onnx', 'onnx/model_O4.onnx'],
  int8: [
    'model_quantized.onnx',
    'onnx/model_quantized.onnx',
    'onnx/model_int8.onnx',
    'onnx/model_qint8_avx512.onnx',
    'onnx/model_uint8.onnx',
  ],
  q4: ['onnx/model_q4.onnx', 'onnx/model_bnb4.onnx'],
};

export type PoolingMode = 'mean' | 'cls' | 'max';

export interface ModelFolder {
  dir: string;
  /** The ONNX file chosen, absolute. */
  modelFile: string;
  /** config.json, or {} when the folder has none. */
  config: Record<string, unknown>;
  pooling: PoolingMode;
  /** Whether vectors are scaled to unit length (a Normalize module, or no modules.json at all). */
  normalize: boolean;
  /** sentence_bert_config.json's max_seq_length, else config.json's max_position_embeddings, else 512. */
  maxSeqLength: number;
}

export interface ModelFolderOptions {
  /** Pick the file for this dtype (default fp32). */
  dtype?: ModelDtype;
  /** Or name the ONNX file outright, relative to the folder (e.g. "onnx/model_O4.onnx"). */
  file?: string;
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** The ONNX file a folder holds for the options, or an error listing what was looked for. */
export function modelFileIn(dir: string, options: ModelFolderOptions = {}): string {
  if (options.file) {
    const file = join(dir, options.file);
    if (!existsSync(file)) throw new Error(`${dir} has no ${options.file}`);
    return file;
  }
  const dtype = options.dtype ?? 'fp32';
  const names = FILES_BY_DTYPE[dtype];
  if (!names) throw new Error(`dtype must be one of ${MODEL_DTYPES.join(', ')}; got "${dtype}"`);
  const found = names.find((name) => existsSync(join(dir, name)));
  if (!found) throw new Error(`${dir} has no ${dtype} ONNX file: looked for ${names.join(', ')} (or pass { file })`);
  return join(dir, found);
}

/** sentence-transformers' pooling flags → one mode; mean when the folder says nothing. */
function poolingMode(config: Record<string, unknown> | undefined, where: string): PoolingMode {
  if (!config) return 'mean';
  if (config.pooling_mode_cls_token === true) return 'cls';
  if (config.pooling_mode_max_tokens === true) return 'max';
  if (config.pooling_mode_mean_tokens === true) return 'mean';
  const named = Object.entries(config).find(([key, value]) => key.startsWith('pooling_mode_') && value === true)?.[0];
  throw new Error(`${where} asks for ${named ?? 'no pooling mode'}; only mean, cls and max pooling are supported`);
}

function normalizes(modules: Record<string, unknown> | undefined): boolean {
  if (!modules) return true;
  return Array.isArray(modules) && modules.some((m) => typeof m?.type === 'string' && m.type.endsWith('.Normalize'));
}

export function readModelFolder(dir: string, options: ModelFolderOptions = {}): ModelFolder {
  const config = readJson(join(dir, 'config.json')) ?? {};
  const poolingFile = join(dir, '1_Pooling', 'config.json');
  const sbert = readJson(join(dir, 'sentence_bert_config.json'));
  const positions = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : 512;
  const maxSeqLength = typeof sbert?.max_seq_length === 'number' ? sbert.max_seq_length : positions;
  return {
    dir,
    modelFile: modelFileIn(dir, options),
    config,
    pooling: poolingMode(readJson(poolingFile), poolingFile),
    normalize: normalizes(readJson(join(dir, 'modules.json'))),
    maxSeqLength,
  };
}
