//! The daemon's file lifecycle on disk (SPEC §8).
//!
//! ```text
//! incoming/NAME --claim--> .claimed/SEQ-NAME --rate--> rated/ unrated/ rejected/
//!                                 |                    (temps in .tmp/, renamed in)
//!                                 +--ledger: done--> archive/NAME     (or failed/NAME + NAME.reason)
//! ```
//!
//! Each step is a rename or a durable ledger commit, so a crash at any
//! instant leaves the file in exactly one place, and [`process::Processor`]
//! can finish or redo it on restart without rating any row twice.

pub mod process;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::output::{sync_dir, OutputDirs};

/// The spool folders of one source.
#[derive(Debug, Clone)]
pub struct Spool {
    /// The source's name when there are several: its files' archive,
    /// failed and claimed folders and its output names are in a
    /// sub-folder of that name (`rated/NAME/...`).
    pub source: Option<String>,
    /// Root of the spool.
    pub root: PathBuf,
    /// Where switches drop files.
    pub incoming: PathBuf,
    /// Inputs after rating.
    pub archive: PathBuf,
    /// Inputs that could not be read, each with a `.reason` file.
    pub failed: PathBuf,
    /// Claimed inputs being rated (hidden from operators and watchers).
    pub claimed: PathBuf,
    /// Output temp files (same file system as the outputs).
    pub tmp: PathBuf,
    /// `rated/ unrated/ rejected/`.
    pub outputs: OutputDirs,
    /// Choosing a free name in `archive/` or `failed/` and renaming to it is
    /// one step for every worker (clones share it).
    naming: std::sync::Arc<std::sync::Mutex<()>>,
}

/// What is in `incoming/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file with its size and modification time.
    File {
        /// Full path.
        path: PathBuf,
        /// Size in bytes.
        size: u64,
        /// Last modification.
        modified: SystemTime,
    },
    /// Something that is not a regular file (symlink, fifo, folder, ...):
    /// never followed or read.
    Irregular {
        /// Full path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
}

/// Names a switch writes while a file is incomplete, and hidden files.
pub fn ignored_name(name: &str) -> bool {
    name.starts_with('.') || name.ends_with(".tmp") || name.ends_with(".part")
}

impl Spool {
    /// Opens the spool under `root` for files of the folder `incoming`,
    /// creating every folder.
    pub fn open(root: &Path, incoming: &Path) -> io::Result<Spool> {
        Spool::open_source(root, incoming, None)
    }

    /// Opens the spool of a named source (see [`Spool::source`]); `source`
    /// must be a safe folder name (the configuration checks it).
    pub fn open_source(root: &Path, incoming: &Path, source: Option<&str>) -> io::Result<Spool> {
        let sub = |dir: PathBuf| match source {
            Some(s) => dir.join(s),
            None => dir,
        };
        let spool = Spool {
            source: source.map(str::to_string),
            root: root.to_path_buf(),
            incoming: incoming.to_path_buf(),
            archive: sub(root.join("archive")),
            failed: sub(root.join("failed")),
            claimed: sub(root.join(".claimed")),
            tmp: root.join(".tmp"),
            outputs: OutputDirs::create(root)?,
            naming: Default::default(),
        };
        for d in [&spool.incoming, &spool.archive, &spool.failed, &spool.claimed, &spool.tmp] {
            fs::create_dir_all(d)?;
        }
        if let Some(s) = source {
            for kind in crate::output::KINDS {
                fs::create_dir_all(root.join(kind).join(s))?;
            }
        }
        Ok(spool)
    }

    /// The output stem an input named `name` asks for: `stem_of(name)`,
    /// under the source's sub-folder when the source has a name.
    pub fn stem_base(&self, name: &str) -> String {
        let stem = crate::output::stem_of(name);
        match &self.source {
            Some(s) => format!("{s}/{stem}"),
            None => stem,
        }
    }

