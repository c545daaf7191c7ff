//! Opening an input file: mapped when plain, streamed when compressed or piped.
//!
//! The daemon's inputs come from switches it does not trust, through a folder
//! they can write. [`open_regular`] opens a claimed entry once, without
//! following a link and without blocking on a FIFO, and checks on that handle
//! that it is a regular file; [`key_of`] hashes it through the same handle and
//! [`open_verified`] streams it for rating while hashing it again, so that a
//! file changed (or truncated) under the daemon is caught before anything is
//! published: [`Verifier::verify`] fails unless the bytes rated are the bytes
//! keyed. Daemon inputs are read, never mapped: a mapped file truncated by its
//! writer raises SIGBUS, which would kill the process.
//!
//! A compressed drop is untrusted: a few megabytes of gzip can expand to
//! terabytes. Decompression goes through [`Bounded`], which fails the read
//! (the file goes to `failed/`) once the output passes [`Expansion::max_bytes`]
//! or [`Expansion::max_ratio`] times the compressed bytes read so far. Memory
//! stays bounded either way: the pipeline reads streams through a window.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{mpsc as std_mpsc, Mutex};

use xxhash_rust::xxh3::Xxh3;

use crate::state::ContentKey;

/// Where a file's bytes come from.
pub enum Input {
    /// A whole buffer (a mapped file).
    Bytes(memmap2::Mmap),
    /// A borrowed buffer.
    Slice(Vec<u8>),
    /// A stream (gzip, stdin): read through a window.
    Stream(Box<dyn Read + Send>),
}

/// How far a compressed input may expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expansion {
    /// Most decompressed bytes.
    pub max_bytes: u64,
    /// Most decompressed bytes per compressed byte (checked once past
    /// [`RATIO_GRACE_BYTES`], so small files may compress better).
    pub max_ratio: u64,
}

impl Expansion {
    /// The bounds `[limits]` sets for compressed drops.
    pub fn of(limits: &crate::config::Limits) -> Expansion {
        Expansion { max_bytes: limits.max_decompressed_bytes, max_ratio: limits.max_compression_ratio }
    }
}

impl Default for Expansion {
    /// The bounds of the default `[limits]`.
    fn default() -> Self {
        Expansion::of(&crate::config::Limits::default())
    }
}

/// Decompressed bytes before the ratio is enforced.
pub const RATIO_GRACE_BYTES: u64 = 16 << 20;

/// Compression of an input, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain text.
    None,
    /// `.gz` (concatenated members included).
    Gzip,
    /// `.zst` (concatenated frames included).
    Zstd,
}

impl Compression {
    /// From the file name's extension.
    pub fn of(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("gz") => Compression::Gzip,
            Some("zst") => Compression::Zstd,
            _ => Compression::None,
        }
    }
}

/// Opens `path` (`-` = standard input). `.gz` and `.zst` files are
/// decompressed as a stream within `limits`.
pub fn open(path: &Path, limits: Expansion) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        return Ok(Input::Stream(Box::new(ReadAhead::new(Box::new(io::stdin())))));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let compression = Compression::of(path);
    if compression != Compression::None {
        return decompress(file, compression, limits);
    }
    if meta.len() == 0 {
        return Ok(Input::Slice(Vec::new()));
    }
    // SAFETY: the map is read-only and private to this process. Only the
    // one-shot `rate` maps its inputs: files the operator names, which
    // nobody truncates while they are rated; if someone did anyway, the
    // kernel would deliver SIGBUS, which ends `rate` with no outputs (they
    // are published only at the end), not wrong output. The daemon, whose
    // inputs come from switches, never maps them ([`open_verified`]).
    let map = unsafe { memmap2::MmapOptions::new().map(&file)? };
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Input::Bytes(map))
}

/// Opens an entry of the spool without following a link or blocking.
/// `Ok(Err(what))` names what the entry is when it is not a regular file
/// (nothing was read from it).
pub fn open_regular(path: &Path) -> io::Result<Result<File, &'static str>> {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path);
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Err("a symbolic link")),
        Err(e) => return Err(e),
    };
    let t = file.metadata()?.file_type();
    if t.is_file() {
        Ok(Ok(file))
    } else if t.is_dir() {
        Ok(Err("a folder"))
    } else {
        Ok(Err("not a regular file (fifo, socket or device)"))
    }
}

/// Bytes read per call when hashing or streaming a handle.
const READ_BYTES: usize = 1 << 20;

