// GPT-2's byte-level BPE (tiktoken's r50k_base: the same 50,257 ids as Hugging Face's gpt2
// tokenizer), from the `js-tiktoken` package, which ships the ranks: nothing is fetched.
//
// Encoding is js-tiktoken's. Decoding is done here from each id's bytes, so a streamed answer can
// be decoded a token at a time: a character split across tokens comes out whole once its last byte
// arrives, and the pieces joined are exactly the text of all the ids decoded at once.
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import r50kBase from 'js-tiktoken/ranks/r50k_base';

export class BpeTokenizer {
  /** <|endoftext|>: GPT-2 ends a text with it. */
  readonly eosId: number;
  readonly vocabularySize: number;
  private readonly tiktoken: Tiktoken;
  private readonly bytes: Uint8Array[] = [];

  constructor(ranks: TiktokenBPE) {
    this.tiktoken = new Tiktoken(ranks);
    // bpe_ranks: lines of "! <first id> <base64 bytes of that id> <of the next id> …".
    for (const line of ranks.bpe_ranks.split('\n')) {
      if (!line) continue;
      const [, offset, ...tokens] = line.split(' ');
      const first = Number.parseInt(offset, 10);
      for (const [i, token] of tokens.entries()) this.bytes[first + i] = new Uint8Array(Buffer.from(token, 'base64'));
    }
    const encoder = new TextEncoder();
    for (const [text, id] of Object.entries(ranks.special_tokens)) this.bytes[id] = encoder.encode(text);
    this.eosId = ranks.special_tokens['<|endoftext|>'] ?? -1;
    this.vocabularySize = this.bytes.length;
  }

  private static r50k: BpeTokenizer | undefined;
  /** GPT-2's tokenizer (built once per thread: parsing the ranks takes ≈0.1 s). */
  static gpt2(): BpeTokenizer {
    BpeTokenizer.r50k ??= new BpeTokenizer(r50kBase);
    return BpeTokenizer.r50k;
  }

  /** Token ids of a text. Special-token text such as "<|endoftext|>" is encoded as plain text, never as the special id. */
  encode(text: string): number[] {
    return this.tiktoken.encode(text, [], []);
  }

  decode(ids: readonly number[]): string {
    const decoder = this.streamDecoder();
    return ids.map((id) => decoder.push(id)).join('') + decoder.flush();
  }

  /** The bytes an id stands for (empty for an id outside the vocabulary). */
  tokenBytes(id: number): Uint8Array {
    return this.bytes[id] ?? new Uint8Array(0);
  }

  /** Decodes ids one at a time: each push gives the characters completed so far, flush the rest. */
  streamDecoder(): TokenStreamDecoder {
    const utf8 = new TextDecoder('utf-8');
    return {
      push: (id) => utf8.decode(this.tokenBytes(id), { stream: true }),
      flush: () => utf8.decode(),
    };
  }
}

export interface TokenStreamDecoder {
  push(id: number): string;
  /** What an unfinished character left over becomes (U+FFFD), '' when none. */
  flush(): string;
}
