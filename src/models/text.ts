// `import … from 'cerebrium-local/text-generation'`: GPT-2-style decoding for an app's own chat
// function (the demo's `chat` uses exactly this). Kept apart from 'cerebrium-local/models' because
// the BPE ranks it loads are large, and most model apps never need them.
export { BpeTokenizer, type TokenStreamDecoder } from './bpe-tokenizer.ts';
export {
  chatPrompt,
  createSampler,
  type DecodeOptions,
  type DecoderLayout,
  type DecoderModel,
  decoderLayout,
  decodeTokens,
  generateText,
  type SamplingOptions,
  TextGeneration,
  type TextGenerationOptions,
  type TextGenerationResult,
} from './text-generation.ts';
