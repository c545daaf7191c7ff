//! One stretch of time with one set of tables in force (SPEC §3.5): the
//! deck, the plans priced against it, the customers and the number blocks.
//!
//! Epochs share what did not change between them (`Arc`s): a new plan
//! version on the 1st does not copy a 100k-prefix deck.

use std::sync::Arc;

use super::hugemem::HugeSlice;
use super::idindex::IdIndex;
use super::trie::PrefixTrie;
use super::{DestHot, Destination, Plan};

/// `Epoch::plan_of` for a customer the epoch's customers version does not list.
pub const NO_PLAN: u32 = u32::MAX;

/// A wholesale deck version, indexed.
#[derive(Debug)]
pub struct Deck {
    /// Wholesale rows; indexes are the trie's values.
    pub destinations: Vec<Destination>,
    /// Hot part of each destination, same indexes.
    pub(super) hot: HugeSlice<DestHot>,
    /// CSV fragments of every destination, back to back.
    pub(super) csv_arena: Box<[u8]>,
    /// Wholesale prefixes.
    pub(super) trie: PrefixTrie,
    /// The file it was read from, relative to the rates folder (empty: none
    /// in force, an empty deck).
    pub file: String,
}

impl Deck {
    /// The wholesale destination of the longest prefix of `number`.
    #[inline]
    pub fn destination(&self, number: &[u8]) -> Option<u32> {
        self.trie.longest_match(number).map(|(v, _)| v)
    }

    /// The wholesale prefixes (values: destination indexes).
    #[inline]
    pub fn trie(&self) -> &PrefixTrie {
        &self.trie
    }

    /// Brings destination `d`'s hot record into the cache.
    #[inline]
    pub fn prefetch_hot(&self, d: u32) {
        if let Some(hot) = self.hot.get(d as usize) {
            super::hugemem::prefetch(hot);
        }
    }

    /// Brings destination `d`'s CSV fragment into the cache.
    #[inline]
    pub fn prefetch_csv(&self, d: u32) {
        if let Some(at) = self.hot.get(d as usize).and_then(|h| self.csv_arena.get(h.csv.0 as usize)) {
            super::hugemem::prefetch(at);
        }
    }

    /// The hot record of destination `d`.
    #[inline]
    pub fn hot(&self, d: u32) -> &DestHot {
        &self.hot[d as usize]
    }

    /// `prefix,name,country,kind` of destination `d` as CSV.
    #[inline]
    pub fn destination_csv(&self, d: u32) -> &[u8] {
        let (at, len) = self.hot[d as usize].csv;
        &self.csv_arena[at as usize..(at + len) as usize]
    }

    /// Number of wholesale prefixes.
    pub fn prefix_count(&self) -> usize {
        self.trie.len()
    }
}

/// A customers version: which customers exist and on which plan.
#[derive(Debug, Default)]
pub struct CustomerVersion {
    /// Plan index per customer index; [`NO_PLAN`] when not listed.
    pub(super) plan_of: Vec<u32>,
    /// Id to customer index, for the customers listed.
    pub(super) ids: IdIndex,
    /// The file (empty: none in force).
    pub(super) file: String,
}

/// A number blocks version.
#[derive(Debug, Default)]
pub struct NumberVersion {
    /// Number blocks to customer index.
    pub(super) trie: PrefixTrie,
    /// Blocks as written: (prefix, customer index).
    pub(super) blocks: Vec<(String, u32)>,
    /// The file (empty: none in force).
    pub(super) file: String,
}

/// The tables in force from `from` until the next epoch.
#[derive(Debug, Clone)]
pub struct Epoch {
    /// Start, epoch seconds (`i64::MIN`: since always).
    pub from: i64,
    /// The deck in force.
    pub deck: Arc<Deck>,
    /// The plans in force, by plan index (`None`: no version yet).
    pub plans: Vec<Option<Arc<Plan>>>,
    /// The customers in force.
    pub(super) customers: Arc<CustomerVersion>,
    /// The number blocks in force.
    pub(super) numbers: Arc<NumberVersion>,
}

impl Epoch {
    /// The customer with this id, if this epoch's customers list it.
    #[inline]
    pub fn customer_by_id(&self, id: &[u8]) -> Option<u32> {
        self.customers.ids.get(id)
    }

    /// Brings the start of `id`'s lookup into the cache.
    #[inline]
    pub fn prefetch_customer(&self, id: &[u8]) {
        self.customers.ids.prefetch(id);
    }

    /// The customer owning the longest number block that prefixes `number`.
    #[inline]
    pub fn customer_by_number(&self, number: &[u8]) -> Option<u32> {
        self.numbers.trie.longest_match(number).map(|(v, _)| v)
    }

    /// The number blocks (values: customer indexes), as
    /// [`Epoch::customer_by_number`] walks them.
    #[inline]
    pub fn number_trie(&self) -> &PrefixTrie {
        &self.numbers.trie
    }

    /// Customer `c`'s plan index here ([`NO_PLAN`] when not listed).
    #[inline]
    pub fn plan_of(&self, c: u32) -> u32 {
        self.customers.plan_of.get(c as usize).copied().unwrap_or(NO_PLAN)
    }

    /// Plan `p` in force here. Panics when none is: only called with the
    /// plan of a listed customer, which validation keeps in force.
    #[inline]
    pub fn plan(&self, p: u32) -> &Plan {
        self.plans[p as usize].as_deref().expect("a listed customer's plan is in force")
    }

    /// Number blocks as written: (prefix, customer index).
    pub fn number_blocks(&self) -> &[(String, u32)] {
        &self.numbers.blocks
    }

    /// The files in force, relative to the rates folder.
    pub fn files(&self) -> Vec<&str> {
        let mut v = vec![self.deck.file.as_str()];
        v.extend(self.plans.iter().flatten().map(|p| p.file.as_str()));
        v.push(&self.customers.file);
        v.push(&self.numbers.file);
        v.retain(|f| !f.is_empty());
        v
    }
}