/// The content key of an open file, read through positioned reads (the
/// handle's offset stays at 0 for [`open_verified`]).
pub fn key_of(file: &File) -> io::Result<ContentKey> {
    let mut hasher = Xxh3::new();
    let mut buf = vec![0u8; READ_BYTES];
    let mut at = 0u64;
    loop {
        match file.read_at(&mut buf, at) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ContentKey(hasher.digest128().to_be_bytes()))
}

/// Streams an open input for rating (decompressed by `name`'s extension,
/// within `limits`), hashing every byte read from the file. The returned
/// [`Verifier`] tells afterwards whether those bytes had the key `expected`.
pub fn open_verified(
    file: File,
    name: &Path,
    limits: Expansion,
    expected: ContentKey,
) -> io::Result<(Input, Verifier)> {
    let hasher = Arc::new(Mutex::new(Xxh3::new()));
    // The clone shares the file offset: the verifier reads on from wherever
    // the decoder stopped.
    let rest = file.try_clone()?;
    let reader = Hashing { inner: file, hasher: hasher.clone() };
    let input = match Compression::of(name) {
        Compression::None => Input::Stream(Box::new(ReadAhead::new(Box::new(reader)))),
        compression => decompress(reader, compression, limits)?,
    };
    Ok((input, Verifier { rest: Hashing { inner: rest, hasher }, expected }))
}

/// Checks that a streamed input was one version of its content.
pub struct Verifier {
    /// The file (at the offset the rating stopped), hashing as it reads.
    rest: Hashing<File>,
    /// The key the content had when it was claimed.
    expected: ContentKey,
}

impl Verifier {
    /// Reads what the rating left unread (a compressed file's tail) and
    /// fails unless every byte of the file hashed to the expected key.
    pub fn verify(mut self) -> io::Result<()> {
        io::copy(&mut self.rest, &mut io::sink())?;
        let got = ContentKey(self.rest.hasher.lock().unwrap_or_else(|e| e.into_inner()).digest128().to_be_bytes());
        if got == self.expected {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file changed while it was rated (content {} when claimed, {got} when read)",
                    self.expected
                ),
            ))
        }
    }
}

/// A reader that hashes what it reads.
struct Hashing<R> {
    inner: R,
    hasher: Arc<Mutex<Xxh3>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.lock().unwrap_or_else(|e| e.into_inner()).update(&buf[..n]);
        Ok(n)
    }
}

/// A decompressing stream over `file`, bounded by `limits`.
fn decompress<R: Read + Send + 'static>(file: R, compression: Compression, limits: Expansion) -> io::Result<Input> {
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counting { inner: io::BufReader::with_capacity(READ_BYTES, file), read: read.clone() };
    let decoder: Box<dyn Read + Send> = match compression {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(counted)),
        _ => Box::new(zstd::stream::read::Decoder::with_buffer(io::BufReader::with_capacity(READ_BYTES, counted))?),
    };
    let bounded = Bounded { inner: decoder, compressed: read, out: 0, limits };
    Ok(Input::Stream(Box::new(ReadAhead::new(Box::new(bounded)))))
}

/// Bytes per read-ahead block.
const AHEAD_BYTES: usize = 4 << 20;
/// Blocks in flight: one being consumed, the rest read ahead.
const AHEAD_BLOCKS: usize = 3;

/// Reads a stream on its own thread, a few blocks ahead of the consumer,
/// so that reading (a copy from the page cache, or decompression) overlaps
/// rating instead of alternating with it. Memory: [`AHEAD_BLOCKS`] blocks.
///
/// The thread is not joined: it ends once its stream ends, fails, or the
/// reader is dropped (its next send fails). Every read it makes happens
/// before the consumer receives the block holding its bytes, so once the
/// consumer has seen the end of the stream no read of the thread is left,
/// and a [`Verifier`] may read on from the shared file offset.
pub struct ReadAhead {
    /// Full blocks (an empty one marks the end), or the stream's error.
    full: std_mpsc::Receiver<io::Result<Vec<u8>>>,
    /// Consumed blocks going back to the thread for reuse.
    empty: std_mpsc::Sender<Vec<u8>>,
    /// The block being consumed, and how far.
    current: Vec<u8>,
    /// Position in `current`.
    at: usize,
    /// The end was seen.
    ended: bool,
}

