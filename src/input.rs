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
use std::sync::Mutex;

use xxhash_rust::xxh3::Xxh3;

use crate::pipeline::Input;
use crate::state::ContentKey;

/// How far a compressed input may expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expansion {
    /// Most decompressed bytes.
    pub max_bytes: u64,
    /// Most decompressed bytes per compressed byte (checked once past
    /// [`RATIO_GRACE_BYTES`], so small files may compress better).
    pub max_ratio: u64,
}

impl Default for Expansion {
    fn default() -> Self {
        Expansion { max_bytes: 16 << 30, max_ratio: 200 }
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
        return Ok(Input::Stream(Box::new(io::stdin())));
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
    // SAFETY: the map is read-only and private to this process. cdr-rater
    // takes a file only once it is complete (renamed into place or settled),
    // so nobody truncates it while it is mapped; if someone did anyway, the
    // kernel would deliver SIGBUS, which is a crash, not wrong output.
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
        Compression::None => Input::Stream(Box::new(reader)),
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
    Ok(Input::Stream(Box::new(Bounded { inner: decoder, compressed: read, out: 0, limits })))
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
