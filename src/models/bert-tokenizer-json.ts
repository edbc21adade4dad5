// A Hugging Face tokenizer.json (and tokenizer_config.json) for an uncased BERT WordPiece vocabulary,
// as `transformers` writes them for bert-base-uncased and all-MiniLM-L6-v2. The generated stand-in
// folders ship these, made from the vocabulary the project already has, so they load through the
// same tokenizer library as a real export's files.

const SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

export interface BertTokenizerFiles {
  tokenizer: Record<string, unknown>;
  config: Record<string, unknown>;
}

export function bertTokenizerFiles(vocabulary: readonly string[], modelMaxLength = 512): BertTokenizerFiles {
  const vocab: Record<string, number> = {};
  vocabulary.forEach((piece, id) => {
    if (!(piece in vocab)) vocab[piece] = id;
  });
  const idOf = (piece: string) => {
    const id = vocab[piece];
    if (id === undefined) throw new Error(`The vocabulary has no ${piece}`);
    return id;
  };
  const special = (piece: string) => ({ id: piece, ids: [idOf(piece)], tokens: [piece] });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.filter((p) => p in vocab).map((content) => ({
      id: idOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: { '[CLS]': special('[CLS]'), '[SEP]': special('[SEP]') },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
  const config = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: modelMaxLength,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
  };
  return { tokenizer, config };
}