impl ReadAhead {
    /// Starts reading `inner` ahead.
    pub fn new(mut inner: Box<dyn Read + Send>) -> ReadAhead {
        let (full_tx, full) = std_mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD_BLOCKS - 1);
        let (empty, empty_rx) = std_mpsc::channel::<Vec<u8>>();
        let spawned = std::thread::Builder::new().name("read-ahead".into()).spawn(move || {
            let mut spare = AHEAD_BLOCKS;
            loop {
                let mut block = match empty_rx.try_recv() {
                    Ok(b) => b,
                    Err(_) if spare > 0 => {
                        spare -= 1;
                        Vec::with_capacity(AHEAD_BYTES)
                    }
                    Err(_) => match empty_rx.recv() {
                        Ok(b) => b,
                        Err(_) => return, // the consumer is gone
                    },
                };
                let result = fill_block(&mut *inner, &mut block);
                // Bytes read before an error still go first, in order.
                let more = match result {
                    Ok(more) => full_tx.send(Ok(block)).is_ok() && more,
                    Err(e) => {
                        if !block.is_empty() {
                            let _ = full_tx.send(Ok(block));
                        }
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                };
                if !more {
                    // The end marker (after a last, partial block).
                    let _ = full_tx.send(Ok(Vec::new()));
                    return;
                }
            }
        });
        if let Err(e) = spawned {
            // No thread: the reader reports the error at its first read.
            let (tx, rx) = std_mpsc::sync_channel(1);
            let _ = tx.send(Err(e));
            return ReadAhead { full: rx, empty, current: Vec::new(), at: 0, ended: false };
        }
        ReadAhead { full, empty, current: Vec::new(), at: 0, ended: false }
    }
}

