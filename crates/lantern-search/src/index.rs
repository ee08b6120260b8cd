//! [`SearchIndex`]: the schema, updates by merchant, and the query built from a shopper's text.

use std::fmt;

use lantern_catalog_io::Menu;
use lantern_core::{Item, ItemId, MerchantId, Money};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Score, TantivyDocument, Term};

use crate::analysis::{self, GRAMS, GramTokenizer, WORDS};
use crate::{
    MERCHANT_NAME_CHARS_MAX, QUERY_CHARS_MAX, QUERY_GRAMS_MAX, QUERY_WORDS_MAX, SEARCH_HITS_MAX, SearchError,
    WRITER_MEMORY_BYTES,
};

/// How much a query word counts in each field, as a BM25 multiplier: the names shoppers use
/// (name, aliases) above what the item is (category) and what it comes with (options), the
/// shop's name, and last the free-text description, which mentions many things.
const NAMES_BOOST: Score = 3.0;
const CATEGORY_BOOST: Score = 1.2;
const OPTION_BOOST: Score = 0.8;
const MERCHANT_BOOST: Score = 1.0;
const DESCRIPTION_BOOST: Score = 0.5;
/// A fuzzy match scores a constant (tantivy gives every term within the distance the same
/// score), added to the exact match's BM25 when the word is spelled right. Names and aliases
/// only: a typo'd word matching some option or description word is mostly noise.
const FUZZY_NAMES_BOOST: Score = 1.5;
/// Per shared gram of the name or aliases: many small votes, so the item sharing the most of
/// the query's characters wins when no whole word matches.
const GRAM_BOOST: Score = 0.5;

/// The index's fields. Text fields are cut by [`analysis::words_analyzer`] unless noted.
#[derive(Clone, Copy, Debug)]
struct Fields {
    /// `MerchantId`, indexed so a merchant's items can be deleted and filtered by it.
    merchant: Field,
    /// `ItemId`.
    item: Field,
    /// The base price, in fen.
    price_fen: Field,
    /// The item's name, stored for the hit; not indexed ([`Fields::names`] is).
    name: Field,
    /// The name and the aliases: one field, so a fuzzy word builds one automaton, not two
    /// (a distance-2 automaton is a good part of a search's time).
    names: Field,
    description: Field,
    /// Group and choice names ("杯型 Size", "燕麦奶 Oat milk").
    options: Field,
    category: Field,
    /// Stored too, for the hit.
    merchant_name: Field,
    /// The name and aliases again, cut into [`analysis::grams`].
    grams: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        // Frequencies for BM25, no positions: there are no phrase queries, and positions
        // would only cost memory.
        let indexed = |tokenizer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(tokenizer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        let fields = Fields {
            merchant: builder.add_u64_field("merchant", INDEXED | STORED),
            item: builder.add_u64_field("item", STORED),
            price_fen: builder.add_i64_field("price_fen", STORED),
            name: builder.add_text_field("name", STORED),
            names: builder.add_text_field("names", indexed(WORDS)),
            description: builder.add_text_field("description", indexed(WORDS)),
            options: builder.add_text_field("options", indexed(WORDS)),
            category: builder.add_text_field("category", indexed(WORDS)),
            merchant_name: builder.add_text_field("merchant_name", indexed(WORDS).set_stored()),
            grams: builder.add_text_field("grams", indexed(GRAMS)),
        };
        (builder.build(), fields)
    }

    fn word_fields(&self) -> [(Field, Score); 5] {
        [
            (self.names, NAMES_BOOST),
            (self.category, CATEGORY_BOOST),
            (self.options, OPTION_BOOST),
            (self.merchant_name, MERCHANT_BOOST),
            (self.description, DESCRIPTION_BOOST),
        ]
    }

    fn merchant_term(&self, merchant: MerchantId) -> Term {
        Term::from_field_u64(self.merchant, merchant.get())
    }

    fn document(
        &self,
        merchant: MerchantId,
        merchant_name: &str,
        item: &Item,
        menu: &Menu,
    ) -> TantivyDocument {
        let mut document = TantivyDocument::new();
        document.add_u64(self.merchant, merchant.get());
        document.add_u64(self.item, item.id.get());
        document.add_i64(self.price_fen, item.price.fen());
        document.add_text(self.name, &item.name);
        document.add_text(self.names, &item.name);
        document.add_text(self.grams, &item.name);
        if let Some(extras) = menu.extras_of(item.id) {
            for alias in &extras.aliases {
                document.add_text(self.names, alias);
                document.add_text(self.grams, alias);
            }
            if !extras.description.is_empty() {
                document.add_text(self.description, &extras.description);
            }
        }
        for group in &item.option_groups {
            document.add_text(self.options, &group.name);
            for choice in &group.choices {
                document.add_text(self.options, &choice.name);
            }
        }
        document.add_text(self.category, &item.category);
        document.add_text(self.merchant_name, merchant_name);
        document
    }
}

