// The recogniser's alphabet and CTC greedy decoding. PaddleOCR's CTC label decoder puts a blank at
// class 0, then the dictionary file's characters one per line, then a space (`use_space_char`), so
// a recogniser trained with ppocr_keys_v1.txt (6,623 characters) has 6,625 classes.
import { readFileSync } from 'node:fs';

export interface Decoded {
  text: string;
  /** Mean of the winning probability over the characters kept; 0 when none were. */
  score: number;
}

export class CtcAlphabet {
  /** Class index → character; index 0 (the blank) is ''. */
  readonly characters: readonly string[];

  constructor(dictionary: readonly string[], useSpaceChar = true) {
    this.characters = ['', ...dictionary, ...(useSpaceChar ? [' '] : [])];
  }

  /** A PaddleOCR dictionary file: one character per line (a final newline or none, LF or CRLF). */
  static fromFile(path: string, useSpaceChar = true): CtcAlphabet {
    const lines = readFileSync(path, 'utf8').split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    return new CtcAlphabet(lines, useSpaceChar);
  }

  /** Classes the recogniser's last axis must have. */
  get size(): number {
    return this.characters.length;
  }

  /**
   * Greedy CTC: the likeliest class at each of `steps` time steps; repeats merged, blanks dropped.
   * `probs` holds steps × classes softmax outputs, row by row.
   */
  decode(probs: Float32Array, steps: number, classes: number): Decoded {
    if (classes !== this.size) {
      throw new Error(`The recogniser has ${classes} classes but the dictionary gives ${this.size} (blank + characters + space)`);
    }
    let text = '';
    let sum = 0;
    let kept = 0;
    let previous = -1;
    for (let t = 0; t < steps; t++) {
      const row = t * classes;
      let best = 0;
      let bestProb = probs[row];
      for (let k = 1; k < classes; k++) {
        if (probs[row + k] > bestProb) {
          bestProb = probs[row + k];
          best = k;
        }
      }
      if (best !== 0 && best !== previous) {
        text += this.characters[best];
        sum += bestProb;
        kept++;
      }
      previous = best;
    }
    return { text, score: kept === 0 ? 0 : sum / kept };
  }
}
