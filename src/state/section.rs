//! A file's commit section in the store ([`super::Ledger::section`]): what
//! holds the shared store's row locks from the read of the customers' state
//! to the file's commit, and gives them up when the file fails.

/// The store's part of one file's commit: dropped without a commit, it
/// gives up what it holds (the shared store rolls back and unlocks).
#[must_use = "the section ends when it is dropped"]
pub struct Section<'a> {
    /// Run once when the section is dropped.
    end: Option<Box<dyn FnOnce() + 'a>>,
}

impl<'a> Section<'a> {
    /// A section with nothing to give up (the embedded store).
    pub fn none() -> Section<'a> {
        Section { end: None }
    }

    /// A section that runs `end` when dropped.
    pub fn new(end: impl FnOnce() + 'a) -> Section<'a> {
        Section { end: Some(Box::new(end)) }
    }
}

impl Drop for Section<'_> {
    fn drop(&mut self) {
        if let Some(end) = self.end.take() {
            end();
        }
    }
}

impl std::fmt::Debug for Section<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Section").field("open", &self.end.is_some()).finish()
    }
}
