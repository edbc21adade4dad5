// Hugging Face-style export folders: loadModel picks the ONNX file, the folder's tokenizer.json is
// read with Hugging Face's tokenizer library, and 1_Pooling / sentence_bert_config are honoured.
// Folders are generated into a temporary directory: the stand-in's layout, and a small real BERT
// encoder (attention and all) with CLS pooling.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, loadTextEmbedder } from '../src/models/index.ts';
import { readModelFolder } from '../src/models/model-folder.ts';
import { encodeModel } from '../src/models/onnx-writer.ts';
import { bertEncoderGraph } from '../src/models/stand-ins/bert-encoder.ts';
import { STAND_IN_EMBEDDER_FOLDER } from '../src/models/stand-ins/demo-models.ts';
import { type EmbedderFolderSpec, ensureEmbedderFolder } from '../src/models/stand-ins/embedder-folder.ts';
import { TextTokenizer } from '../src/models/text-tokenizer.ts';
import { WordPieceTokenizer } from '../src/models/wordpiece.ts';

const quiet = { warn: () => undefined };
const SMALL_BERT = { vocabSize: 30522, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 64, seed: 5 };
const bertFolder = (pooling: 'cls' | 'max' | 'mean', maxSeqLength = 32): EmbedderFolderSpec => ({
  graph: () => bertEncoderGraph(SMALL_BERT),
  hidden: SMALL_BERT.hidden,
  layers: SMALL_BERT.layers,
  maxPositions: SMALL_BERT.maxPositions,
  pooling,
  maxSeqLength,
  description: 'test BERT encoder',
});

let root: string;
const folder = (name: string) => join(root, name);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'model-folders-'));
  await Promise.all([
    ensureEmbedderFolder(folder('stand-in'), STAND_IN_EMBEDDER_FOLDER),
    ensureEmbedderFolder(folder('cls'), bertFolder('cls')),
    ensureEmbedderFolder(folder('max'), bertFolder('max', 8)),
  ]);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('reading a folder', () => {
  it('finds onnx/model.onnx, the pooling mode, max_seq_length and the Normalize step', () => {
    const stand = readModelFolder(folder('stand-in'));
    expect(stand).toMatchObject({
      modelFile: join(folder('stand-in'), 'onnx', 'model.onnx'),
      pooling: 'mean',
      normalize: true,
      maxSeqLength: 256,
    });
    expect(readModelFolder(folder('cls')).pooling).toBe('cls');
    expect(readModelFolder(folder('stand-in'), { dtype: 'fp16' }).modelFile).toBe(join(folder('stand-in'), 'onnx', 'model_fp16.onnx'));
  });

  it('says which files it looked for when the dtype asked for is not there', () => {
    expect(() => readModelFolder(folder('cls'), { dtype: 'int8' })).toThrow(/no int8 ONNX file: looked for model_quantized\.onnx/);
  });

  it('refuses a folder without tokenizer.json when asked to embed text, saying a model needs its own tokenizer', async () => {
    const bare = folder('bare');
    await mkdir(join(bare, 'onnx'), { recursive: true });
    await writeFile(join(bare, 'onnx', 'model.onnx'), encodeModel(bertEncoderGraph(SMALL_BERT)));
    const model = await loadModel(bare, { log: quiet });
    expect(model.folder?.dir).toBe(bare);
    await expect(loadTextEmbedder(bare, { log: quiet })).rejects.toThrow(
      /has no tokenizer\.json: a model folder needs the tokenizer it was trained with/,
    );
  });
});

describe("the folder's tokenizer.json", () => {
  it('tokenises through the tokenizer library exactly as the bert-base-uncased WordPiece does', () => {
    const fromJson = TextTokenizer.fromFolder(folder('stand-in'));
    const handWritten = WordPieceTokenizer.bertBaseUncased();
    for (const text of ['Hello, world!', 'Déjà vu: an unaffable café in 東京.', "it's 3.5 o'clock", 'x'.repeat(101)]) {
      expect(fromJson.encode(text, 256).ids).toEqual(handWritten.encode(text, 256).ids);
    }
    expect(fromJson.padId).toBe(0);
  });

  it('cuts a long text to max_seq_length and keeps [CLS] first and [SEP] last', () => {
    const tokenizer = TextTokenizer.fromFolder(folder('stand-in'));
    const { ids, typeIds } = tokenizer.encode('word '.repeat(300), 256);
    expect(ids).toHaveLength(256);
    expect(typeIds).toHaveLength(256);
    expect([ids[0], ids[1], ids[255]]).toEqual([101, 2773, 102]);
  });
});

describe('pooling from 1_Pooling/config.json', () => {
  const hiddenStates = async (dir: string, text: string) => {
    const model = await loadModel(dir, { log: quiet });
    const { ids } = TextTokenizer.fromFolder(dir).encode(text, 64);
    const dims = [1, ids.length];
    const out = await model.run({
      input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), dims),
      attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), dims),
      token_type_ids: new Tensor('int64', new BigInt64Array(ids.length), dims),
    });
    return { hidden: out.last_hidden_state.data as Float32Array, tokens: ids.length };
  };
  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));

  it("gives a CLS-pooling folder the [CLS] token's vector, scaled to unit length, batched or not", async () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const { hidden } = await hiddenStates(folder('cls'), text);
    const expected = unit(Array.from(hidden.subarray(0, SMALL_BERT.hidden)));
    const embedder = await loadTextEmbedder(folder('cls'), { log: quiet });
    const [alone] = await embedder.embed([text]);
    const [, padded] = await embedder.embed(['a much longer sentence than the other one so that it is padded here', text]);
    for (const got of [alone.vector, padded.vector]) {
      for (const [i, x] of got.entries()) expect(x).toBeCloseTo(expected[i], 4);
    }
  });

  it('gives a max-pooling folder the per-dimension maximum, over tokens cut to its max_seq_length (8)', async () => {
    const text = 'one two three four five six seven eight nine ten';
    const embedder = await loadTextEmbedder(folder('max'), { log: quiet });
    const [got] = await embedder.embed([text]);
    expect(got.tokens).toBe(8);
    const ids = embedder.encode(text).ids;
    const model = embedder.model;
    const dims = [1, ids.length];
    const out = await model.run({
      input_ids: new Tensor('int64', BigInt64Array.from(ids.map(BigInt)), dims),
      attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), dims),
      token_type_ids: new Tensor('int64', new BigInt64Array(ids.length), dims),
    });
    const hidden = out.last_hidden_state.data as Float32Array;
    const max = Array.from({ length: SMALL_BERT.hidden }, (_, h) =>
      Math.max(...Array.from({ length: 8 }, (_, s) => hidden[s * SMALL_BERT.hidden + h])),
    );
    for (const [i, x] of unit(max).entries()) expect(got.vector[i]).toBeCloseTo(x, 4);
  });
});
