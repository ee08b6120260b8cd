//! What the gateway knows about menus beyond the ledger: the search index and the agent's
//! lexicon over every shop's items, with the display extras (aliases, descriptions) the ledger
//! does not keep. Rebuilt from the ledger at start (extras then empty until the next upload)
//! and updated when a menu is uploaded or a shop registered.
//!
//! The search index takes shops in batches: a tantivy commit costs milliseconds however little
//! it holds, so one commit per shop made indexing 2,000 shops take 13 s where batches take
//! 0.17 s (`lantern bench search`). A start and a menu upload commit up to [`SEARCH_BATCH_SHOPS_MAX`]
//! shops at a time; a registered shop waits (at most that many of them) until the next search,
//! which commits them first, so a search always sees every shop registered before it.

use std::sync::Arc;

use lantern_catalog_io::Menu;
use lantern_core::{Catalog, CatalogId, MerchantId};
use lantern_ledger::Ledger;
use lantern_nlu::Lexicon;
use lantern_search::{SearchError, SearchHit, SearchIndex};
use lantern_sequencer::SequencerHandle;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

/// Most shops indexed for search and chat. Outlets of a chain share a menu, so past this the
/// chain's first outlets stand for it (a surge profile registers 300,000 outlets; indexing the
/// same menu 300,000 times would take minutes and gigabytes for no better answer).
pub const INDEXED_MERCHANTS_MAX: usize = 2_000;
/// Most shops one search-index commit takes (a batch of registrations, a start, a chain's new
/// menu): bounds the writer's staged memory and how long a search may wait on a commit.
pub const SEARCH_BATCH_SHOPS_MAX: usize = 512;

/// A shop waiting for the search index's next commit.
#[derive(Debug)]
struct Unsearched {
    merchant: MerchantId,
    name: String,
    menu: Arc<Menu>,
}

/// The search index and the lexicon, kept in step.
#[derive(Debug)]
pub struct Catalogs {
    search: RwLock<SearchIndex>,
    pub lexicon: Arc<RwLock<Lexicon>>,
    /// Each published menu with its extras, by catalog.
    menus: Mutex<FxHashMap<CatalogId, Arc<Menu>>>,
    indexed: Mutex<Vec<MerchantId>>,
    /// Registered shops not yet committed to the search index (at most
    /// [`SEARCH_BATCH_SHOPS_MAX`]); the next search commits them first.
    unsearched: Mutex<Vec<Unsearched>>,
}

impl Catalogs {
    /// Everything the ledger has, with empty extras.
    pub fn from_ledger(ledger: &Ledger) -> Catalogs {
        let catalogs = Catalogs {
            search: RwLock::new(
                SearchIndex::new().unwrap_or_else(|error| panic!("an empty search index: {error}")),
            ),
            lexicon: Arc::new(RwLock::new(Lexicon::new())),
            menus: Mutex::new(FxHashMap::default()),
            indexed: Mutex::new(Vec::new()),
            unsearched: Mutex::new(Vec::new()),
        };
        for merchant in ledger.merchant_ids() {
            let Some((shop, ..)) = ledger.merchant(merchant) else { continue };
            let Some(catalog) = ledger.catalog(shop.catalog) else { continue };
            catalogs.register(merchant, shop.name(), shop.catalog, catalog);
        }
        catalogs.commit_unsearched();
        catalogs
    }

    /// Items matching `text` (see [`SearchIndex::search`]), every shop registered so far
    /// included.
    pub fn search(
        &self,
        text: &str,
        merchant: Option<MerchantId>,
        limit: usize,
    ) -> Result<Vec<SearchHit>, SearchError> {
        if !self.unsearched.lock().is_empty() {
            self.commit_unsearched();
        }
        self.search.read().search(text, merchant, limit)
    }

