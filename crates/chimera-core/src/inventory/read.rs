//! Reading one file under a size cap and decoding its text (UTF-8, BOMs, UTF-16, lossy fallback).

use std::io::Read;
use std::path::Path;

/// Size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub len: u64,
    pub modified: Option<std::time::SystemTime>,
}

impl FileMeta {
    fn of(m: &std::fs::Metadata) -> FileMeta {
        FileMeta { len: m.len(), modified: m.modified().ok() }
    }

    /// `stat` of a path (following links).
    pub fn stat(path: &Path) -> std::io::Result<FileMeta> {
        std::fs::metadata(path).map(|m| FileMeta::of(&m))
    }
}

/// A file's metadata and, unless it is over the size cap, its bytes.
#[derive(Debug, Clone)]
pub struct ReadFile {
    pub meta: FileMeta,
    /// `None` when `meta.len` is over the cap (the file was not read).
    pub bytes: Option<Vec<u8>>,
}

/// Reads file bytes. The collector calls it from several threads.
pub trait FileReader: Send + Sync {
    /// Read at most `cap + 1` bytes of `path` (one more than the cap reveals an over-size file).
    fn read_capped(&self, path: &Path, cap: u64) -> std::io::Result<Vec<u8>>;

    /// The file's metadata, and its bytes (at most `cap + 1`) unless the metadata already says
    /// it is over `cap`. The default stats the path, then calls [`FileReader::read_capped`].
    fn read_with_meta(&self, path: &Path, cap: u64) -> std::io::Result<ReadFile> {
        let meta = FileMeta::stat(path)?;
        let bytes = if meta.len > cap { None } else { Some(self.read_capped(path, cap)?) };
        Ok(ReadFile { meta, bytes })
    }

    /// [`FileReader::read_with_meta`] for a worker that reads files in path order: `dirs`
    /// remembers the folder of the previous file. The default ignores it.
    fn read_with_meta_in(&self, path: &Path, cap: u64, dirs: &mut DirCache) -> std::io::Result<ReadFile> {
        let _ = dirs;
        self.read_with_meta(path, cap)
    }
}

/// What a worker keeps from one file to the next: the folder of the previous file, kept open
/// (`O_PATH`) so the next file in it is opened relative to it (`openat`: the kernel then
/// resolves one name instead of every component of the path; closed when dropped), and the
/// previous file's buffers for reuse.
#[derive(Debug, Default)]
pub struct DirCache {
    #[cfg(target_os = "linux")]
    dir: Option<(std::path::PathBuf, std::os::fd::OwnedFd)>,
    /// The previous file's buffers, given back once it is parsed and reused for the next one
    /// (see [`DirCache::give_back`]): no fresh allocation per file, so freed memory the
    /// allocator has yet to return to the system does not pile up with big files.
    spare_bytes: Vec<u8>,
    spare_facts: Vec<crate::facts::RawFact>,
}

/// Buffers larger than this are not kept for reuse (one big file does not pin its size).
const MAX_SPARE_BYTES: usize = 1 << 20;

thread_local! {
    static WORKER_DIRS: std::cell::RefCell<DirCache> = std::cell::RefCell::new(DirCache::default());
}

impl DirCache {
    /// Run `f` with this thread's cache, kept from file to file and batch to batch (a fresh
    /// one if the thread's is in use).
    pub fn with_thread<R>(f: impl FnOnce(&mut DirCache) -> R) -> R {
        WORKER_DIRS.with(|c| match c.try_borrow_mut() {
            Ok(mut dirs) => f(&mut dirs),
            Err(_) => f(&mut DirCache::default()),
        })
    }

    /// An empty buffer for a file's bytes, with the capacity of the last one given back.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.spare_bytes)
    }

    /// An empty list for a file's facts, with the capacity of the last one given back.
    pub fn take_facts(&mut self) -> Vec<crate::facts::RawFact> {
        std::mem::take(&mut self.spare_facts)
    }

    /// Keep a file's buffers (emptied here) for the next file, unless they are big.
    pub fn give_back(&mut self, mut bytes: Vec<u8>, mut facts: Vec<crate::facts::RawFact>) {
        if bytes.capacity() <= MAX_SPARE_BYTES && bytes.capacity() > self.spare_bytes.capacity() {
            bytes.clear();
            self.spare_bytes = bytes;
        }
        if facts.capacity() * std::mem::size_of::<crate::facts::RawFact>() <= MAX_SPARE_BYTES
            && facts.capacity() > self.spare_facts.capacity()
        {
            facts.clear();
            self.spare_facts = facts;
        }
    }

    /// Close the folder this thread keeps open (the collector calls it on every worker when
    /// it is done).
    pub fn release_thread() {
        WORKER_DIRS.with(|c| {
            if let Ok(mut dirs) = c.try_borrow_mut() {
                *dirs = DirCache::default();
            }
        });
    }
}

