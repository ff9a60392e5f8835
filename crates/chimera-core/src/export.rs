//! Exporters: one per output format (JSON, Markdown, CSV, HTML) behind one trait, as hyperfine
//! has them: a record in, the file's bytes out. Writing is separate ([`write`]: atomic, so a
//! crash never leaves half a file), and nothing here measures or reads results back.

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;
pub mod table;

use std::path::Path;

pub use csv::Csv;
pub use html::Html;
pub use json::Json;
pub use markdown::{AgentReport, BenchReport, Markdown, Parts, PlotLink};
pub use table::{Align, Table};

/// An output format for records of type `R`.
pub trait Exporter<R: ?Sized> {
    /// The file's content.
    fn serialize(&self, record: &R) -> Result<Vec<u8>, ExportError>;
}

/// Why a record could not be exported or written; the message names the file or the part.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot serialise the {what}: {detail}")]
    Serialize { what: &'static str, detail: String },
    /// "cannot write PATH: …" (the callers add which flag names the folder).
    #[error(transparent)]
    Write(#[from] crate::fsutil::WriteError),
}

/// Export `record` with `exporter` and write the bytes to `path` atomically.
pub fn write<R: ?Sized, E: Exporter<R>>(exporter: &E, record: &R, path: &Path) -> Result<(), ExportError> {
    let bytes = exporter.serialize(record)?;
    crate::fsutil::write_atomic(path, &bytes).map_err(crate::fsutil::WriteError::at(path))?;
    Ok(())
}
