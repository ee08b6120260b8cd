//! Text analysis, shared by indexing and querying so both cut text the same way: words (jieba,
//! lowercased, punctuation and emoji dropped) and character grams (for typos and partial names).

use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer,
};
use tantivy_jieba::JiebaTokenizer;

/// The name the word analyzer is registered under in the index.
pub(crate) const WORDS: &str = "lantern_words";
/// The name the gram tokenizer is registered under in the index.
pub(crate) const GRAMS: &str = "lantern_grams";

/// Longest word kept, in bytes: a longer token is a pasted URL or a run of one character, noise
/// that would only grow the term dictionary.
const WORD_BYTES_MAX: usize = 64;

/// Jieba (search mode, so "珍珠奶茶" also yields "珍珠" and "奶茶"), lowercased, keeping only tokens
/// with a letter or digit in them: jieba passes spaces, punctuation and emoji through as tokens.
pub(crate) fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(JiebaTokenizer::new())
        .filter(RemoveLongFilter::limit(WORD_BYTES_MAX))
        .filter(LowerCaser)
        .filter(WordsOnly)
        .build()
}

/// The words of `text` as [`words_analyzer`] cuts them, in order, without repeats.
pub(crate) fn words(analyzer: &mut TextAnalyzer, text: &str, max: usize) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while words.len() < max && stream.advance() {
        let word = &stream.token().text;
        if !words.contains(word) {
            words.push(word.clone());
        }
    }
    words
}

/// Whether `c` is written without spaces between words (Chinese, Japanese, Korean), so a single
/// character carries meaning and grams of it should be short.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30ff}'     // hiragana, katakana
        | '\u{3400}'..='\u{4dbf}'   // CJK extension A
        | '\u{4e00}'..='\u{9fff}'   // CJK unified ideographs
        | '\u{ac00}'..='\u{d7af}'   // hangul syllables
        | '\u{f900}'..='\u{faff}'   // CJK compatibility ideographs
        | '\u{20000}'..='\u{2fa1f}' // CJK extensions B to F, compatibility supplement
    )
}

/// Calls `emit(Gram { .. })` for each character gram of `text`, lowercased.
///
/// Text is cut into runs of letters and digits of one kind (CJK or not). A CJK run gives each
/// character and each adjacent pair, so "珍株奶茶" (a typo) still shares 珍, 奶, 茶 and 奶茶 with
/// "珍珠奶茶". Any other run gives its 3-grams ("lattee": lat, att, tte, tee, three of them shared
/// with "latte"), or itself when it has 2 or 3 characters; single letters are too common to
/// rank anything.
pub(crate) fn grams(text: &str, mut emit: impl FnMut(Gram)) {
    let mut run: Vec<(usize, char)> = Vec::new();
    let mut run_is_cjk = false;
    let mut run_index = 0;
    for (offset, c) in text.char_indices() {
        if !run.is_empty() && (!c.is_alphanumeric() || is_cjk(c) != run_is_cjk) {
            run_grams(&run, run_index, run_is_cjk, text.len(), &mut emit);
            run.clear();
            run_index += 1;
        }
        if c.is_alphanumeric() {
            run_is_cjk = is_cjk(c);
            run.push((offset, c));
        }
    }
    run_grams(&run, run_index, run_is_cjk, text.len(), &mut emit);
}

/// One gram: its text, where it is in the text (bytes), and which run it comes from.
#[derive(Debug)]
pub(crate) struct Gram {
    pub(crate) text: String,
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) run: usize,
}

fn run_grams(
    run: &[(usize, char)],
    run_index: usize,
    cjk: bool,
    text_len: usize,
    emit: &mut impl FnMut(Gram),
) {
    // A gram ends where the next character starts (or at the end of the run's last character).
    let end_of = |index: usize| {
        run.get(index + 1).map_or_else(
            || run.get(index).map_or(text_len, |&(offset, c)| offset + c.len_utf8()),
            |&(offset, _)| offset,
        )
    };
    let mut emit_window = |window: &[(usize, char)], last: usize| {
        if let Some(&(from, _)) = window.first() {
            let text = window.iter().flat_map(|&(_, c)| c.to_lowercase()).collect();
            emit(Gram { text, from, to: end_of(last), run: run_index });
        }
    };
    if cjk {
        for (index, pair) in run.windows(2).enumerate() {
            emit_window(&pair[..1], index);
            emit_window(pair, index + 1);
        }
        if let Some(last) = run.len().checked_sub(1) {
            emit_window(&run[last..], last);
        }
    } else if (2..=3).contains(&run.len()) {
        emit_window(run, run.len() - 1);
    } else {
        for (index, window) in run.windows(3).enumerate() {
            emit_window(window, index + 2);
        }
    }
}