    /// Commits the shops waiting for the search index, in batches.
    fn commit_unsearched(&self) {
        // The index's lock is taken first, so a search that finds shops waiting waits for the
        // commit that takes them rather than searching without them.
        let mut search = self.search.write();
        let waiting = std::mem::take(&mut *self.unsearched.lock());
        for batch in waiting.chunks(SEARCH_BATCH_SHOPS_MAX) {
            let shops = batch.iter().map(|shop| (shop.merchant, shop.name.as_str(), &*shop.menu));
            if let Err(error) = search.upsert_menus(shops) {
                tracing::warn!(n_shops = batch.len(), %error, "menus not indexed for search");
            }
        }
    }

    /// A menu was published (or re-published): every indexed shop selling from it is updated.
    pub fn menu_published(&self, sequencer: &SequencerHandle, catalog: CatalogId, menu: Menu) {
        let menu = Arc::new(menu);
        self.menus.lock().insert(catalog, Arc::clone(&menu));
        let indexed: Vec<MerchantId> = self.indexed.lock().clone();
        // Names are read under the ledger's lock; indexing (a commit) happens outside it.
        let shops: Vec<(MerchantId, String)> = sequencer.read(|ledger| {
            indexed
                .iter()
                .filter_map(|merchant| {
                    let (shop, ..) = ledger.merchant(*merchant)?;
                    (shop.catalog == catalog).then(|| (*merchant, shop.name().to_owned()))
                })
                .collect()
        });
        for (merchant, name) in shops {
            self.index(merchant, name, &menu);
        }
        self.commit_unsearched();
    }

    /// A shop was registered (or renamed, or moved to another menu).
    pub fn merchant_registered(&self, sequencer: &SequencerHandle, merchant: MerchantId) {
        let shop = sequencer.read(|ledger| {
            let (shop, ..) = ledger.merchant(merchant)?;
            Some((shop.name().to_owned(), shop.catalog, Arc::clone(ledger.catalog(shop.catalog)?)))
        });
        if let Some((name, catalog_id, catalog)) = shop {
            self.register(merchant, &name, catalog_id, &catalog);
        }
    }

    fn register(&self, merchant: MerchantId, name: &str, catalog_id: CatalogId, catalog: &Catalog) {
        {
            let mut indexed = self.indexed.lock();
            if !indexed.contains(&merchant) {
                if indexed.len() >= INDEXED_MERCHANTS_MAX {
                    tracing::debug!(%merchant, limit = INDEXED_MERCHANTS_MAX, "shop not indexed for search");
                    return;
                }
                indexed.push(merchant);
            }
        }
        let known = self.menus.lock().get(&catalog_id).cloned();
        let menu = match known {
            Some(menu) => menu,
            None => {
                let Ok(menu) = Menu::new(catalog.clone(), Vec::new()) else { return };
                let menu = Arc::new(menu);
                self.menus.lock().insert(catalog_id, Arc::clone(&menu));
                menu
            }
        };
        self.index(merchant, name.to_owned(), &menu);
    }

    /// The merchant's own description of an item (untrusted text), empty when none was uploaded.
    pub fn description(&self, catalog: CatalogId, item: lantern_core::ItemId) -> String {
        let menus = self.menus.lock();
        let extras = menus
            .get(&catalog)
            .and_then(|menu| menu.extras_of(item).map(|extras| extras.description.clone()));
        extras.unwrap_or_default()
    }

    /// Updates the lexicon now and queues the shop for the search index's next commit (made at
    /// once when the queue is full).
    fn index(&self, merchant: MerchantId, name: String, menu: &Arc<Menu>) {
        self.lexicon.write().upsert_merchant(merchant, &name, menu);
        let full = {
            let mut unsearched = self.unsearched.lock();
            // A shop queued twice (a menu upload after its registration) is indexed once, with
            // what came last.
            unsearched.retain(|shop| shop.merchant != merchant);
            unsearched.push(Unsearched { merchant, name, menu: Arc::clone(menu) });
            unsearched.len() >= SEARCH_BATCH_SHOPS_MAX
        };
        if full {
            self.commit_unsearched();
        }
    }
}
