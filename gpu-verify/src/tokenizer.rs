//! BERT's uncased tokenizer: the basic tokenizer (clean, split CJK, lower-case, strip accents,
//! split punctuation) followed by greedy longest-match WordPiece over `vocab.txt`.
//!
//! Differences from Hugging Face's `BertTokenizer`: accents are stripped with a built-in
//! table for Latin-1 and Latin Extended-A letters (no full Unicode NFD), and Unicode
//! punctuation is recognised by block ranges rather than by general category. For ASCII and
//! Western European text the ids are identical.
use std::collections::BTreeMap;

use crate::error::Error;
use crate::model::Encoder;

/// A WordPiece tokenizer with a lower-casing basic tokenizer in front.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    vocab: BTreeMap<String, u32>,
    cls: u32,
    sep: u32,
    unk: u32,
}

const MAX_WORD_CHARS: usize = 100;

fn is_punct(c: char) -> bool {
    let cp = c as u32;
    c.is_ascii_punctuation()
        || matches!(cp, 0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF)
        || (0x2010..=0x2027).contains(&cp)
        || (0x2030..=0x205E).contains(&cp)
        || (0x3001..=0x3003).contains(&cp)
        || (0x3008..=0x3011).contains(&cp)
        || (0xFF01..=0xFF0F).contains(&cp)
        || (0xFF1A..=0xFF20).contains(&cp)
}

fn is_cjk(c: char) -> bool {
    let cp = c as u32;
    (0x4E00..=0x9FFF).contains(&cp)
        || (0x3400..=0x4DBF).contains(&cp)
        || (0x20000..=0x2A6DF).contains(&cp)
        || (0x2A700..=0x2B81F).contains(&cp)
        || (0xF900..=0xFAFF).contains(&cp)
        || (0x2F800..=0x2FA1F).contains(&cp)
}

fn is_control(c: char) -> bool {
    if matches!(c, '\t' | '\n' | '\r') {
        return false;
    }
    c.is_control() || matches!(c as u32, 0x200B..=0x200F | 0x2028..=0x202E | 0xFEFF)
}

fn strip_accent(c: char) -> char {
    const FROM: &str =
        "àáâãäåāăąçćĉċčďđèéêëēĕėęěĝğġģĥħìíîïĩīĭįıĵķĺļľŀłñńņňòóôõöøōŏőŕŗřśŝşšţťŧùúûüũūŭůűųŵýÿŷźżž";
    const TO: &str = "aaaaaaaaaccccccddeeeeeeeeegggghhiiiiiiiiijklllllnnnnoooooooooorrrssssttttuuuuuuuuuuwyyyzzz";
    match FROM.chars().position(|f| f == c) {
        Some(i) => TO.chars().nth(i).unwrap_or(c),
        None if ('\u{300}'..='\u{36F}').contains(&c) => '\0',
        None => c,
    }
}

impl Tokenizer {
    /// Builds from `vocab.txt` contents (one token per line, id = line number).
    pub fn from_vocab_text(text: &[u8], cls: u32, sep: u32, unk: u32) -> Result<Self, Error> {
        let s = std::str::from_utf8(text)
            .map_err(|_| Error::Input("vocabulary is not UTF-8".into()))?;
        let mut vocab = BTreeMap::new();
        for (i, line) in s.lines().enumerate() {
            vocab
                .entry(line.trim_end_matches('\r').to_string())
                .or_insert(i as u32);
        }
        Ok(Tokenizer {
            vocab,
            cls,
            sep,
            unk,
        })
    }

    /// The tokenizer stored in an encoder model file.
    pub fn from_encoder(e: &Encoder) -> Result<Self, Error> {
        let v = e.vocab_text.as_ref().ok_or_else(|| {
            Error::Input("this model file carries no tokenizer vocabulary".into())
        })?;
        Self::from_vocab_text(v, e.cfg.cls, e.cfg.sep, e.cfg.unk)
    }

    /// Id of a token, if present.
    pub fn id(&self, tok: &str) -> Option<u32> {
        self.vocab.get(tok).copied()
    }

    /// Basic tokenisation into lower-cased words and punctuation marks.
    pub fn basic_tokens(text: &str) -> Vec<String> {
        let mut cleaned = String::with_capacity(text.len());
        for c in text.chars() {
            if c == '\0' || c == '\u{FFFD}' || is_control(c) {
                continue;
            }
            if c.is_whitespace() {
                cleaned.push(' ');
            } else if is_cjk(c) {
                cleaned.push(' ');
                cleaned.push(c);
                cleaned.push(' ');
            } else {
                cleaned.push(c);
            }
        }
        let mut out = Vec::new();
        for word in cleaned.split_whitespace() {
            let mut cur = String::new();
            for c in word.chars().flat_map(char::to_lowercase) {
                let c = strip_accent(c);
                if c == '\0' {
                    continue;
                }
                if is_punct(c) {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                    out.push(c.to_string());
                } else {
                    cur.push(c);
                }
            }
            if !cur.is_empty() {
                out.push(cur);
            }
        }
        out
    }

    fn wordpiece(&self, word: &str, out: &mut Vec<u32>) {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() > MAX_WORD_CHARS {
            out.push(self.unk);
            return;
        }
        let mut pieces = Vec::new();
        let mut start = 0;
        while start < chars.len() {
            let mut end = chars.len();
            let mut found = None;
            while start < end {
                let mut s: String = chars[start..end].iter().collect();
                if start > 0 {
                    s.insert_str(0, "##");
                }
                if let Some(id) = self.id(&s) {
                    found = Some(id);
                    break;
                }
                end -= 1;
            }
            match found {
                Some(id) => {
                    pieces.push(id);
                    start = end;
                }
                None => {
                    out.push(self.unk);
                    return;
                }
            }
        }
        out.extend(pieces);
    }

    /// `[CLS] wordpieces [SEP]`, the word pieces truncated so the total is at most `max_len`.
    pub fn encode(&self, text: &str, max_len: usize) -> Vec<u32> {
        let mut ids = Vec::new();
        for w in Self::basic_tokens(text) {
            self.wordpiece(&w, &mut ids);
        }
        ids.truncate(max_len.saturating_sub(2));
        let mut out = Vec::with_capacity(ids.len() + 2);
        out.push(self.cls);
        out.extend(ids);
        out.push(self.sep);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn basic_and_wordpiece() {
        assert_eq!(
            Tokenizer::basic_tokens("Héllo, WORLD!\tIt's\u{0}  fine"),
            vec!["hello", ",", "world", "!", "it", "'", "s", "fine"]
        );
        assert_eq!(Tokenizer::basic_tokens("中文"), vec!["中", "文"]);
        let vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nun\n##aff\n##able\nhello\n,\n";
        let t = Tokenizer::from_vocab_text(vocab.as_bytes(), 2, 3, 1).unwrap();
        assert_eq!(
            t.encode("Unaffable, hello xyz", 100),
            vec![2, 4, 5, 6, 8, 7, 1, 3]
        );
        assert_eq!(t.encode("hello hello hello", 4), vec![2, 7, 7, 3]);
    }
}
