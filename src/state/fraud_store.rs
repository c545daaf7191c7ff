//! The fraud states in the embedded store: a snapshot per customer and a
//! log of each file's changes ([`crate::fraud::Delta`]), written in the
//! file's own transaction. A file costs one log entry whatever the size of
//! the states it touches; every [`CHECKPOINT_EVERY`] files the states the
//! log changed are written whole and the log emptied, in the same
//! transaction as that file.
//!
//! The states live in memory (every customer's, read once: snapshots, then
//! the log replayed with the same code that made it), and are handed to
//! the judgement and back with the commit.

// redb's own (large) error type is kept, as in `redb_ledger`.
#![allow(clippy::result_large_err)]

use std::collections::HashSet;

use redb::{ReadableTable, TableDefinition, WriteTransaction};

use crate::fraud::{delta, CustomerState};

/// Customer id -> [`CustomerState::encode`]: the snapshots.
pub(super) const FRAUD: TableDefinition<&str, &[u8]> = TableDefinition::new("fraud");
/// Sequence number -> [`delta::encode_batch`] of one file's changes.
pub(super) const FRAUD_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("fraud_log");

/// Files between checkpoints: the log replayed at start is at most this long.
pub const CHECKPOINT_EVERY: u64 = 64;

/// What a file changed in the fraud states: each customer's new state, and
/// the changes as one log entry ([`crate::fraud::BatchWriter`]).
#[derive(Debug, Default)]
pub struct FraudCommit<'a> {
    /// Customer id and state after the file, for every customer judged.
    pub states: Vec<(&'a str, CustomerState)>,
    /// The encoded changes (empty when no customer was judged).
    pub log: &'a [u8],
}

/// A customer's state in memory.
#[derive(Debug)]
enum Slot {
    /// As committed.
    Here(CustomerState),
    /// Handed to a judgement that has not committed it back (yet).
    Out,
}

/// Every customer's committed state, in memory.
#[derive(Debug, Default)]
pub(super) struct FraudStates {
    /// Read from the store (snapshots and log) since the last reopen.
    loaded: bool,
    /// By customer id; absent = empty.
    states: hashbrown::HashMap<String, Slot>,
    /// States handed out and not yet given back.
    out: usize,
    /// Whether the write being committed is a checkpoint.
    checkpoint: bool,
    /// Entries in the log.
    log_len: u64,
    /// The next log entry's key.
    next_seq: u64,
    /// The last encoded batch, kept for its memory.
    scratch: Vec<u8>,
}

/// A state that does not decode: reported like redb's own corruption.
fn corrupt(e: crate::fraud::StateDecodeError) -> redb::Error {
    redb::Error::Corrupted(format!("a fraud state does not decode: {e}"))
}

impl FraudStates {
    /// Forgets everything (the store is read again at the next use).
    pub(super) fn clear(&mut self) {
        *self = FraudStates { scratch: std::mem::take(&mut self.scratch), ..FraudStates::default() };
    }

    /// Reads every state from the store unless it is read already.
    pub(super) fn load(&mut self, db: &redb::Database) -> Result<(), redb::Error> {
        if self.loaded {
            return Ok(());
        }
        self.clear();
        let txn = db.begin_read()?;
        for item in txn.open_table(FRAUD)?.iter()? {
            let (k, v) = item?;
            let state = CustomerState::decode(v.value()).map_err(corrupt)?;
            self.states.insert(k.value().to_string(), Slot::Here(state));
        }
        for item in txn.open_table(FRAUD_LOG)?.iter()? {
            let (k, v) = item?;
            for (customer, d) in delta::decode_batch(v.value()).map_err(corrupt)? {
                let slot = self.states.entry(customer).or_insert_with(|| Slot::Here(CustomerState::default()));
                if let Slot::Here(state) = slot {
                    d.apply(state);
                }
            }
            self.log_len += 1;
            self.next_seq = k.value() + 1;
        }
        self.loaded = true;
        Ok(())
    }

    /// Hands customers' states over for a judgement. A state that was
    /// handed over before and never given back (its file failed) makes
    /// everything be read again from the store first (rare).
    pub(super) fn take(&mut self, db: &redb::Database, customers: &[&str]) -> Result<Vec<CustomerState>, redb::Error> {
        self.load(db)?;
        if self.out > 0 {
            self.loaded = false;
            self.load(db)?;
        }
        let mut out = Vec::with_capacity(customers.len());
        for &customer in customers {
            let state = match self.states.get_mut(customer) {
                Some(slot) => match std::mem::replace(slot, Slot::Out) {
                    Slot::Here(state) => state,
                    Slot::Out => CustomerState::default(),
                },
                None => {
                    self.states.insert(customer.to_string(), Slot::Out);
                    CustomerState::default()
                }
            };
            self.out += 1;
            out.push(state);
        }
        Ok(out)
    }

