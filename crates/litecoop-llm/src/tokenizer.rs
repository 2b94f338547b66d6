//! Tokenizers rebuilt from GGUF metadata (`tokenizer.ggml.*`) into a `tokenizers::Tokenizer`.
//!
//! Two families, matching llama.cpp:
//! - `gpt2`: byte-level BPE with the file's merges; the pre-tokenizer comes from `tokenizer.ggml.pre` (GPT-2,
//!   SmolLM/StarCoder, Qwen 2)
//!   (only the ones we rebuild exactly are accepted; an unknown one is refused rather than guessed).
//! - `llama` (SentencePiece): BPE whose merges are derived from the token scores (a pair merges with the
//!   priority of the token it makes), byte fallback, spaces written as U+2581.
//!
//! Control tokens are special tokens; user-defined tokens (Gemma's whitespace runs, for instance) match the
//! raw text before any normalisation, as llama.cpp matches them.

use crate::error::LlmError;
use crate::gguf::Gguf;
use candle_core::quantized::gguf_file::Value;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// Qwen 2's pre-tokenizer regex (as in its `tokenizer.json` and llama.cpp's `qwen2` pre-tokenizer).
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types.
const NORMAL: i32 = 1;
const CONTROL: i32 = 3;
const USER_DEFINED: i32 = 4;

/// A tokenizer and the facts about it generation needs.
pub struct GgufTokenizer {
    /// The rebuilt tokenizer.
    pub tokenizer: Tokenizer,
    /// Beginning-of-sequence token, added in front of a prompt when `add_bos`.
    pub bos: Option<u32>,
    /// End-of-sequence tokens: generation stops at any of them.
    pub eos: Vec<u32>,
    /// Whether prompts start with `bos`.
    pub add_bos: bool,
    /// Let the tokenizer's own post-processor add special tokens (a `tokenizer.json` that has one).
    pub post_process: bool,
}

impl GgufTokenizer {
    /// Token ids of a text (special tokens in the text are parsed), with BOS when the model wants it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        let encoding = self.tokenizer.encode(text, self.post_process).map_err(|e| e.to_string())?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if self.add_bos && !self.post_process {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// Text of token ids (special tokens dropped).
    pub fn decode(&self, ids: &[u32]) -> Result<String, String> {
        self.tokenizer.decode(ids, true).map_err(|e| e.to_string())
    }

    /// Reads the tokenizer a GGUF file describes.
    pub fn from_gguf(gguf: &Gguf) -> Result<GgufTokenizer, LlmError> {
        let path = gguf.path.display().to_string();
        let err = |message: String| LlmError::Tokenizer { path: path.clone(), message };
        let tokens: Vec<String> = gguf
            .array("tokenizer.ggml.tokens")?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(err(format!("token {other:?} is not a string"))),
            })
            .collect::<Result<_, _>>()?;
        let types: Vec<i32> = match gguf.get("tokenizer.ggml.token_type") {
            Some(Value::Array(a)) => a.iter().map(|v| if let Value::I32(t) = v { *t } else { NORMAL }).collect(),
            _ => vec![NORMAL; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(err(format!("{} token types for {} tokens", types.len(), tokens.len())));
        }
        let model = gguf.string("tokenizer.ggml.model")?;
        let id = |key: &str| gguf.uint(key).map(|v| v as u32).filter(|&v| (v as usize) < tokens.len());
        let bos = id("tokenizer.ggml.bos_token_id");
        let mut eos: Vec<u32> = id("tokenizer.ggml.eos_token_id").into_iter().collect();
        let mut tokenizer = match model {
            "gpt2" => gpt2(gguf, &tokens, &err)?,
            "llama" => sentencepiece(gguf, &tokens, &types, &err)?,
            other => return Err(err(format!("tokenizer model `{other}` is not supported (supported: gpt2, llama)"))),
        };
        // Control tokens are special; user-defined ones match the raw text. Neither is normalised first.
        let added = |kind: i32, special: bool| -> Vec<AddedToken> {
            let of_kind = tokens.iter().zip(&types).filter(|(_, t)| **t == kind);
            of_kind.map(|(s, _)| AddedToken::from(s.clone(), special).normalized(false)).collect()
        };
        tokenizer.add_special_tokens(added(CONTROL, true)).map_err(|e| err(e.to_string()))?;
        tokenizer.add_tokens(added(USER_DEFINED, false)).map_err(|e| err(e.to_string()))?;
        for (i, t) in tokens.iter().enumerate() {
            // Chat models end a turn with these even when the file names another EOS.
            if ["<|im_end|>", "<end_of_turn>", "<|eot_id|>"].contains(&t.as_str()) && !eos.contains(&(i as u32)) {
                eos.push(i as u32);
            }
        }
        let add_bos = gguf.bool("tokenizer.ggml.add_bos_token").unwrap_or(model == "llama");
        Ok(GgufTokenizer { tokenizer, bos, eos, add_bos, post_process: false })
    }

    /// Reads a `tokenizer.json`; BOS/EOS ids come from the checkpoint's `config.json`. Its post-processor,
    /// if any, decides which special tokens a prompt gets.
    pub fn from_tokenizer_json(
        path: &std::path::Path,
        bos: Option<u32>,
        eos: Vec<u32>,
    ) -> Result<GgufTokenizer, LlmError> {
        let tokenizer = Tokenizer::from_file(path)
            .map_err(|e| LlmError::Tokenizer { path: path.display().to_string(), message: e.to_string() })?;
        let mut eos = eos;
        for name in ["<|im_end|>", "<end_of_turn>", "<|eot_id|>"] {
            if let Some(id) = tokenizer.token_to_id(name) {
                if !eos.contains(&id) {
                    eos.push(id);
                }
            }
        }
        Ok(GgufTokenizer { tokenizer, bos, eos, add_bos: false, post_process: true })
    }
}