    /// Lists `incoming/` (ignored names left out), without following links.
    pub fn scan_incoming(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.incoming)? {
            let e = e?;
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                out.push(Entry::Irregular { path: e.path(), what: "a file whose name is not UTF-8" });
                continue;
            };
            if ignored_name(&name) {
                continue;
            }
            if let Some(entry) = self.classify(&e.path())? {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Looks at one path in `incoming/` without following links.
    pub fn classify(&self, path: &Path) -> io::Result<Option<Entry>> {
        let meta = match fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let t = meta.file_type();
        let what = if t.is_file() {
            return Ok(Some(Entry::File {
                path: path.to_path_buf(),
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            }));
        } else if t.is_symlink() {
            "a symbolic link"
        } else if t.is_dir() {
            "a folder"
        } else {
            "not a regular file (fifo, socket or device)"
        };
        Ok(Some(Entry::Irregular { path: path.to_path_buf(), what }))
    }

    /// Moves `path` to `failed/` (under a free name) with a `.reason` file.
    pub fn fail(&self, path: &Path, reason: &str) -> io::Result<PathBuf> {
        let _guard = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("input");
        let name = original_name(name);
        let target = free_name(&self.failed, name, |p| present(p) || present(&reason_path(p)));
        // The reason first: when the disk is full, the file stays claimed
        // (and is tried again) instead of landing in failed/ without one.
        let mut why = reason.trim_end().to_string();
        why.push('\n');
        let reason_file = reason_path(&target);
        if let Err(e) = fs::write(&reason_file, why).and_then(|()| fs::File::open(&reason_file)?.sync_all()) {
            let _ = fs::remove_file(&reason_file);
            return Err(e);
        }
        fs::rename(path, &target)?;
        sync_dir(&self.failed)?;
        Ok(target)
    }

    /// Claims a file: renames it out of `incoming/` into the work folder
    /// under a unique name. `None` when it is gone (taken already).
    pub fn claim(&self, path: &Path) -> io::Result<Option<PathBuf>> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("input");
        let seq = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let target = self.claimed.join(format!("{seq}-{name}"));
        match fs::rename(path, &target) {
            Ok(()) => {
                sync_dir(&self.claimed)?;
                Ok(Some(target))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Claimed files left by an earlier run (or a failed attempt), oldest first.
    pub fn leftover_claims(&self) -> io::Result<Vec<PathBuf>> {
        let mut v: Vec<PathBuf> = fs::read_dir(&self.claimed)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        Ok(v)
    }

    /// Removes output temp files of an interrupted run.
    pub fn clean_tmp(&self) -> io::Result<usize> {
        let mut n = 0;
        for e in fs::read_dir(&self.tmp)? {
            fs::remove_file(e?.path())?;
            n += 1;
        }
        Ok(n)
    }

    /// Moves a claimed input to `archive/` under its original name (or the
    /// first free `NAME.N`).
    pub fn archive(&self, claimed: &Path) -> io::Result<PathBuf> {
        let _guard = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        let name = claimed.file_name().and_then(|n| n.to_str()).unwrap_or("input");
        let target = free_name(&self.archive, original_name(name), present);
        fs::rename(claimed, &target)?;
        sync_dir(&self.archive)?;
        Ok(target)
    }
}

fn reason_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".reason");
    PathBuf::from(s)
}

/// Whether anything (a dangling link too) is at `path`.
fn present(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `dir/name`, or `dir/name.2`, `dir/name.3`, ... whichever is free.
fn free_name(dir: &Path, name: &str, taken: impl Fn(&Path) -> bool) -> PathBuf {
    let mut candidate = dir.join(name);
    let mut n = 2;
    while taken(&candidate) {
        candidate = dir.join(format!("{name}.{n}"));
        n += 1;
    }
    candidate
}

/// The name a claimed file had in `incoming/` (`SEQ-NAME` -> `NAME`).
pub fn original_name(claimed: &str) -> &str {
    match claimed.split_once('-') {
        Some((seq, rest)) if !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => claimed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_moves_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), &dir.path().join("incoming")).unwrap();
        fs::write(spool.incoming.join("Master.csv"), b"x").unwrap();
        fs::write(spool.incoming.join(".hidden"), b"x").unwrap();
        fs::write(spool.incoming.join("part.csv.part"), b"x").unwrap();
        fs::create_dir(spool.incoming.join("sub")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", spool.incoming.join("link.csv")).unwrap();
        let mut entries = spool.scan_incoming().unwrap();
        entries.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(entries.len(), 3);
        let irregular: Vec<&str> = entries
            .iter()
            .filter_map(|e| if let Entry::Irregular { what, .. } = e { Some(*what) } else { None })
            .collect();
        assert_eq!(irregular.len(), 2);

        let claimed = spool.claim(&spool.incoming.join("Master.csv")).unwrap().unwrap();
        assert!(spool.claim(&spool.incoming.join("Master.csv")).unwrap().is_none());
        assert_eq!(original_name(claimed.file_name().unwrap().to_str().unwrap()), "Master.csv");
        assert_eq!(spool.archive(&claimed).unwrap(), spool.archive.join("Master.csv"));
        fs::write(spool.incoming.join("Master.csv"), b"y").unwrap();
        let claimed = spool.claim(&spool.incoming.join("Master.csv")).unwrap().unwrap();
        assert_eq!(spool.archive(&claimed).unwrap(), spool.archive.join("Master.csv.2"));

        let failed = spool.fail(&spool.incoming.join("link.csv"), "a symbolic link").unwrap();
        assert!(fs::symlink_metadata(&failed).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(reason_path(&failed)).unwrap(), "a symbolic link\n");
    }
}
