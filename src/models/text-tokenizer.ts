// A model folder's own tokenizer: its tokenizer.json (and tokenizer_config.json) read with Hugging
// Face's tokenizer library, so WordPiece (BERT, MiniLM, bge, e5), Unigram and BPE (mpnet,
// multilingual, RoBERTa-style) exports tokenise as they were trained. What is ours: cutting to the
// model's max_seq_length around the special tokens, and padding a batch into int64 tensors' data.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { EncodedBatch } from './wordpiece.ts';

export interface TextEncoding {
  ids: number[];
  typeIds: number[];
}

const PAD_TOKENS = ['[PAD]', '<pad>', '<|endoftext|>'];

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

export class TextTokenizer {
  readonly padId: number;

  constructor(
    private readonly tokenizer: Tokenizer,
    config: Record<string, unknown> = {},
  ) {
    const named = typeof config.pad_token === 'string' ? config.pad_token : undefined;
    const candidates = named ? [named, ...PAD_TOKENS] : PAD_TOKENS;
    // A tokenizer without a pad token pads with 0; the attention mask keeps those positions out.
    this.padId = candidates.map((t) => tokenizer.token_to_id(t)).find((id) => id !== undefined) ?? 0;
  }

  /** tokenizer.json (required) and tokenizer_config.json (optional) from a model folder. */
  static fromFolder(dir: string): TextTokenizer {
    const file = join(dir, 'tokenizer.json');
    if (!existsSync(file)) {
      throw new Error(
        `${dir} has no tokenizer.json: a model folder needs the tokenizer it was trained with (Hugging Face exports ship it beside config.json)`,
      );
    }
    const configFile = join(dir, 'tokenizer_config.json');
    const config = existsSync(configFile) ? readJson(configFile) : {};
    return new TextTokenizer(new Tokenizer(readJson(file), config), config);
  }

  tokenIdOf(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  /** Ids with the model's special tokens, cut to maxLength as sentence-transformers truncates (the text, not the specials). */
  encode(text: string, maxLength: number): TextEncoding {
    const full = this.tokenizer.encode(text, { return_token_type_ids: true });
    const typeIds = full.token_type_ids ?? full.ids.map(() => 0);
    if (full.ids.length <= maxLength) return { ids: full.ids, typeIds };
    // Find where the text's own ids sit between the special tokens, and cut only those.
    const plain = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const start = Math.max(0, full.ids.indexOf(plain[0]));
    const end = start + plain.length;
    const keep = Math.max(0, maxLength - (full.ids.length - plain.length));
    const cut = <T>(xs: T[]) => [...xs.slice(0, start), ...xs.slice(start, start + keep), ...xs.slice(end)];
    return { ids: cut(full.ids), typeIds: cut(typeIds) };
  }

  /** Encodings padded to the longest, as int64 tensors' data (row-major [batch, sequence]). */
  pad(encodings: readonly TextEncoding[]): EncodedBatch {
    const batchSize = encodings.length;
    const sequenceLength = Math.max(0, ...encodings.map((e) => e.ids.length));
    const inputIds = new BigInt64Array(batchSize * sequenceLength).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(batchSize * sequenceLength);
    const tokenTypeIds = new BigInt64Array(batchSize * sequenceLength);
    encodings.forEach((e, row) => {
      e.ids.forEach((id, col) => {
        inputIds[row * sequenceLength + col] = BigInt(id);
        attentionMask[row * sequenceLength + col] = 1n;
        tokenTypeIds[row * sequenceLength + col] = BigInt(e.typeIds[col] ?? 0);
      });
    });
    return { batchSize, sequenceLength, inputIds, attentionMask, tokenTypeIds };
  }
}
