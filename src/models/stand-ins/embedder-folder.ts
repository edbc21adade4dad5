// A generated sentence-transformers export folder, laid out as a Hugging Face repo is:
//
//   onnx/model.onnx            the encoder (and onnx/model_fp16.onnx when asked for)
//   tokenizer.json             bert-base-uncased's WordPiece, made from the vocabulary the project ships
//   tokenizer_config.json, config.json
//   1_Pooling/config.json      mean, cls or max
//   sentence_bert_config.json  max_seq_length
//   modules.json               Transformer → Pooling → Normalize
//
// so the demo and the tests load stand-ins through exactly the code a real export goes through.
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { bertTokenizerFiles } from '../bert-tokenizer-json.ts';
import type { PoolingMode } from '../model-folder.ts';
import { encodeModel, type OnnxModel } from '../onnx-writer.ts';
import { bertBaseUncasedVocabulary } from '../wordpiece.ts';
import { float16Variant } from './float16-variant.ts';

export interface EmbedderFolderSpec {
  /** The encoder's graph (its weights are written float32, and float16 too with `fp16`). */
  graph: () => OnnxModel;
  hidden: number;
  layers: number;
  maxPositions: number;
  pooling?: PoolingMode;
  maxSeqLength?: number;
  /** Also write onnx/model_fp16.onnx. */
  fp16?: boolean;
  /** What config.json says the model is, besides the sizes. */
  description: string;
}

type FileBuilder = () => Uint8Array | string;

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Every file of the folder, by path relative to it; each built only when written. */
export function embedderFolderFiles(spec: EmbedderFolderSpec): Record<string, FileBuilder> {
  const pooling = spec.pooling ?? 'mean';
  const tokenizer = () => bertTokenizerFiles(bertBaseUncasedVocabulary(), spec.maxPositions);
  let graph: OnnxModel | undefined;
  const theGraph = () => (graph ??= spec.graph());
  const files: Record<string, FileBuilder> = {
    'onnx/model.onnx': () => encodeModel(theGraph()),
    'tokenizer.json': () => json(tokenizer().tokenizer),
    'tokenizer_config.json': () => json(tokenizer().config),
    'config.json': () =>
      json({
        model_type: 'bert',
        architectures: ['BertModel'],
        hidden_size: spec.hidden,
        num_hidden_layers: spec.layers,
        vocab_size: 30522,
        max_position_embeddings: spec.maxPositions,
        cerebrium_local_stand_in: spec.description,
      }),
    '1_Pooling/config.json': () =>
      json({
        word_embedding_dimension: spec.hidden,
        pooling_mode_cls_token: pooling === 'cls',
        pooling_mode_mean_tokens: pooling === 'mean',
        pooling_mode_max_tokens: pooling === 'max',
        pooling_mode_mean_sqrt_len_tokens: false,
      }),
    'sentence_bert_config.json': () => json({ max_seq_length: spec.maxSeqLength ?? 256, do_lower_case: false }),
    'modules.json': () =>
      json([
        { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
        { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
        { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' },
      ]),
  };
  if (spec.fp16) files['onnx/model_fp16.onnx'] = () => encodeModel(float16Variant(theGraph()));
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the folder unless it is there (it may be a real export). Replicas may race: each builds its
 * own temporary folder and renames it into place, so a reader sees no folder or a whole one.
 * True when it wrote the folder.
 */
export async function ensureEmbedderFolder(dir: string, spec: EmbedderFolderSpec): Promise<boolean> {
  if (await exists(dir)) return false;
  const temporary = `${dir}.${process.pid}-${threadId}.tmp`;
  await rm(temporary, { recursive: true, force: true });
  for (const [relative, build] of Object.entries(embedderFolderFiles(spec))) {
    const file = join(temporary, relative);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, build());
  }
  try {
    await rename(temporary, dir);
    return true;
  } catch (err) {
    // Another replica finished first (the folder is there now, with the same bytes): keep its copy.
    await rm(temporary, { recursive: true, force: true });
    if (await exists(dir)) return false;
    throw err;
  }
}
