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
    /// `stat` of a path (following links).
    pub fn stat(path: &Path) -> std::io::Result<FileMeta> {
        std::fs::metadata(path).map(|m| FileMeta { len: m.len(), modified: m.modified().ok() })
    }
}

/// A file opened by [`FileReader::read_capped`]: its size and time, and its bytes unless the
/// size is over the cap (then it is not read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped {
    pub meta: FileMeta,
    pub bytes: Option<Vec<u8>>,
}

/// Reads file bytes. The collector calls it from several threads.
pub trait FileReader: Send + Sync {
    /// Open `path`, take its size and time from the open file, and read at most `cap + 1`
    /// bytes of it (one more than the cap reveals a file that grew past it while being read).
    fn read_capped(&self, path: &Path, cap: u64) -> std::io::Result<Capped>;
}

/// The real file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct StdReader;

impl FileReader for StdReader {
    fn read_capped(&self, path: &Path, cap: u64) -> std::io::Result<Capped> {
        let f = std::fs::File::open(path)?;
        let m = f.metadata()?;
        let meta = FileMeta { len: m.len(), modified: m.modified().ok() };
        if meta.len > cap {
            return Ok(Capped { meta, bytes: None });
        }
        let mut buf = Vec::with_capacity(meta.len.min(cap.saturating_add(1)) as usize);
        f.take(cap.saturating_add(1)).read_to_end(&mut buf)?;
        Ok(Capped { meta, bytes: Some(buf) })
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