    /// Writes a file's changes into `txn`: a log entry, or every [`CHECKPOINT_EVERY`]
    /// files a checkpoint (every state whole, the log emptied). Call
    /// [`FraudStates::committed`] once `txn` is committed.
    pub(super) fn write(&mut self, txn: &WriteTransaction, commit: &FraudCommit<'_>) -> Result<(), redb::Error> {
        self.checkpoint = false;
        if commit.states.is_empty() {
            return Ok(());
        }
        // Every state out is given back now: the memory is whole.
        self.checkpoint = self.log_len + 1 >= CHECKPOINT_EVERY && self.out == commit.states.len();
        if !self.checkpoint {
            txn.open_table(FRAUD_LOG)?.insert(self.next_seq, commit.log)?;
            return Ok(());
        }
        let mut table = txn.open_table(FRAUD)?;
        for (customer, state) in &commit.states {
            write_snapshot(&mut table, customer, state, &mut self.scratch)?;
        }
        let given: HashSet<&str> = commit.states.iter().map(|s| s.0).collect();
        for (customer, slot) in &self.states {
            if let (Slot::Here(state), false) = (slot, given.contains(customer.as_str())) {
                write_snapshot(&mut table, customer, state, &mut self.scratch)?;
            }
        }
        txn.open_table(FRAUD_LOG)?.retain(|_, _| false)?;
        Ok(())
    }

    /// After the commit of [`FraudStates::write`]: the new states are the
    /// committed ones.
    pub(super) fn committed(&mut self, commit: FraudCommit<'_>) {
        if commit.states.is_empty() {
            return;
        }
        if self.checkpoint {
            self.log_len = 0;
        } else {
            self.log_len += 1;
            self.next_seq += 1;
        }
        for (customer, state) in commit.states {
            match self.states.get_mut(customer) {
                Some(slot) => {
                    if matches!(slot, Slot::Out) {
                        self.out -= 1;
                    }
                    *slot = Slot::Here(state);
                }
                None => {
                    self.states.insert(customer.to_string(), Slot::Here(state));
                }
            }
        }
    }

    /// Every customer's committed state, read from the store (not the
    /// memory: a judgement may hold some).
    pub(super) fn read_all(db: &redb::Database) -> Result<Vec<(String, CustomerState)>, redb::Error> {
        let mut fresh = FraudStates::default();
        fresh.load(db)?;
        let mut out: Vec<(String, CustomerState)> = fresh
            .states
            .into_iter()
            .filter_map(|(k, s)| match s {
                Slot::Here(s) if !s.is_empty() => Some((k, s)),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Stores one snapshot (an empty state as no row).
fn write_snapshot(
    table: &mut redb::Table<&str, &[u8]>,
    customer: &str,
    state: &CustomerState,
    bytes: &mut Vec<u8>,
) -> Result<(), redb::Error> {
    if state.is_empty() {
        table.remove(customer)?;
    } else {
        state.encode_into(bytes);
        table.insert(customer, bytes.as_slice())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{ContentKey, Ledger, RedbLedger};
    use super::*;
    use crate::fraud::{Change, Delta};

    /// One file's commit: every customer gets the start `t` (and A a fired mark).
    fn commit_file(l: &RedbLedger, n: u64) {
        let key = ContentKey::of(&n.to_be_bytes());
        let record = l.begin(&key, &format!("f{n}"), "x", &format!("f{n}"), &|_| true).unwrap();
        let names = ["A", "B"];
        let mut states = l.fraud_states(&names).unwrap();
        let t = 1_790_000_000 + n as i64;
        let mut log = crate::fraud::BatchWriter::default();
        log.start();
        for (name, state) in names.iter().zip(&mut states) {
            let mut d = Delta {
                days: state.days.clone(),
                starts: Change::Edit { added: vec![t], dropped: vec![] },
                foreign: Change::Clear,
            };
            if *name == "A" {
                d.days.entry(20_000 + n as i64 % 3).or_default().fired |= 1;
            }
            d.apply(state);
            let mut one = Vec::new();
            crate::fraud::delta::encode_batch([(*name, &d)], &mut one);
            log.bytes.extend_from_slice(&one[1..]);
        }
        let commit = FraudCommit { states: names.iter().copied().zip(states).collect(), log: &log.bytes };
        l.finish_with(&key, &record, Vec::new(), commit, Default::default()).unwrap();
    }

    #[test]
    fn the_log_and_its_checkpoints_read_back_as_the_states_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.redb");
        let l = RedbLedger::open(&path).unwrap();
        for n in 0..CHECKPOINT_EVERY + 5 {
            commit_file(&l, n);
            let stored = l.all_fraud_states().unwrap();
            assert_eq!(stored.len(), 2);
            assert_eq!(stored[1].1.starts.len() as u64, n + 1, "B after file {n}");
        }
        let before = l.all_fraud_states().unwrap();
        // A judgement that never commits: the next one reads the committed states.
        let taken = l.fraud_states(&["A"]).unwrap();
        assert_eq!(taken, vec![before[0].1.clone()]);
        assert_eq!(l.fraud_states(&["A", "B"]).unwrap(), vec![before[0].1.clone(), before[1].1.clone()]);
        drop(l);
        let l = RedbLedger::open(&path).unwrap();
        assert_eq!(l.all_fraud_states().unwrap(), before);
        assert_eq!(l.fraud_states(&["B", "C"]).unwrap(), vec![before[1].1.clone(), CustomerState::default()]);
    }
}
