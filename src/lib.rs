//! cdr-rater: rates telecom CDR files against prefix-trie tariff tables.
//!
//! The code map and the invariants are in `ARCHITECTURE.md`. In short:
//!
//! - [`tariff`] turns `rates/` into an immutable [`tariff::Tariff`] with every
//!   sell price resolved ahead of time.
//! - [`formats`] turns one CSV record into a [`formats::Call`] (pure).
//! - [`rating`] prices one call (pure, no allocation).
//! - [`pipeline`] rates a file in parallel chunks and writes its outputs in
//!   input order; [`output`] publishes them atomically.
//!
//! Invariants: every input row ends up in exactly one of the rated, unrated
//! and rejected outputs; money is exact decimal; results do not depend on
//! the thread count or chunk size.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod alerts;
pub mod billing;
pub mod cli;
pub mod commands;
pub mod config;
pub mod csvscan;
pub mod daemon;
pub mod exit;
pub mod formats;
pub mod fraud;
pub mod fraud_job;
pub mod generate;
pub mod ids;
pub mod input;
pub mod invoicing;
pub mod job;
pub mod money;
pub mod numbers;
pub mod outbox;
pub mod output;
pub mod pipeline;
pub mod rating;
pub mod rerate;
pub mod rows;
pub mod spool;
pub mod state;
pub mod suggest;
pub mod tariff;
pub mod telemetry;
pub mod timefmt;
pub mod totals;
