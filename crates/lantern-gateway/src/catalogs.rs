//! What the gateway knows about menus beyond the ledger: the search index and the agent's
//! lexicon over every shop's items, with the display extras (aliases, descriptions) the ledger
//! does not keep. Rebuilt from the ledger at start (extras then empty until the next upload)
//! and updated when a menu is uploaded or a shop registered.

use std::sync::Arc;

use lantern_catalog_io::Menu;
use lantern_core::{Catalog, CatalogId, MerchantId};
use lantern_ledger::Ledger;
use lantern_nlu::Lexicon;
use lantern_search::SearchIndex;
use lantern_sequencer::SequencerHandle;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;

/// Most shops indexed for search and chat. Outlets of a chain share a menu, so past this the
/// chain's first outlets stand for it (a surge profile registers 300,000 outlets; indexing the
/// same menu 300,000 times would take minutes and gigabytes for no better answer).
pub const INDEXED_MERCHANTS_MAX: usize = 2_000;

/// The search index and the lexicon, kept in step.
#[derive(Debug)]
pub struct Catalogs {
    pub search: RwLock<SearchIndex>,
    pub lexicon: Arc<RwLock<Lexicon>>,
    /// Each published menu with its extras, by catalog.
    menus: Mutex<FxHashMap<CatalogId, Arc<Menu>>>,
    indexed: Mutex<Vec<MerchantId>>,
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
        };
        for merchant in ledger.merchant_ids() {
            let Some((shop, ..)) = ledger.merchant(merchant) else { continue };
            let Some(catalog) = ledger.catalog(shop.catalog) else { continue };
            catalogs.register(merchant, shop.name(), shop.catalog, catalog);
        }
        catalogs
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
            self.index(merchant, &name, &menu);
        }
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
        self.index(merchant, name, &menu);
    }

    /// The merchant's own description of an item (untrusted text), empty when none was uploaded.
    pub fn description(&self, catalog: CatalogId, item: lantern_core::ItemId) -> String {
        let menus = self.menus.lock();
        let extras = menus
            .get(&catalog)
            .and_then(|menu| menu.extras_of(item).map(|extras| extras.description.clone()));
        extras.unwrap_or_default()
    }

    fn index(&self, merchant: MerchantId, name: &str, menu: &Menu) {
        if let Err(error) = self.search.write().upsert_menu(merchant, name, menu) {
            tracing::warn!(%merchant, %error, "menu not indexed for search");
        }
        self.lexicon.write().upsert_merchant(merchant, name, menu);
    }
}
