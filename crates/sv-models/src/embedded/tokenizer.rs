//! SmolLM2's tokenizer, built from the GGUF's own metadata (`tokenizer.ggml.tokens`,
//! `tokenizer.ggml.merges`, `tokenizer.ggml.token_type`).
//!
//! The GGUF names its pre-tokenizer `smollm`, which generic GGUF loaders map to the GPT-2
//! byte-level split alone. SmolLM2's real pre-tokenizer (its `tokenizer.json`) is
//! `Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false)]`: every
//! digit is its own pre-token, so a space before a number stays a separate `Ġ` and
//! numbers never merge. The golden-id tests pin that behaviour.
//!
//! Control tokens (`<|im_start|>`, `<|im_end|>`, …) are deliberately not registered
//! as added tokens: the chat template inserts them by id, so text that merely contains
//! `<|im_end|>` (a log line, a prompt injection) is tokenised as text.

use std::collections::HashMap;

use candle_core::quantized::gguf_file;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::Tokenizer;

/// GGUF `token_type` of control tokens.
const CONTROL: i32 = 3;

pub struct SmolTokenizer {
    inner: Tokenizer,
    /// Raw bytes of each token (byte-level alphabet undone); empty for control tokens.
    bytes: Vec<Vec<u8>>,
    control: Vec<bool>,
    tokens: Vec<String>,
}

fn err(m: impl std::fmt::Display) -> String {
    format!("tokenizer from GGUF: {m}")
}

fn string_array(ct: &gguf_file::Content, key: &str) -> Result<Vec<String>, String> {
    let v = ct
        .metadata
        .get(key)
        .ok_or_else(|| err(format!("{key} missing")))?;
    v.to_vec()
        .map_err(err)?
        .iter()
        .map(|s| s.to_string().cloned().map_err(err))
        .collect()
}

/// GPT-2's byte → printable char table, inverted (char → byte).
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..=255u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    bs.into_iter()
        .zip(cs)
        .filter_map(|(b, c)| char::from_u32(c).map(|c| (c, b as u8)))
        .collect()
}

impl SmolTokenizer {
    pub fn from_gguf(ct: &gguf_file::Content) -> Result<SmolTokenizer, String> {
        let tokens = string_array(ct, "tokenizer.ggml.tokens")?;
        let merges = string_array(ct, "tokenizer.ggml.merges")?;
        let types: Vec<i32> = match ct.metadata.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(err)?
                .iter()
                .map(|t| t.to_i32().map_err(err))
                .collect::<Result<_, _>>()?,
            None => vec![1; tokens.len()],
        };
        if types.len() != tokens.len() {
            return Err(err("token_type and tokens differ in length"));
        }
        Self::build(tokens, &merges, &types)
    }

    pub fn build(tokens: Vec<String>, merges: &[String], types: &[i32]) -> Result<Self, String> {
        let vocab: ahash::AHashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .map(|m| {
                m.split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| err(format!("bad merge {m:?}")))
            })
            .collect::<Result<_, _>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(err)?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
        ])));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let table = unicode_to_byte();
        let control: Vec<bool> = types.iter().map(|t| *t == CONTROL).collect();
        let bytes = tokens
            .iter()
            .zip(&control)
            .map(|(t, c)| {
                if *c {
                    Vec::new()
                } else {
                    // Every char of a byte-level token is in the table; any other char
                    // (none in SmolLM2's vocab) is kept as its UTF-8.
                    let mut out = Vec::with_capacity(t.len());
                    for ch in t.chars() {
                        match table.get(&ch) {
                            Some(b) => out.push(*b),
                            None => out.extend_from_slice(ch.to_string().as_bytes()),
                        }
                    }
                    out
                }
            })
            .collect();
        Ok(SmolTokenizer {
            inner,
            bytes,
            control,
            tokens,
        })
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .inner
            .encode_fast(text, false)
            .map_err(err)?
            .get_ids()
            .to_vec())
    }

    /// The raw bytes of one token (empty for control tokens and unknown ids).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.bytes
            .get(id as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Text of `ids`, control tokens skipped, invalid UTF-8 replaced.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids
            .iter()
            .flat_map(|id| self.token_bytes(*id).iter().copied())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.control.get(id as usize).copied().unwrap_or(false)
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The `tokenizers` pipeline itself (for its decoder, in tests).
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary with the byte-level alphabet for ASCII, merges that would join
    /// digits and a leading space onto a digit if the pre-tokenizer allowed it.
    fn toy() -> SmolTokenizer {
        let mut tokens: Vec<String> = vec!["<|endoftext|>".into(), "<|im_start|>".into()];
        for c in "abcdefghijklmnopqrstuvwxyz0123456789 ,.!".chars() {
            let t = if c == ' ' {
                "Ġ".to_string()
            } else {
                c.to_string()
            };
            tokens.push(t);
        }
        let merges: Vec<String> = ["1 2", "Ġ 1", "h i", "Ġ hi"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for m in &merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![1; tokens.len()];
        types[0] = CONTROL;
        types[1] = CONTROL;
        SmolTokenizer::build(tokens, &merges, &types).unwrap()
    }

    #[test]
    fn digits_never_merge_even_when_the_vocab_could() {
        let t = toy();
        let pieces = |s: &str| -> Vec<String> {
            t.encode(s)
                .unwrap()
                .iter()
                .map(|i| t.token(*i).unwrap().to_string())
                .collect()
        };
        // GPT-2's split alone would yield "Ġ1" + "2" via the "Ġ 1" and "1 2" merges.
        assert_eq!(pieces(" 12"), ["Ġ", "1", "2"]);
        assert_eq!(pieces("hi 12, hi"), ["hi", "Ġ", "1", "2", ",", "Ġhi"]);
    }

    #[test]
    fn byte_table_matches_the_library_decoder() {
        let t = toy();
        let ids = t.encode("hi 12, hi. abc!").unwrap();
        assert_eq!(t.decode(&ids), "hi 12, hi. abc!");
        assert_eq!(t.decode(&ids), t.inner().decode(&ids, false).unwrap());
        // Control tokens decode to nothing.
        assert_eq!(t.decode(&[1, ids[0]]), "hi");
    }
}