/// Reads into `block` up to its capacity; `Ok(true)` when the stream may
/// have more, `Ok(false)` at its end.
fn fill_block(inner: &mut dyn Read, block: &mut Vec<u8>) -> io::Result<bool> {
    // A block comes back at its full length (all but the last): zero only
    // what was never written, not 4 MiB per read.
    if block.len() < AHEAD_BYTES {
        block.resize(AHEAD_BYTES, 0);
    }
    let mut len = 0;
    let more = loop {
        if len == block.len() {
            break true;
        }
        match inner.read(&mut block[len..]) {
            Ok(0) => break false,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                block.truncate(len);
                return Err(e);
            }
        }
    };
    block.truncate(len);
    Ok(more)
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.full.recv() {
                Ok(Ok(block)) => {
                    let old = std::mem::replace(&mut self.current, block);
                    let _ = self.empty.send(old);
                    self.at = 0;
                    if self.current.is_empty() {
                        self.ended = true;
                    }
                }
                Ok(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                Err(_) => {
                    // The thread always marks the end; gone without it, it
                    // panicked, and what was read is not the whole stream.
                    self.ended = true;
                    return Err(io::Error::other("the read-ahead thread stopped before the end of the input"));
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Counts the compressed bytes a decoder reads.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A decompressed stream that fails once it expands past its limits.
struct Bounded {
    inner: Box<dyn Read + Send>,
    compressed: Arc<AtomicU64>,
    out: u64,
    limits: Expansion,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let compressed = self.compressed.load(Ordering::Relaxed).max(1);
        if self.out > self.limits.max_bytes {
            return Err(expansion_error(format!(
                "decompresses to more than limits.max_decompressed_bytes ({} bytes)",
                self.limits.max_bytes
            )));
        }
        if self.out > RATIO_GRACE_BYTES && self.out / compressed > self.limits.max_ratio {
            return Err(expansion_error(format!(
                "expands more than limits.max_compression_ratio ({}x): {} bytes from {compressed} (a compression bomb?)",
                self.limits.max_ratio, self.out
            )));
        }
        Ok(n)
    }
}

fn expansion_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The name of an input as used in call ids and output names.
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read_all(input: Input) -> io::Result<Vec<u8>> {
        match input {
            Input::Stream(mut r) => {
                let mut v = Vec::new();
                r.read_to_end(&mut v)?;
                Ok(v)
            }
            Input::Bytes(m) => Ok(m.to_vec()),
            Input::Slice(v) => Ok(v),
        }
    }

    #[test]
    fn gzip_and_zstd_members_are_concatenated() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("a.csv.gz");
        let mut bytes = Vec::new();
        for part in [&b"one\n"[..], b"two\n"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(part).unwrap();
            bytes.extend(e.finish().unwrap());
        }
        std::fs::write(&gz, bytes).unwrap();
        assert_eq!(read_all(open(&gz, Expansion::default()).unwrap()).unwrap(), b"one\ntwo\n");

        let zst = dir.path().join("a.csv.ZST");
        let mut bytes = zstd::stream::encode_all(&b"one\n"[..], 3).unwrap();
        bytes.extend(zstd::stream::encode_all(&b"two\n"[..], 3).unwrap());
        std::fs::write(&zst, bytes).unwrap();
        assert_eq!(read_all(open(&zst, Expansion::default()).unwrap()).unwrap(), b"one\ntwo\n");
    }

    /// Hands out its bytes a few at a time, then an error if asked to.
    struct Dribble {
        bytes: Vec<u8>,
        at: usize,
        fail_at_end: bool,
    }

    impl Read for Dribble {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at == self.bytes.len() {
                return if self.fail_at_end { Err(io::Error::other("boom")) } else { Ok(0) };
            }
            let n = buf.len().min(self.bytes.len() - self.at).min(1 + self.at % 7919);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn read_ahead_passes_every_byte_in_order_and_the_error() {
        let bytes: Vec<u8> = (0..(3 * AHEAD_BYTES + 12_345)).map(|i| (i * 31 % 251) as u8).collect();
        for fail_at_end in [false, true] {
            let dribble = Dribble { bytes: bytes.clone(), at: 0, fail_at_end };
            let mut ahead = ReadAhead::new(Box::new(dribble));
            let mut got = Vec::new();
            let mut buf = vec![0u8; 100_003];
            let result = loop {
                match ahead.read(&mut buf) {
                    Ok(0) => break Ok(()),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => break Err(e),
                }
            };
            assert_eq!(got.len(), bytes.len());
            assert!(got == bytes);
            assert_eq!(result.is_err(), fail_at_end);
        }
        // An empty stream ends at once.
        let mut ahead = ReadAhead::new(Box::new(io::empty()));
        assert_eq!(ahead.read(&mut [0u8; 8]).unwrap(), 0);
    }

    #[test]
    fn a_claimed_entry_is_opened_only_if_regular_and_verified_against_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.csv");
        std::fs::write(&file, b"one\ntwo\n").unwrap();
        std::os::unix::fs::symlink(&file, dir.path().join("link.csv")).unwrap();
        let fifo = dir.path().join("fifo.csv");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(open_regular(&dir.path().join("link.csv")).unwrap().unwrap_err(), "a symbolic link");
        // A FIFO with no writer: opened without blocking, refused.
        assert!(open_regular(&fifo).unwrap().unwrap_err().contains("fifo"));
        assert_eq!(open_regular(dir.path()).unwrap().unwrap_err(), "a folder");

        let handle = open_regular(&file).unwrap().unwrap();
        let key = key_of(&handle).unwrap();
        assert_eq!(key, ContentKey::of(b"one\ntwo\n"));
        let (input, verifier) = open_verified(handle, &file, Expansion::default(), key).unwrap();
        assert_eq!(read_all(input).unwrap(), b"one\ntwo\n");
        verifier.verify().unwrap();

        // The content changes after it was keyed: the verifier says so.
        let handle = open_regular(&file).unwrap().unwrap();
        let key = key_of(&handle).unwrap();
        std::fs::write(&file, b"one\nTWO\n").unwrap();
        let (input, verifier) = open_verified(handle, &file, Expansion::default(), key).unwrap();
        read_all(input).unwrap();
        assert!(verifier.verify().unwrap_err().to_string().contains("changed while it was rated"));
    }

    #[test]
    fn expansion_past_the_limits_fails_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let zeros = vec![b'0'; 40 << 20];
        let zst = dir.path().join("bomb.zst");
        std::fs::write(&zst, zstd::stream::encode_all(&zeros[..], 3).unwrap()).unwrap();
        let err = read_all(open(&zst, Expansion::default()).unwrap()).unwrap_err();
        assert!(err.to_string().contains("max_compression_ratio"), "{err}");
        let small = Expansion { max_bytes: 1000, max_ratio: u64::MAX };
        let err = read_all(open(&zst, small).unwrap()).unwrap_err();
        assert!(err.to_string().contains("max_decompressed_bytes (1000 bytes)"), "{err}");
        // Within limits: fine.
        let roomy = Expansion { max_bytes: u64::MAX, max_ratio: u64::MAX };
        assert_eq!(read_all(open(&zst, roomy).unwrap()).unwrap().len(), 40 << 20);
    }
}
