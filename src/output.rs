//! The three outputs of a rated file (SPEC §7), published atomically.
//!
//! Each output is written to a hidden temp file next to its final name,
//! fsynced, then linked to the final name (which fails rather than replace
//! an existing file) and the folder fsynced. A reader sees a whole file or
//! none; a crash leaves at most a `.*.tmp` file behind, which nothing reads.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rows::Output;
/// The headers, now owned by [`crate::rows`]; kept here for old paths.
pub use crate::rows::{RATED_HEADER, REJECTED_HEADER};

/// The three output kinds' names ([`Output::as_str`]), in the order of
/// [`OutputFiles`] ([`Output::index`]).
pub const KINDS: [&str; 3] = [Output::Rated.as_str(), Output::Unrated.as_str(), Output::Rejected.as_str()];

/// Where a file's outputs go: `DIR/rated`, `DIR/unrated`, `DIR/rejected`.
#[derive(Debug, Clone)]
pub struct OutputDirs {
    /// Parent of the three folders.
    pub root: PathBuf,
}

impl OutputDirs {
    /// Creates the three folders if needed.
    pub fn create(root: &Path) -> io::Result<OutputDirs> {
        for k in KINDS {
            fs::create_dir_all(root.join(k))?;
        }
        Ok(OutputDirs { root: root.to_path_buf() })
    }

    fn path(&self, kind: &str, stem: &str, n: u32) -> PathBuf {
        let name = if n <= 1 { format!("{stem}.{kind}.csv") } else { format!("{stem}.{n}.{kind}.csv") };
        self.root.join(kind).join(name)
    }

    /// Where output `which` of stem `stem` is published when the stem is
    /// owned (no suffix): `DIR/rated/STEM.rated.csv` and so on. For readers
    /// of a published output (the daemon, `state rebuild`).
    pub fn output_path(&self, which: Output, stem: &str) -> PathBuf {
        self.path(which.as_str(), stem, 1)
    }

    /// The first suffix `n` (1 = none) for which none of the three names is taken.
    pub fn free_suffix(&self, stem: &str) -> u32 {
        (1..).find(|&n| KINDS.iter().all(|k| !self.path(k, stem, n).exists())).unwrap_or(1)
    }
}

/// The output stem of an input name: the name without `.gz` and `.csv`,
/// reduced to characters that are safe in a file name.
pub fn stem_of(input_name: &str) -> String {
    let mut s = input_name;
    for ext in [".gz", ".zst", ".csv", ".CSV"] {
        s = s.strip_suffix(ext).unwrap_or(s);
    }
    let safe: String = s
        .chars()
        .map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '@') { c } else { '_' })
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        "input".to_string()
    } else {
        safe.to_string()
    }
}

/// A file being written under a temp name.
pub struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
    replace: bool,
    /// Bytes written so far, and up to where write-back has been started.
    written: u64,
    flushed: u64,
}

/// Numbers the temp files of this process (with the process id in the
/// name, unique on the file system). A counter, not shared state: it only
/// ever hands out the next number, guards nothing and needs no lock, so it
/// stays process-wide rather than per [`OutputDirs`] (temp files are also
/// made outside any, e.g. the IDS snapshot).
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Start write-back of every this many bytes while writing, so the final
/// fsync has little left to do.
const WRITEBACK_BYTES: u64 = 16 << 20;

impl AtomicFile {
    /// Starts writing what will become `target`, which must not exist when
    /// it is published. The temp file is hidden next to the target.
    pub fn create(target: PathBuf) -> io::Result<AtomicFile> {
        let dir = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        AtomicFile::create_in(&dir, target, false)
    }

    /// Starts writing what will become `target`, with the temp file in
    /// `tmp_dir` (same file system). With `replace`, publishing replaces an
    /// existing target: only for a redo of the input that owns the name.
    pub fn create_in(tmp_dir: &Path, target: PathBuf, replace: bool) -> io::Result<AtomicFile> {
        let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
        // Unique per open: sources may publish outputs of the same name at once.
        let seq = TEMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let tmp = tmp_dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
        let file = File::create(&tmp)?;
        Ok(AtomicFile { tmp, target, file: Some(file), replace, written: 0, flushed: 0 })
    }

