//! Opening an input file: mapped when plain, streamed when compressed or piped.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::pipeline::Input;

/// Opens `path` (`-` = standard input). `.gz` files are decompressed as a
/// stream (concatenated gzip members included).
pub fn open(path: &Path) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        return Ok(Input::Stream(Box::new(io::stdin())));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        return Ok(Input::Stream(Box::new(flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
            1 << 20,
            file,
        )))));
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

/// The name of an input as used in call ids and output names.
pub fn display_name(path: &Path) -> String {
    if path.as_os_str() == "-" {
        return "stdin".into();
    }
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "input".into())
}
