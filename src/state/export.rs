//! What `cdr-rater store copy` reads of the embedded store, whole: every
//! stem with its owner (reserved ones included), every usage row and the
//! invoice sequence (the rest the [`super::Ledger`] interface reads).

#![allow(clippy::result_large_err)]

use redb::ReadableTable;

use super::redb_ledger::STEMS;
use super::{usage_store, ContentKey, RedbLedger, StateError};
use crate::billing::{Sums, UsageKey};

/// The embedded store's state beyond the [`super::Ledger`] interface.
#[derive(Debug, Default)]
pub struct Export {
    /// Every output stem and its owner.
    pub stems: Vec<(String, ContentKey)>,
    /// Every usage row.
    pub usage: Vec<(UsageKey, Sums)>,
    /// The next invoice number, when any month was closed.
    pub next_invoice: Option<u64>,
}

impl RedbLedger {
    /// Reads the stems, usage rows and invoice sequence.
    pub fn export(&self) -> Result<Export, StateError> {
        self.with_db(|db| {
            let txn = db.begin_read()?;
            let mut stems = Vec::new();
            for item in txn.open_table(STEMS)?.iter()? {
                let (k, v) = item?;
                let mut key = [0u8; 16];
                if v.value().len() == 16 {
                    key.copy_from_slice(v.value());
                }
                stems.push((k.value().to_string(), ContentKey(key)));
            }
            Ok(Export { stems, usage: usage_store::read_all(db)?, next_invoice: usage_store::next_invoice(db)? })
        })
    }
}