fn vocab(tokens: &[String]) -> Vocab {
    let mut v = Vocab::default();
    for (i, t) in tokens.iter().enumerate() {
        // Keep the first id of a duplicated string, as llama.cpp does.
        v.entry(t.clone()).or_insert(i as u32);
    }
    v
}

fn gpt2(gguf: &Gguf, tokens: &[String], err: &dyn Fn(String) -> LlmError) -> Result<Tokenizer, LlmError> {
    let pre = gguf.get("tokenizer.ggml.pre").and_then(|v| v.to_string().ok()).map(String::as_str).unwrap_or("default");
    let byte_level = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true));
    let pre_tokenizer = match pre {
        // GPT-2's regex on bytes.
        "gpt-2" | "default" => byte_level,
        // SmolLM and StarCoder: every digit on its own, then GPT-2's regex.
        "smollm" | "starcoder" | "codeshell" => {
            PreTokenizerWrapper::Sequence(Sequence::new(vec![PreTokenizerWrapper::Digits(Digits::new(true)), byte_level]))
        }
        // Qwen 2 and 3: GPT-2's regex with case-insensitive contractions, single digits and letter runs that
        // may take one leading non-letter, isolated, then bytes.
        "qwen2" => {
            let split = Split::new(SplitPattern::Regex(QWEN2_PATTERN.into()), SplitDelimiterBehavior::Isolated, false)
                .map_err(|e| err(format!("qwen2 pre-tokenizer: {e}")))?;
            let bytes = PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, false));
            PreTokenizerWrapper::Sequence(Sequence::new(vec![PreTokenizerWrapper::Split(split), bytes]))
        }
        other => {
            return Err(err(format!(
                "pre-tokenizer `{other}` is not one we rebuild exactly (supported: gpt-2, default, smollm, starcoder, codeshell, qwen2)"
            )))
        }
    };
    let merges: Vec<(String, String)> = gguf
        .array("tokenizer.ggml.merges")?
        .iter()
        .map(|v| match v {
            Value::String(s) => s
                .split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| err(format!("merge `{s}` has no space"))),
            other => Err(err(format!("merge {other:?} is not a string"))),
        })
        .collect::<Result<_, _>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab(tokens), merges)
        .build()
        .map_err(|e| err(format!("building BPE: {e}")))?;
    let mut t = Tokenizer::new(bpe);
    t.with_pre_tokenizer(Some(pre_tokenizer));
    t.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
    Ok(t)
}

fn sentencepiece(
    gguf: &Gguf,
    tokens: &[String],
    types: &[i32],
    err: &dyn Fn(String) -> LlmError,
) -> Result<Tokenizer, LlmError> {
    let scores: Vec<f32> =
        gguf.array("tokenizer.ggml.scores")?.iter().map(|v| if let Value::F32(s) = v { *s } else { 0.0 }).collect();
    if scores.len() != tokens.len() {
        return Err(err(format!("{} scores for {} tokens", scores.len(), tokens.len())));
    }
    let vocab = vocab(tokens);
    // Every way of writing a normal token as two vocabulary pieces is a merge, ranked by the score of the
    // token it makes (higher first), ties by token id: the order in which SentencePiece's BPE merges.
    let mut merges: Vec<(f32, u32, String, String)> = Vec::new();
    for (id, token) in tokens.iter().enumerate() {
        if types[id] != NORMAL || token.chars().nth(1).is_none() {
            continue;
        }
        for (split, _) in token.char_indices().skip(1) {
            let (left, right) = token.split_at(split);
            if vocab.contains_key(left) && vocab.contains_key(right) {
                merges.push((scores[id], id as u32, left.to_string(), right.to_string()));
            }
        }
    }
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let merges = merges.into_iter().map(|(_, _, l, r)| (l, r)).collect();
    let unk = gguf.uint("tokenizer.ggml.unknown_token_id").and_then(|i| tokens.get(i as usize)).cloned();
    let mut builder = BPE::builder().vocab_and_merges(vocab, merges).byte_fallback(true).fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk);
    }
    let bpe = builder.build().map_err(|e| err(format!("building BPE: {e}")))?;
    let mut t = Tokenizer::new(bpe);
    let mut normalizers = vec![];
    if gguf.bool("tokenizer.ggml.add_space_prefix").unwrap_or(true) {
        normalizers
            .push(tokenizers::NormalizerWrapper::Prepend(tokenizers::normalizers::prepend::Prepend::new("▁".into())));
    }
    normalizers.push(tokenizers::NormalizerWrapper::Replace(Replace::new(" ", "▁").map_err(|e| err(e.to_string()))?));
    t.with_normalizer(Some(tokenizers::normalizers::Sequence::new(normalizers))).map_err(|e| err(e.to_string()))?;
    t.with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(vec![
        DecoderWrapper::Replace(Replace::new("▁", " ").map_err(|e| err(e.to_string()))?),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ]))));
    Ok(t)
}
