//! Reading-time estimate.
//!
//! Latin-script text is counted in whitespace-separated words at
//! [`WORDS_PER_MINUTE`] (Brysbaert 2019 meta-analysis: ~238 wpm for silent
//! reading of non-fiction). Chinese, Japanese (kana + kanji) characters are not
//! space-separated, so each such character counts on its own at
//! [`CJK_CHARS_PER_MINUTE`]. Hangul is space-separated and counted as words.

use serde::{Deserialize, Serialize};

/// Words per minute for space-separated scripts.
pub const WORDS_PER_MINUTE: f64 = 238.0;
/// Characters per minute for Chinese/Japanese text.
pub const CJK_CHARS_PER_MINUTE: f64 = 500.0;

/// A reading-time estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadingTime {
    /// Space-separated words (CJK characters excluded).
    pub words: usize,
    /// Chinese/Japanese characters.
    pub cjk_chars: usize,
    /// `words + cjk_chars`, a single "word count" for display.
    pub word_count: usize,
    /// Estimated minutes, unrounded.
    pub minutes_exact: f64,
    /// Estimated minutes rounded up (0 only for empty text).
    pub minutes: u32,
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK Ext A
        | 0x4E00..=0x9FFF    // CJK Unified
        | 0xF900..=0xFAFF    // Compatibility ideographs
        | 0xFF66..=0xFF9F    // Half-width katakana
        | 0x20000..=0x2FA1F  // Ext B..F, compat supplement
    )
}

/// Estimate reading time of plain text.
pub fn estimate(text: &str) -> ReadingTime {
    let mut words = 0usize;
    let mut cjk = 0usize;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            cjk += 1;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                words += 1;
                in_word = true;
            }
        } else if c.is_whitespace() {
            in_word = false;
        }
        // Punctuation inside a token ("don't", "e-mail") keeps the word going.
    }
    let minutes_exact = words as f64 / WORDS_PER_MINUTE + cjk as f64 / CJK_CHARS_PER_MINUTE;
    ReadingTime {
        words,
        cjk_chars: cjk,
        word_count: words + cjk,
        minutes_exact,
        minutes: minutes_exact.ceil() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english() {
        let text = "word ".repeat(476);
        let rt = estimate(&text);
        assert_eq!(rt.words, 476);
        assert_eq!(rt.minutes, 2);
        assert!((rt.minutes_exact - 2.0).abs() < 1e-9);
    }

    #[test]
    fn punctuation_and_empty() {
        assert_eq!(estimate("Don't stop — it's e-mail, ok?").words, 5);
        let empty = estimate("  \n ");
        assert_eq!(empty.word_count, 0);
        assert_eq!(empty.minutes, 0);
        assert_eq!(estimate("hi").minutes, 1);
    }

    #[test]
    fn cjk_counts_characters() {
        let zh = "我们今天讨论播客技术。".repeat(100); // 10 han chars + punctuation each
        let rt = estimate(&zh);
        assert_eq!(rt.cjk_chars, 1000);
        assert_eq!(rt.words, 0);
        assert_eq!(rt.minutes, 2);
        let ja = estimate("これは日本語の文章です");
        assert_eq!(ja.cjk_chars, 11);
        let mixed = estimate("Rust で書かれた podcast アプリ");
        assert_eq!(mixed.words, 2);
        assert!(mixed.cjk_chars >= 6);
        let ko = estimate("안녕하세요 반갑습니다 여러분");
        assert_eq!(ko.words, 3);
    }
}
