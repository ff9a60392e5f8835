//! Writes a sweep's summary files (`summary.json`, `summary.md`), its plots and the HTML
//! report into the output folder, beside `points.csv` / `points.jsonl`.

use std::path::{Path, PathBuf};

use crate::export::{self, Json, Markdown};
use crate::manifest::Manifest;

use super::SweepError;
use super::summary::SweepSummary;

/// Paths written by [`write_outputs`].
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub summary_md: PathBuf,
    pub summary_json: PathBuf,
    pub html: PathBuf,
    /// Plots that could not be drawn (everything else was written): for the user to see.
    pub warnings: Vec<String>,
}

/// Write `summary.json`, `summary.md` (with its `## Plots` links), `manifest.json` (when
/// given), `plots/*.svg` + `plots/*.png` and `report.html` into `dir`. A plot that cannot be
/// drawn is a warning in [`Written::warnings`]: every other file is still written.
pub fn write_outputs(
    dir: &Path,
    s: &SweepSummary,
    manifest: Option<&Manifest>,
) -> Result<Written, SweepError> {
    let export_err = |e: export::ExportError| SweepError::Io(e.to_string());
    let summary_json = dir.join("summary.json");
    export::write(&Json, s, &summary_json).map_err(export_err)?;
    let summary_md = dir.join("summary.md");
    export::write(&Markdown::default(), s, &summary_md).map_err(export_err)?;
    if let Some(m) = manifest {
        export::write(&Json, m, &dir.join("manifest.json")).map_err(export_err)?;
    }
    let (html, warnings) =
        match crate::html::write_report(dir, &format!("Chimera sweep — {}", s.config.model)) {
            Ok(p) => (p, Vec::new()),
            Err(e @ crate::html::HtmlError::PlotsFailed { .. }) => {
                (dir.join("report.html"), vec![e.to_string()])
            }
            Err(e) => return Err(SweepError::Io(e.to_string())),
        };
    Ok(Written { summary_md, summary_json, html, warnings })
}
