//! The one exit-code rule: 0 ok, 1 a runtime failure, 2 [`Invalid`] (bad
//! usage, configuration or tariff tables). Lives below `commands` and
//! `daemon` so that both can say "the operator's input is wrong" without
//! one depending on the other; `main` maps it.

/// An error in what the operator gave us (configuration, tariffs, usage): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);
