//! The model's own tokenizer, run by Hugging Face's `tokenizers` (the same code as the Python
//! package the model was published with).
//!
//! A model imported with its `tokenizer.json` carries it in the `.mvm` file (tensor
//! `tokenizer.json`, under the content hash, so a model id fixes its tokenizer too) and is
//! tokenised exactly as that file says. A model that carries only `vocab.txt` gets BERT's
//! uncased pipeline built from it: clean text, split CJK characters, lower-case, strip accents
//! (Unicode NFD), split on whitespace and punctuation, greedy longest-match WordPiece, then
//! `[CLS] … [SEP]`.
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{PostProcessor, TruncationDirection};

use crate::error::Error;
use crate::model::Encoder;

/// A loaded tokenizer.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({} tokens)", self.inner.get_vocab_size(true))
    }
}

/// WordPiece's limit on word length (longer words become `[UNK]`), as in BERT.
const MAX_WORD_CHARS: usize = 100;

fn tok_err(what: &'static str) -> impl Fn(tokenizers::Error) -> Error {
    move |e| Error::Input(format!("{what}: {e}"))
}

impl Tokenizer {
    /// The tokenizer a `tokenizer.json` describes (padding and truncation settings in the file
    /// are ignored: [`Tokenizer::encode`] truncates to the length it is given).
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        let mut inner =
            tokenizers::Tokenizer::from_bytes(json).map_err(tok_err("tokenizer.json"))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(tok_err("tokenizer.json"))?;
        Ok(Tokenizer { inner })
    }

    /// BERT's uncased tokenizer over `vocab.txt` contents (one token per line, id = line
    /// number); `cls`, `sep` and `unk` are the ids of `[CLS]`, `[SEP]` and `[UNK]`.
    pub fn from_vocab_text(text: &[u8], cls: u32, sep: u32, unk: u32) -> Result<Self, Error> {
        std::str::from_utf8(text).map_err(|_| Error::Input("vocabulary is not UTF-8".into()))?;
        let vocab = WordPiece::read_bytes(text).map_err(tok_err("vocabulary"))?;
        let token = |id: u32, what: &str| {
            vocab
                .iter()
                .find(|(_, &i)| i == id)
                .map(|(t, _)| t.clone())
                .ok_or_else(|| Error::Input(format!("vocabulary has no {what} token (id {id})")))
        };
        let (cls_token, sep_token, unk_token) = (
            token(cls, "[CLS]")?,
            token(sep, "[SEP]")?,
            token(unk, "[UNK]")?,
        );
        let model = WordPiece::builder()
            .vocab(vocab)
            .unk_token(unk_token)
            .continuing_subword_prefix("##".into())
            .max_input_chars_per_word(MAX_WORD_CHARS)
            .build()
            .map_err(tok_err("vocabulary"))?;
        let mut inner = tokenizers::Tokenizer::new(model);
        inner
            .with_normalizer(Some(BertNormalizer::new(true, true, None, true)))
            .with_pre_tokenizer(Some(BertPreTokenizer))
            .with_post_processor(Some(BertProcessing::new(
                (sep_token, sep),
                (cls_token, cls),
            )));
        Ok(Tokenizer { inner })
    }

    /// The tokenizer stored in an encoder model file: its `tokenizer.json` if it ships one,
    /// else BERT's pipeline over its `vocab.txt`.
    pub fn from_encoder(e: &Encoder) -> Result<Self, Error> {
        if let Some(json) = &e.tokenizer_json {
            return Self::from_json(json);
        }
        let v = e.vocab_text.as_ref().ok_or_else(|| {
            Error::Input(
                "this model file carries no tokenizer (tokenizer.json or vocab.txt)".into(),
            )
        })?;
        Self::from_vocab_text(v, e.cfg.cls, e.cfg.sep, e.cfg.unk)
    }

    /// Id of a token, if present.
    pub fn id(&self, tok: &str) -> Option<u32> {
        self.inner.token_to_id(tok)
    }

    /// Token ids with the model's special tokens (`[CLS] … [SEP]` for BERT), the text's own
    /// tokens truncated so the total is at most `max_len`, as the reference tokenizer
    /// truncates. Errors only on text the tokenizer cannot process.
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Vec<u32>, Error> {
        let mut enc = self
            .inner
            .encode(text, false)
            .map_err(tok_err("tokenize"))?;
        let special = self
            .inner
            .get_post_processor()
            .map(|p| p.added_tokens(false))
            .unwrap_or(0);
        enc.truncate(
            max_len.saturating_sub(special),
            0,
            TruncationDirection::Right,
        );
        let enc = self
            .inner
            .post_process(enc, None, true)
            .map_err(tok_err("tokenize"))?;
        Ok(enc.get_ids().to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bert_pipeline_over_a_vocabulary() {
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nhello\n,\nworld\n!\nit\n'\ns\nfine\n中\n文\n";
        let t = Tokenizer::from_vocab_text(vocab.as_bytes(), 2, 3, 1).unwrap();
        assert_eq!(
            t.encode("Unaffable, hello xyz", 100).unwrap(),
            vec![2, 4, 5, 6, 8, 7, 1, 3]
        );
        // Accents stripped, case folded, control characters dropped, CJK split.
        assert_eq!(
            t.encode("Héllo, WORLD!\tIt's\u{0}  fine 中文", 100)
                .unwrap(),
            vec![2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 3]
        );
        // Truncation keeps [CLS] and [SEP].
        assert_eq!(t.encode("hello hello hello", 4).unwrap(), vec![2, 7, 7, 3]);
        assert!(Tokenizer::from_vocab_text(b"\xff\xfe", 0, 0, 0).is_err());
        assert!(Tokenizer::from_vocab_text(b"a\nb\n", 2, 3, 1).is_err());
    }

    #[test]
    fn garbage_tokenizer_json_is_an_error() {
        assert!(Tokenizer::from_json(b"{not json").is_err());
        assert!(Tokenizer::from_json(b"{}").is_err());
    }
}