/// One item found by [`SearchIndex::search`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchHit {
    pub merchant: MerchantId,
    pub item: ItemId,
    /// Relevance × 1000, higher is better; comparable only between hits of one search.
    pub score_milli: u32,
    pub name: String,
    pub merchant_name: String,
    /// The item's base price, before options and coupons.
    pub price: Money,
}

/// Every merchant's items, searchable; see the crate documentation.
///
/// Searching takes `&self` and may run on many threads at once; updates take `&mut self` (one
/// writer), so a caller shares it behind a read-write lock. A search sees the index as of the
/// last completed update.
pub struct SearchIndex {
    fields: Fields,
    writer: IndexWriter<TantivyDocument>,
    /// Reloaded by hand after each commit ([`ReloadPolicy::Manual`]), so an update is visible
    /// as soon as it returns.
    reader: IndexReader,
    /// The same analyzer the index uses for words, to cut queries identically; cloned per search
    /// because cutting text needs `&mut`.
    words: TextAnalyzer,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let searcher = self.reader.searcher();
        f.debug_struct("SearchIndex")
            .field("items", &searcher.num_docs())
            .field("segments", &searcher.segment_readers().len())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// An empty index in memory.
    pub fn new() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = Fields::schema();
        let index = Index::create_in_ram(schema);
        let words = analysis::words_analyzer();
        index.tokenizers().register(WORDS, words.clone());
        index.tokenizers().register(GRAMS, GramTokenizer);
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let mut search_index = SearchIndex { fields, writer, reader, words };
        // Jieba loads its dictionary on first use (a fraction of a second); pay for it here
        // rather than in the first shopper's search.
        analysis::words(&mut search_index.words, "预热 warm-up", 1);
        Ok(search_index)
    }

    /// Replaces everything indexed for `merchant` with `menu`, in one commit: a search sees the
    /// old menu until this returns and the new one after. `merchant_name` is display text such
    /// as "茶颜悦色 Sexy Tea (五一广场店)"; it is searchable and comes back in each hit.
    ///
    /// On an error the index keeps what it had before the call.
    pub fn upsert_menu(
        &mut self,
        merchant: MerchantId,
        merchant_name: &str,
        menu: &Menu,
    ) -> Result<(), SearchError> {
        self.upsert_menus([(merchant, merchant_name, menu)])
    }

    /// [`upsert_menu`](SearchIndex::upsert_menu) for many shops in one commit: all of them or,
    /// on an error, none. A commit costs milliseconds whatever it holds (tantivy writes a
    /// segment and applies the deletes to every other one), so a start that indexes 2,000 shops
    /// one commit at a time spends seconds where one commit takes a fraction of one.
    pub fn upsert_menus<'a>(
        &mut self,
        shops: impl IntoIterator<Item = (MerchantId, &'a str, &'a Menu)>,
    ) -> Result<(), SearchError> {
        let mut staged = Ok(());
        for (merchant, merchant_name, menu) in shops {
            let chars = merchant_name.chars().count();
            if chars == 0 || chars > MERCHANT_NAME_CHARS_MAX {
                // Nothing is committed: drop what earlier shops staged.
                self.writer.rollback()?;
                return Err(SearchError::MerchantName { chars });
            }
            // A delete applies only to documents added before it, so the new items survive it.
            self.writer.delete_term(self.fields.merchant_term(merchant));
            staged = menu.catalog().items().iter().try_for_each(|item| {
                self.writer.add_document(self.fields.document(merchant, merchant_name, item, menu)).map(drop)
            });
            if staged.is_err() {
                break;
            }
        }
        self.commit(staged)
    }

    /// Removes every item of `merchant`; removing a merchant that has none is not an error.
    pub fn remove_merchant(&mut self, merchant: MerchantId) -> Result<(), SearchError> {
        self.writer.delete_term(self.fields.merchant_term(merchant));
        self.commit(Ok(()))
    }

    /// Commits what was staged if staging went well, and makes it visible to searches. On any
    /// failure, rolls the writer back to the last commit: otherwise the half-staged operations
    /// would ride along with the next update.
    fn commit(&mut self, staged: tantivy::Result<()>) -> Result<(), SearchError> {
        if let Err(error) = staged.and_then(|()| self.writer.commit().map(drop)) {
            self.writer.rollback()?;
            return Err(error.into());
        }
        self.reader.reload()?;
        Ok(())
    }

    /// Items matching `query`, best first, at most `limit` (lowered to [`SEARCH_HITS_MAX`]), of
    /// `merchant` only when given. A query with no letters or digits, or a `limit` of 0, finds
    /// nothing; one over [`QUERY_CHARS_MAX`] characters is refused.
    ///
    /// Measured (`tests/speed.rs`, release build, 10,000 items in 100 shops, on a shared 2-core
    /// machine with a load average of 3): 0.03 ms for a query that matches nothing, 0.14 ms for
    /// "lattee", 0.3 ms for "珍珠奶茶", 0.5 ms for "strawbery smoothie large" (two words within
    /// two edits, whose automata cost most); a 100-item menu change took about 10 ms.
    pub fn search(
        &self,
        query: &str,
        merchant: Option<MerchantId>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, SearchError> {
        // `nth` stops after the limit, so a huge input costs no more than a long one.
        if query.chars().nth(QUERY_CHARS_MAX).is_some() {
            return Err(SearchError::QueryTooLong);
        }
        let limit = limit.min(SEARCH_HITS_MAX);
        let Some(text_query) = self.text_query(query).filter(|_| limit > 0) else {
            return Ok(Vec::new());
        };
        let query: Box<dyn Query> = match merchant {
            // The merchant clause only filters: a constant 0 keeps scores those of the text.
            Some(merchant) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, text_query),
                (
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(
                        Box::new(TermQuery::new(
                            self.fields.merchant_term(merchant),
                            IndexRecordOption::Basic,
                        )),
                        0.0,
                    )),
                ),
            ])),
            None => text_query,
        };
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        top.into_iter()
            .map(|(score, address)| self.hit(score, &searcher.doc::<TantivyDocument>(address)?))
            .collect()
    }

    /// How many items are indexed, over all merchants.
    pub fn item_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// One Should clause per (query word, field), per long query word within a typo's distance
    /// of a name or alias word, and per run of the query's grams: a document matching any of them is a
    /// hit, and the more it matches the higher it ranks. `None` when the query has nothing to
    /// search for.
    fn text_query(&self, query: &str) -> Option<Box<dyn Query>> {
        let mut words_analyzer = self.words.clone();
        let words = analysis::words(&mut words_analyzer, query, QUERY_WORDS_MAX);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut should = |query: Box<dyn Query>, boost: Score| {
            clauses.push((Occur::Should, Box::new(BoostQuery::new(query, boost))));
        };
        for word in &words {
            for (field, boost) in self.fields.word_fields() {
                let term = Term::from_field_text(field, word);
                should(Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)), boost);
            }
            if let Some(distance) = typo_distance(word) {
                let term = Term::from_field_text(self.fields.names, word);
                should(Box::new(FuzzyTermQuery::new(term, distance, true)), FUZZY_NAMES_BOOST);
            }
        }
        for run in analysis::query_grams(query, QUERY_GRAMS_MAX) {
            // One shared gram is chance ("man" in "manner" and "mango"); a run matches an item
            // only when the item shares at least half of the run's grams.
            let required = run.len().div_ceil(2);
            let grams: Vec<Box<dyn Query>> = run
                .iter()
                .map(|gram| {
                    let term = Term::from_field_text(self.fields.grams, gram);
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as Box<dyn Query>
                })
                .collect();
            should(Box::new(BooleanQuery::union_with_minimum_required_clauses(grams, required)), GRAM_BOOST);
        }
        (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
    }

    fn hit(&self, score: Score, document: &TantivyDocument) -> Result<SearchHit, SearchError> {
        let u64_of = |field: Field, name: &'static str| {
            document
                .get_first(field)
                .and_then(|value| value.as_u64())
                .ok_or(SearchError::Corrupt { field: name })
        };
        let text_of = |field: Field, name: &'static str| {
            document
                .get_first(field)
                .and_then(|value| value.as_str().map(str::to_owned))
                .ok_or(SearchError::Corrupt { field: name })
        };
        let price_fen = document
            .get_first(self.fields.price_fen)
            .and_then(|value| value.as_i64())
            .ok_or(SearchError::Corrupt { field: "price_fen" })?;
        Ok(SearchHit {
            merchant: MerchantId::new(u64_of(self.fields.merchant, "merchant")?),
            item: ItemId::new(u64_of(self.fields.item, "item")?),
            score_milli: score_milli(score),
            name: text_of(self.fields.name, "name")?,
            merchant_name: text_of(self.fields.merchant_name, "merchant_name")?,
            price: Money::from_fen(price_fen),
        })
    }
}

/// Edits a query word may be away from an indexed word and still match: none for short words
/// (one edit turns "tea" into "sea" or "ten") or Chinese (a one-character edit changes the
/// word; grams cover Chinese typos), 1 from 4 characters, 2 from 8 ("capuccino", "americnao").
fn typo_distance(word: &str) -> Option<u8> {
    if word.chars().any(analysis::is_cjk) {
        return None;
    }
    match word.chars().count() {
        0..4 => None,
        4..8 => Some(1),
        _ => Some(2),
    }
}

/// tantivy scores in `f32`; hits carry an integer so callers never do float arithmetic (the
/// workspace warns on it). The one multiplication happens here; `as` saturates, and maps NaN
/// to 0.
#[allow(clippy::float_arithmetic)]
fn score_milli(score: Score) -> u32 {
    (score * 1000.0) as u32
}
