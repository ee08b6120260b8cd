//! Scanning: the normalised message becomes a list of tokens, each a phrase of the vocabulary,
//! a phrase of the lexicon (or both), a number, or a plain word.
//!
//! Both automata report every match, overlapping ones included; a match in Latin text counts
//! only at word boundaries (a letter next to a letter, or a digit next to a digit, is inside a
//! word; Chinese has no boundaries), and a food or item name may take a plural "s" or "es".
//! Then the longest matches win, earlier first, so "珍珠奶茶" beats "珍珠" and "no ice" beats "no".
//! Whatever no match covers becomes words: a run of Latin letters or digits, or one Chinese
//! character.

use crate::MATCHES_MAX;
use crate::lexicon::{Index, is_han};
use crate::vocab::{Meaning, Vocab};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// A vocabulary pattern.
    pub(crate) vocab: Option<usize>,
    /// A lexicon phrase.
    pub(crate) phrase: Option<usize>,
    /// A number written in digits.
    pub(crate) number: Option<u64>,
}

impl Token {
    /// A plain word: no phrase, no number.
    pub(crate) fn is_word(&self) -> bool {
        self.vocab.is_none() && self.phrase.is_none() && self.number.is_none()
    }
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    start: usize,
    end: usize,
    vocab: Option<usize>,
    phrase: Option<usize>,
    number: Option<u64>,
}

/// The tokens, and every vocabulary match that no longer token swallows (for intent cues:
/// "my order" and "order here" overlap in "is my order here" and both count, while the "no" in
/// "no ice" does not).
pub(crate) struct Scanned {
    pub(crate) tokens: Vec<Token>,
    pub(crate) cues: Vec<(usize, usize, usize)>,
}

pub(crate) fn scan(text: &str, vocab: &Vocab, index: &Index) -> Scanned {
    let bytes = text.as_bytes();
    let mut candidates: Vec<Candidate> = Vec::new();
    if let Some(automaton) = vocab.automaton() {
        for found in automaton.find_overlapping_iter(text).take(MATCHES_MAX) {
            let pattern = found.pattern().as_usize();
            if let Some(end) = bounded(bytes, found.start(), found.end(), vocab.plural_ok(pattern)) {
                candidates.push(Candidate {
                    start: found.start(),
                    end,
                    vocab: Some(pattern),
                    phrase: None,
                    number: None,
                });
            }
        }
    }
    if let Some(automaton) = index.automaton() {
        for found in automaton.find_overlapping_iter(text).take(MATCHES_MAX) {
            let pattern = found.pattern().as_usize();
            let plural = index.phrase(pattern).is_some_and(|phrase| phrase.names_items());
            if let Some(end) = bounded(bytes, found.start(), found.end(), plural) {
                candidates.push(Candidate {
                    start: found.start(),
                    end,
                    vocab: None,
                    phrase: Some(pattern),
                    number: None,
                });
            }
        }
    }
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at].is_ascii_digit() && (at == 0 || !bytes[at - 1].is_ascii_digit()) {
            let mut end = at;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            let value = text[at..end.min(at + 12)].parse::<u64>().ok();
            candidates.push(Candidate { start: at, end, vocab: None, phrase: None, number: value });
            at = end;
        } else {
            at += 1;
        }
    }
    let vocab_matches: Vec<(usize, usize, usize)> = candidates
        .iter()
        .filter_map(|candidate| candidate.vocab.map(|pattern| (candidate.start, candidate.end, pattern)))
        .collect();
    let tokens = select(text, candidates);
    let cues = vocab_matches
        .into_iter()
        .filter(|&(start, end, _)| {
            // Drop a match that a longer token swallows, or that overlaps a token which is not a
            // cue ("i want" inside "want to know", which is there to neutralise it).
            let first = tokens.partition_point(|token| token.end <= start);
            tokens[first..].iter().take_while(|token| token.start < end).all(|token| {
                let same = (token.start, token.end) == (start, end);
                let swallowed = token.start <= start && end <= token.end;
                let cue_token = token
                    .vocab
                    .is_some_and(|other| vocab.meanings(other).iter().any(|m| matches!(m, Meaning::Cue(_))));
                let beaten = token.end - token.start >= end - start;
                same || (!swallowed && (cue_token || !beaten))
            })
        })
        .collect();
    Scanned { tokens, cues }
}