#[cfg(target_os = "linux")]
impl DirCache {
    /// Open `path` relative to its cached folder; `None` when that is not possible (the caller
    /// then opens the path itself, which also gives the error to report).
    fn open(&mut self, path: &Path) -> Option<std::fs::File> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        let bytes = path.as_os_str().as_bytes();
        let slash = bytes.iter().rposition(|&b| b == b'/')?;
        let (parent, name) = (&bytes[..slash], &bytes[slash + 1..]);
        let mut cname = [0u8; 256];
        if parent.is_empty() || name.is_empty() || name.len() >= cname.len() || name.contains(&0) {
            return None;
        }
        cname[..name.len()].copy_from_slice(name);
        if self.dir.as_ref().is_none_or(|(p, _)| p.as_os_str().as_bytes() != parent) {
            let parent = Path::new(std::ffi::OsStr::from_bytes(parent));
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(parent)
                .ok()?;
            self.dir = Some((parent.to_path_buf(), OwnedFd::from(dir)));
        }
        let (_, dir) = self.dir.as_ref()?;
        // SAFETY: `cname` is NUL-terminated (the name is shorter than the buffer and has no NUL);
        // `dir` is an open descriptor owned by `self`.
        let fd =
            unsafe { libc::openat(dir.as_raw_fd(), cname.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
        // SAFETY: a descriptor `openat` just returned is owned by nobody else.
        (fd >= 0).then(|| unsafe { std::fs::File::from_raw_fd(fd) })
    }
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdReader;

/// Metadata from `fstat` on the open file, then its bytes: exactly its size as of that `fstat`
/// (one `read` for a small file, no extra call to meet the end), or up to `cap + 1` bytes when
/// the size is not known (0, as for files of `/proc`).
fn read_open(f: std::fs::File, cap: u64, mut buf: Vec<u8>) -> std::io::Result<ReadFile> {
    let meta = FileMeta::of(&f.metadata()?);
    if meta.len > cap {
        return Ok(ReadFile { meta, bytes: None });
    }
    buf.clear();
    if meta.len == 0 {
        f.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
        return Ok(ReadFile { meta, bytes: Some(buf) });
    }
    // Read into uninitialised capacity (no zeroing); the limit ends the read at the size
    // without a call to meet the end of the file.
    buf.reserve_exact(meta.len as usize);
    f.take(meta.len).read_to_end(&mut buf)?;
    Ok(ReadFile { meta, bytes: Some(buf) })
}

impl FileReader for StdReader {
    fn read_capped(&self, path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
        let f = std::fs::File::open(path)?;
        let hint = f.metadata().map(|m| m.len().min(cap.saturating_add(1))).unwrap_or(0);
        let mut buf = Vec::with_capacity(hint as usize);
        f.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// One `open` + one `fstat` + the reads: the metadata comes from the open file.
    fn read_with_meta(&self, path: &Path, cap: u64) -> std::io::Result<ReadFile> {
        read_open(std::fs::File::open(path)?, cap, Vec::new())
    }

    fn read_with_meta_in(&self, path: &Path, cap: u64, dirs: &mut DirCache) -> std::io::Result<ReadFile> {
        #[cfg(target_os = "linux")]
        if let Some(f) = dirs.open(path) {
            return read_open(f, cap, dirs.take_bytes());
        }
        read_open(std::fs::File::open(path)?, cap, dirs.take_bytes())
    }
}

/// Decoded text and how it was decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    /// `utf-8`, `utf-8 (BOM)`, `utf-16le (BOM)`, `utf-16be (BOM)`, `utf-8 (lossy)`.
    pub encoding: &'static str,
    /// Set when bytes had to be replaced: what and where.
    pub warning: Option<String>,
}

/// Decode bytes: a BOM selects UTF-8 / UTF-16LE / UTF-16BE; otherwise UTF-8, and invalid
/// sequences are replaced with U+FFFD (the position of the first one is reported).
pub fn decode(bytes: Vec<u8>) -> Decoded {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(&bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        let encoding = if enc == encoding_rs::UTF_16LE {
            "utf-16le (BOM)"
        } else if enc == encoding_rs::UTF_16BE {
            "utf-16be (BOM)"
        } else {
            "utf-8 (BOM)"
        };
        let warning = had_errors.then(|| format!("invalid {encoding} sequences replaced with U+FFFD"));
        return Decoded { text: text.into_owned(), encoding, warning };
    }
    // A UTF-16 BOM that was itself re-encoded as UTF-8 (FF FE → C3 BF C3 BE), a common
    // PowerShell redirection artefact: the body is still UTF-16.
    if let Some(rest) = bytes.strip_prefix(b"\xC3\xBF\xC3\xBE") {
        return decode_utf16_body(rest, encoding_rs::UTF_16LE, "utf-16le (BOM re-encoded as UTF-8)");
    }
    if let Some(rest) = bytes.strip_prefix(b"\xC3\xBE\xC3\xBF") {
        return decode_utf16_body(rest, encoding_rs::UTF_16BE, "utf-16be (BOM re-encoded as UTF-8)");
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded { text, encoding: "utf-8", warning: None },
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            Decoded {
                text: String::from_utf8_lossy(e.as_bytes()).into_owned(),
                encoding: "utf-8 (lossy)",
                warning: Some(format!(
                    "non-UTF-8 bytes (first at byte {at}) replaced with U+FFFD; re-save the file as UTF-8"
                )),
            }
        }
    }
}

/// Decode a UTF-16 body whose BOM was mangled. A text-mode write may also have turned each
/// `0A 00` into `0D 0A 00` (the byte count is then odd); that is undone first.
fn decode_utf16_body(body: &[u8], enc: &'static encoding_rs::Encoding, label: &'static str) -> Decoded {
    let mut fixed: Vec<u8>;
    let mut repaired = false;
    let body = if body.len() % 2 == 1 && enc == encoding_rs::UTF_16LE {
        fixed = Vec::with_capacity(body.len());
        let mut i = 0;
        while i < body.len() {
            if body[i..].starts_with(&[0x0D, 0x0A, 0x00]) && fixed.len() % 2 == 0 {
                fixed.extend_from_slice(&[0x0A, 0x00]);
                i += 3;
                repaired = true;
            } else {
                fixed.push(body[i]);
                i += 1;
            }
        }
        &fixed[..]
    } else {
        body
    };
    let (text, had_errors) = enc.decode_without_bom_handling(body);
    let mut warning =
        format!("UTF-16 text whose byte-order mark was re-encoded as UTF-8; decoded as {label}");
    if repaired {
        warning.push_str("; CR bytes inserted by a text-mode write removed");
    }
    if had_errors {
        warning.push_str("; invalid sequences replaced with U+FFFD");
    }
    Decoded { text: text.into_owned(), encoding: label, warning: Some(warning) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_boms_and_reports_bad_bytes() {
        let utf16: Vec<u8> =
            [0xFF, 0xFE].into_iter().chain("a,b\n1,2".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let d = decode(utf16);
        assert_eq!((d.text.as_str(), d.encoding, d.warning), ("a,b\n1,2", "utf-16le (BOM)", None));
        let d = decode(b"\xEF\xBB\xBFx".to_vec());
        assert_eq!((d.text.as_str(), d.encoding), ("x", "utf-8 (BOM)"));
        let d = decode(b"ab\xFFc".to_vec());
        assert_eq!(d.text, "ab\u{FFFD}c");
        assert!(d.warning.unwrap().contains("first at byte 2"));
    }

    #[test]
    fn decodes_utf16_with_a_bom_reencoded_as_utf8_and_text_mode_newlines() {
        // The shape of seed-101's reports/profiling/ncu_summary.csv.
        let mut b = b"\xC3\xBF\xC3\xBE".to_vec();
        b.extend("==ERROR== bad.\r".encode_utf16().flat_map(u16::to_le_bytes));
        b.extend([0x0D, 0x0A, 0x00]);
        let d = decode(b);
        assert_eq!(d.text, "==ERROR== bad.\r\n");
        assert_eq!(d.encoding, "utf-16le (BOM re-encoded as UTF-8)");
        assert!(d.warning.unwrap().contains("text-mode"));
    }
}