    /// Appends bytes.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(f) = &mut self.file else { return Err(io::Error::other("file already published")) };
        f.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if self.written - self.flushed >= WRITEBACK_BYTES {
            start_writeback(f, self.flushed, self.written - self.flushed);
            self.flushed = self.written;
        }
        Ok(())
    }

    /// fsyncs, then links the temp file to its final name without replacing
    /// anything, and removes the temp name.
    pub fn publish(mut self) -> io::Result<PathBuf> {
        let file = self.file.take().ok_or_else(|| io::Error::other("file already published"))?;
        file.sync_all()?;
        drop(file);
        if self.replace {
            fs::rename(&self.tmp, &self.target)?;
        } else {
            fs::hard_link(&self.tmp, &self.target)?;
            fs::remove_file(&self.tmp)?;
        }
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Asks the kernel to start writing a range to disk without waiting for it
/// (Linux `sync_file_range(SYNC_FILE_RANGE_WRITE)`); the fsync at publish
/// still makes it durable. A hint only: failures are ignored.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain system call on a file descriptor we own; it reads
        // no memory of ours.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// fsyncs a folder so that renames and links in it survive a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Where the published outputs of one file went.
#[derive(Debug, Clone)]
pub struct Published {
    /// `rated/...`, `unrated/...`, `rejected/...`.
    pub paths: [PathBuf; 3],
}

/// The rated, unrated and rejected files of one input.
pub struct OutputFiles {
    files: [AtomicFile; 3],
}

impl OutputFiles {
    /// Opens the three temp files for input stem `stem` under the first free suffix.
    pub fn create(dirs: &OutputDirs, stem: &str) -> io::Result<OutputFiles> {
        let n = dirs.free_suffix(stem);
        let [a, b, c] = KINDS.map(|k| dirs.path(k, stem, n));
        Ok(OutputFiles { files: [AtomicFile::create(a)?, AtomicFile::create(b)?, AtomicFile::create(c)?] })
    }

    /// Whether any of the three outputs of `stem` exists.
    pub fn taken(dirs: &OutputDirs, stem: &str) -> bool {
        KINDS.iter().any(|k| dirs.path(k, stem, 1).exists())
    }

    /// Opens the three temp files for a stem the caller owns (the daemon's
    /// ledger reserved it): temps in `tmp_dir`, publishing replaces.
    pub fn create_owned(dirs: &OutputDirs, tmp_dir: &Path, stem: &str) -> io::Result<OutputFiles> {
        let [a, b, c] = Output::ALL.map(|o| dirs.output_path(o, stem));
        Ok(OutputFiles {
            files: [
                AtomicFile::create_in(tmp_dir, a, true)?,
                AtomicFile::create_in(tmp_dir, b, true)?,
                AtomicFile::create_in(tmp_dir, c, true)?,
            ],
        })
    }

    /// Publishes all three, then fsyncs their folders.
    pub fn publish(self) -> io::Result<Published> {
        let mut paths: [PathBuf; 3] = Default::default();
        for (slot, f) in paths.iter_mut().zip(self.files) {
            *slot = f.publish()?;
        }
        for p in &paths {
            if let Some(dir) = p.parent() {
                sync_dir(dir)?;
            }
        }
        Ok(Published { paths })
    }
}

impl crate::rows::Sink for OutputFiles {
    fn write(&mut self, which: Output, bytes: &[u8]) -> io::Result<()> {
        self.files[which.index()].write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_safe() {
        assert_eq!(stem_of("Master.csv"), "Master");
        assert_eq!(stem_of("calls-2026-11-24.csv.gz"), "calls-2026-11-24");
        assert_eq!(stem_of("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(stem_of(".hidden"), "hidden");
        assert_eq!(stem_of(""), "input");
    }

    #[test]
    fn publish_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = OutputDirs::create(dir.path()).unwrap();
        for round in 1..=3 {
            let mut out = OutputFiles::create(&dirs, "Master").unwrap();
            crate::rows::Sink::write(&mut out, Output::Rated, format!("round {round}\n").as_bytes()).unwrap();
            let p = out.publish().unwrap();
            let want = if round == 1 { "Master.rated.csv".to_string() } else { format!("Master.{round}.rated.csv") };
            assert_eq!(p.paths[0].file_name().unwrap().to_str().unwrap(), want);
            if round == 1 {
                assert_eq!(p.paths[0], dirs.output_path(Output::Rated, "Master"));
            }
            assert_eq!(fs::read_to_string(&p.paths[0]).unwrap(), format!("round {round}\n"));
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("rated"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with('.'))
            .collect();
        assert!(leftovers.is_empty());
    }
}