/// A query's grams, grouped by run (roughly: by word, and by stretch of Chinese), without
/// repeats, at most `max` in all. Runs without grams (single letters) are left out.
pub(crate) fn query_grams(text: &str, max: usize) -> Vec<Vec<String>> {
    let mut runs: Vec<(usize, Vec<String>)> = Vec::new();
    let mut total = 0;
    grams(text, |gram| {
        let seen = runs.iter().any(|(_, grams)| grams.contains(&gram.text));
        if total >= max || seen {
            return;
        }
        total += 1;
        match runs.last_mut() {
            Some((run, grams)) if *run == gram.run => grams.push(gram.text),
            _ => runs.push((gram.run, vec![gram.text])),
        }
    });
    runs.into_iter().map(|(_, grams)| grams).collect()
}

/// Indexes [`grams`]; see there.
#[derive(Clone, Debug, Default)]
pub(crate) struct GramTokenizer;

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = GramStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> GramStream {
        let mut tokens = Vec::new();
        grams(text, |gram| {
            tokens.push(Token {
                offset_from: gram.from,
                offset_to: gram.to,
                position: tokens.len(),
                text: gram.text,
                position_length: 1,
            });
        });
        GramStream { current: Token::default(), rest: tokens.into_iter() }
    }
}

/// The grams of one text, computed up front: names and aliases are short, and it keeps the
/// gram logic in one plain function.
pub(crate) struct GramStream {
    current: Token,
    rest: std::vec::IntoIter<Token>,
}

impl TokenStream for GramStream {
    fn advance(&mut self) -> bool {
        match self.rest.next() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Drops tokens without a letter or digit (spaces, punctuation, emoji).
#[derive(Clone, Debug)]
struct WordsOnly;

impl TokenFilter for WordsOnly {
    type Tokenizer<T: Tokenizer> = WordsOnlyTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> WordsOnlyTokenizer<T> {
        WordsOnlyTokenizer(tokenizer)
    }
}

#[derive(Clone, Debug)]
struct WordsOnlyTokenizer<T>(T);

impl<T: Tokenizer> Tokenizer for WordsOnlyTokenizer<T> {
    type TokenStream<'a> = WordsOnlyStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        WordsOnlyStream(self.0.token_stream(text))
    }
}

struct WordsOnlyStream<S>(S);

impl<S: TokenStream> TokenStream for WordsOnlyStream<S> {
    fn advance(&mut self) -> bool {
        while self.0.advance() {
            if self.0.token().text.chars().any(char::is_alphanumeric) {
                return true;
            }
        }
        false
    }

    fn token(&self) -> &Token {
        self.0.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.0.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_grams(text: &str) -> Vec<String> {
        let mut all = Vec::new();
        grams(text, |gram| {
            // Offsets must cut the original text on character boundaries.
            assert!(text.get(gram.from..gram.to).is_some(), "{text:?} {gram:?}");
            all.push(gram.text);
        });
        all
    }

    #[test]
    fn grams_are_short_for_cjk_and_trigrams_otherwise() {
        assert_eq!(all_grams("奶茶"), ["奶", "奶茶", "茶"]);
        assert_eq!(all_grams("Latte!"), ["lat", "att", "tte"]);
        assert_eq!(all_grams("Tea"), ["tea"]);
        assert_eq!(all_grams("a 🧋 , b"), Vec::<String>::new());
        assert_eq!(all_grams("拿铁Latte"), ["拿", "拿铁", "铁", "lat", "att", "tte"]);
        assert_eq!(all_grams("XL"), ["xl"]);
    }

    #[test]
    fn query_grams_are_grouped_by_run_without_repeats() {
        assert_eq!(
            query_grams("奶茶 milk, x 奶茶 tea milk", 48),
            [vec!["奶", "奶茶", "茶"], vec!["mil", "ilk"], vec!["tea"]]
        );
        assert_eq!(query_grams("lattee latte", 3), [vec!["lat", "att", "tte"]]);
        assert_eq!(query_grams("🧋 a", 48), Vec::<Vec<String>>::new());
    }

    #[test]
    fn words_are_lowercased_without_punctuation() {
        let mut analyzer = words_analyzer();
        let words = words(&mut analyzer, "珍珠奶茶 Pearl-Milk TEA!! 🧋 tea", 16);
        assert!(words.contains(&"pearl".to_string()), "{words:?}");
        assert!(words.contains(&"奶茶".to_string()), "{words:?}");
        assert!(words.iter().all(|word| word.chars().any(char::is_alphanumeric)), "{words:?}");
        assert_eq!(words.iter().filter(|word| *word == "tea").count(), 1, "{words:?}");
        assert!(!words.iter().any(|word| word.chars().any(char::is_uppercase)), "{words:?}");
    }
}
