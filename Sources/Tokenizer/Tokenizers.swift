import ModelFormats

/// Entry points: build the right tokenizer for a model's own description of it.
public enum Tokenizers {
    /// The tokenizer stored in a GGUF file's metadata (byte-level BPE for `tokenizer.ggml.model = gpt2`,
    /// SentencePiece for `llama`).
    public static func load(gguf: GGUFFile) throws -> any TextTokenizer {
        try GGUFTokenizerLoader.load(gguf)
    }

    /// A Hugging Face `tokenizer.json`: BPE models (byte-level or SentencePiece-style with byte fallback) or
    /// WordPiece (BERT). BOS/EOS rules come from its post-processor, refined for BPE by a `tokenizer_config.json`
    /// beside it when there is one; for WordPiece, BOS is [CLS] and EOS is [SEP].
    public static func load(tokenizerJSON path: String) throws -> any TextTokenizer {
        try TokenizerJSONLoader.load(path: path)
    }
}