/// The end of a match if it sits on word boundaries (extended over a plural ending when
/// allowed), else `None`.
fn bounded(bytes: &[u8], start: usize, end: usize, plural_ok: bool) -> Option<usize> {
    let class = |byte: u8| {
        if byte.is_ascii_alphabetic() {
            1
        } else if byte.is_ascii_digit() {
            2
        } else {
            0
        }
    };
    let first = class(*bytes.get(start)?);
    let last = class(*bytes.get(end.checked_sub(1)?)?);
    if first != 0 && start > 0 && bytes.get(start - 1).is_some_and(|&byte| class(byte) == first) {
        return None;
    }
    let next = bytes.get(end).map_or(0, |&byte| class(byte));
    if last == 0 || next != last {
        return Some(end);
    }
    if plural_ok && last == 1 {
        for suffix in [&b"s"[..], &b"es"[..]] {
            let stop = end + suffix.len();
            if bytes.get(end..stop) == Some(suffix) && bytes.get(stop).is_none_or(|&byte| class(byte) != 1) {
                return Some(stop);
            }
        }
    }
    None
}

/// The longest non-overlapping candidates (earlier first on ties), candidates with the same span
/// merged, and words for what is left.
fn select(text: &str, mut candidates: Vec<Candidate>) -> Vec<Token> {
    candidates.sort_by(|a, b| (b.end - b.start).cmp(&(a.end - a.start)).then(a.start.cmp(&b.start)));
    let mut taken = vec![false; text.len()];
    let mut tokens: Vec<Token> = Vec::with_capacity(candidates.len());
    // Candidates with the same span are next to each other after the sort: the first decides
    // whether the span is taken, the others add their meanings to it.
    let mut previous: Option<(usize, usize, Option<usize>)> = None;
    for candidate in &candidates {
        if candidate.end <= candidate.start || candidate.end > text.len() {
            continue;
        }
        if let Some((start, end, accepted)) = previous
            && start == candidate.start
            && end == candidate.end
        {
            if let Some(same) = accepted.and_then(|index| tokens.get_mut(index)) {
                same.vocab = same.vocab.or(candidate.vocab);
                same.phrase = same.phrase.or(candidate.phrase);
                same.number = same.number.or(candidate.number);
            }
            continue;
        }
        if taken[candidate.start..candidate.end].iter().any(|&is| is) {
            previous = Some((candidate.start, candidate.end, None));
            continue;
        }
        taken[candidate.start..candidate.end].iter_mut().for_each(|is| *is = true);
        previous = Some((candidate.start, candidate.end, Some(tokens.len())));
        tokens.push(Token {
            start: candidate.start,
            end: candidate.end,
            vocab: candidate.vocab,
            phrase: candidate.phrase,
            number: candidate.number,
        });
    }
    // Words in the gaps.
    let mut at = 0;
    while at < text.len() {
        if taken[at] || !text.is_char_boundary(at) {
            at += 1;
            continue;
        }
        let Some(c) = text[at..].chars().next() else { break };
        if c.is_ascii_alphanumeric() || c == '\'' || c == '_' || c == '#' {
            let mut end = at;
            while end < text.len() && !taken[end] {
                let byte = text.as_bytes()[end];
                if byte.is_ascii_alphanumeric()
                    || byte == b'\''
                    || byte == b'_'
                    || byte == b'#'
                    || byte == b'-'
                {
                    end += 1;
                } else {
                    break;
                }
            }
            tokens.push(Token { start: at, end, vocab: None, phrase: None, number: None });
            at = end;
        } else if is_han(c) || c.is_alphanumeric() {
            let end = at + c.len_utf8();
            tokens.push(Token { start: at, end, vocab: None, phrase: None, number: None });
            at = end;
        } else {
            at += c.len_utf8();
        }
    }
    tokens.sort_by_key(|token| token.start);
    tokens
}

/// The meanings of a token's vocabulary phrase (empty when it has none).
pub(crate) fn meanings<'v>(vocab: &'v Vocab, token: &Token) -> &'v [Meaning] {
    token.vocab.map(|pattern| vocab.meanings(pattern)).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_need_whole_words_in_latin_text_only() {
        let text = b"this latte";
        assert_eq!(bounded(text, 2, 4, false), None, "\"is\" inside \"this\"");
        assert_eq!(bounded(text, 5, 10, false), Some(10));
        assert_eq!(bounded(b"lattes!", 0, 5, true), Some(6));
        assert_eq!(bounded(b"lattes!", 0, 5, false), None);
        assert_eq!(bounded(b"sandwiches", 0, 8, true), Some(10));
        assert_eq!(bounded(b"x2", 1, 2, false), Some(2), "a digit next to a letter is a boundary");
    }
}
