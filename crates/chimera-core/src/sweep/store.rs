//! Per-point results and their files: `points.jsonl` (one [`PointResult`] per line, the
//! source of truth for `--resume`) and `points.csv` (the same, flat), appended as each point
//! finishes and flushed to disk so a crash or Ctrl-C loses at most the point in flight.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::export::{Csv, Exporter, Json};
use crate::fsutil::write_atomic;
use crate::load::{self, LoadError};
use crate::records::sweep::PointResult;
use crate::workflow::WorkflowId;

use super::SweepError;

/// The sweep's result files in `dir`.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    done: Vec<PointResult>,
    /// Lines of `points.jsonl` that could not be parsed when resuming (a point cut off by a kill).
    pub skipped_lines: usize,
    /// The workflow every appended point records (agent and scenario sweeps).
    pub workflow: Option<WorkflowId>,
}

impl Store {
    pub fn jsonl_path(dir: &Path) -> PathBuf {
        dir.join("points.jsonl")
    }
    pub fn csv_path(dir: &Path) -> PathBuf {
        dir.join("points.csv")
    }

    /// Start a new sweep in `dir`: fails if results are already there (use `--resume`).
    pub fn create(dir: &Path) -> Result<Store, SweepError> {
        if Self::jsonl_path(dir).exists() {
            return Err(SweepError::Exists(dir.display().to_string()));
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let s = Store { dir: dir.to_path_buf(), done: Vec::new(), skipped_lines: 0, workflow: None };
        s.rewrite()?;
        Ok(s)
    }

    /// Reopen `dir`, keeping every finished point; a torn last line is dropped and both files
    /// are rewritten from what parsed.
    pub fn resume(dir: &Path) -> Result<Store, SweepError> {
        let path = Self::jsonl_path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Self::create(dir),
            Err(e) => return Err(io(&path, e)),
        };
        let mut done = Vec::new();
        let mut skipped = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match load::point_line(line, &path) {
                Ok(p) => done.push(p),
                // a newer schema is not a torn line: resuming would drop points silently
                Err(e @ LoadError::Newer { .. }) => return Err(SweepError::Io(e.to_string())),
                Err(_) => skipped += 1,
            }
        }
        let s = Store { dir: dir.to_path_buf(), done, skipped_lines: skipped, workflow: None };
        s.rewrite()?;
        Ok(s)
    }

    /// Load finished points of `dir` without touching the files.
    pub fn load(dir: &Path) -> Result<Vec<PointResult>, SweepError> {
        let path = Self::jsonl_path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
        Ok(text.lines().filter_map(|l| load::point_line(l, &path).ok()).collect())
    }

    fn rewrite(&self) -> Result<(), SweepError> {
        let mut jsonl = Vec::new();
        for p in &self.done {
            jsonl.extend(Json::line(p).map_err(|e| SweepError::Io(e.to_string()))?);
        }
        let csv = Csv.serialize(&self.done[..]).map_err(|e| SweepError::Io(e.to_string()))?;
        let jp = Self::jsonl_path(&self.dir);
        write_atomic(&jp, &jsonl).map_err(|e| io(&jp, e))?;
        let cp = Self::csv_path(&self.dir);
        write_atomic(&cp, &csv).map_err(|e| io(&cp, e))
    }

    /// Keys of finished points.
    pub fn finished_keys(&self) -> HashSet<String> {
        self.done.iter().map(|p| p.key.clone()).collect()
    }

    /// Finished points, in the order they finished.
    pub fn results(&self) -> &[PointResult] {
        &self.done
    }

    /// Append one finished point (stamped with [`Store::workflow`]) to both files and sync them
    /// to disk.
    pub fn append(&mut self, mut p: PointResult) -> Result<(), SweepError> {
        p.workflow = self.workflow.clone();
        let line = Json::line(&p).map_err(|e| SweepError::Io(e.to_string()))?;
        append_sync(&Self::jsonl_path(&self.dir), &line)?;
        append_sync(&Self::csv_path(&self.dir), &Csv::line(&p).map_err(|e| SweepError::Io(e.to_string()))?)?;
        self.done.push(p);
        Ok(())
    }
}

fn append_sync(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    let mut f = std::fs::OpenOptions::new().append(true).create(true).open(path).map_err(|e| io(path, e))?;
    f.write_all(&crate::secret::redact_bytes(bytes)).map_err(|e| io(path, e))?;
    f.sync_data().map_err(|e| io(path, e))
}

fn io(path: &Path, e: std::io::Error) -> SweepError {
    SweepError::Io(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multi::Scenario;
    use crate::options::GenOptions;
    use crate::records::sweep::{MultiPoint, RunSample};
    use crate::sweep::grid::{Grid, parse_values};

    fn sample(run: usize, tok_s: f64, ttft: f64) -> RunSample {
        RunSample {
            run,
            ok: true,
            error: None,
            ttft_ms: Some(ttft),
            decode_tok_s: Some(tok_s),
            e2e_ms: Some(ttft + 100.0),
            output_tokens: 10,
            prompt_tokens: Some(5),
            load_ms: None,
            prompt_eval_ms: None,
            eval_ms: None,
            latency: None,
            sessions: Vec::new(),
        }
    }

    #[test]
    fn append_then_resume_keeps_points_and_drops_torn_line() {
        let d = tempfile::tempdir().unwrap();
        let pts =
            Grid::from_lists(&[("num_ctx".into(), parse_values("256,512"))]).unwrap().points(true).unwrap();
        let mut s = Store::create(d.path()).unwrap();
        s.append(PointResult::new(
            &pts[0],
            0,
            Some(12.0),
            vec![sample(0, 10.0, 50.0), sample(1, 12.0, 70.0)],
        ))
        .unwrap();
        s.append(PointResult::new(&pts[1], 1, None, vec![sample(0, 20.0, 40.0)])).unwrap();
        assert!(Store::create(d.path()).is_err(), "an existing sweep must not be overwritten");
        // a kill in the middle of writing the third point
        append_sync(&Store::jsonl_path(d.path()), b"{\"key\":\"torn").unwrap();
        let r = Store::resume(d.path()).unwrap();
        assert_eq!(r.skipped_lines, 1);
        assert_eq!(r.results().len(), 2);
        assert!(r.finished_keys().contains(&pts[1].key));
        assert!(!r.finished_keys().contains(&pts[2].key));
        let t = r.results()[0].throughput_tok_s.as_ref().unwrap();
        assert_eq!((t.n, t.mean), (2, 11.0));
        let csv = std::fs::read_to_string(Store::csv_path(d.path())).unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.lines().nth(2).unwrap().contains("num_ctx=256"));
        assert!(!std::fs::read_to_string(Store::jsonl_path(d.path())).unwrap().contains("torn"));
    }
    /// A `points.jsonl` line written before the multi-agent field existed (copied verbatim from
    /// a `chimera demo --quick` run of 2026-11-27) still loads and resumes.
    const OLD_LINE: &str = r#"{"key":"{\"temperature\":0.7,\"seed\":42,\"num_predict\":32}","label":"baseline","baseline":true,"coords":{},"options":{"temperature":0.7,"seed":42,"num_predict":32},"order":0,"warmup_ms":784.9553900000001,"runs":[{"run":0,"ok":true,"error":null,"ttft_ms":83.319997,"decode_tok_s":91.8256533637714,"e2e_ms":434.908749,"output_tokens":32,"prompt_tokens":24,"load_ms":28.631401,"prompt_eval_ms":52.501993,"eval_ms":348.486494},{"run":1,"ok":true,"error":null,"ttft_ms":76.776643,"decode_tok_s":74.6490532225588,"e2e_ms":510.63143499999995,"output_tokens":32,"prompt_tokens":24,"load_ms":25.663334,"prompt_eval_ms":50.043261,"eval_ms":428.67255}],"throughput_tok_s":{"n":2,"mean":83.2373532931651,"sd":12.145690437581232,"cv":0.14591634593189973,"median":83.2373532931651,"p95":90.96682335671076,"p99":91.65388736235927,"min":74.6490532225588,"max":91.8256533637714},"ttft_ms":{"n":2,"mean":80.04832,"sd":4.6268499851041165,"cv":0.0578007131830389,"median":80.04832,"p95":82.9928293,"p99":83.25456346,"min":76.776643,"max":83.319997},"e2e_ms":{"n":2,"mean":472.770092,"sd":53.54402476025961,"cv":0.11325594758701363,"median":472.770092,"p95":506.84530069999994,"p99":509.87420813999995,"min":434.908749,"max":510.63143499999995},"finished_at":"2026-11-27T00:43:41.255961271Z"}"#;

    #[test]
    fn older_points_files_still_load_and_resume() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(Store::jsonl_path(d.path()), format!("{OLD_LINE}\n")).unwrap();
        let old = Store::load(d.path()).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!((old[0].label.as_str(), old[0].multi.is_none()), ("baseline", true));
        assert_eq!(old[0].throughput_tok_s.as_ref().unwrap().n, 2);
        let mut s = Store::resume(d.path()).unwrap();
        assert_eq!((s.results().len(), s.skipped_lines), (1, 0));
        let pts =
            Grid::from_lists(&[("num_ctx".into(), parse_values("256,512"))]).unwrap().points(false).unwrap();
        let mut p = PointResult::new(&pts[0], 1, None, vec![sample(0, 10.0, 50.0)]);
        let agents = crate::sweep::config::ScenarioWorkload {
            workflow: crate::workflow::default_workflow(),
            scenario: Scenario::ChimeraHomo,
            n_agents: 2,
            personas: vec![crate::persona::Persona::collector(); 2],
            fixed: GenOptions::default(),
            second: GenOptions::default(),
            data_dirs: vec![],
            out_dir: d.path().to_path_buf(),
            solo: true,
            contention_threshold: 1.25,
        }
        .agents(&pts[0].options);
        p.multi = Some(MultiPoint::new(Scenario::ChimeraHomo, &agents, true, vec![]));
        s.append(p).unwrap();
        let both = Store::load(d.path()).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].multi.as_ref().unwrap().agents, ["Chimera Agent A", "Chimera Agent B"]);
        let csv = std::fs::read_to_string(Store::csv_path(d.path())).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        // The resumed file is rewritten with today's header, load columns included.
        assert!(rows[0].ends_with(
            "finished_at,scenario,speedup_mean,efficiency_mean,efficiency_sd,sum_decode_mean_tok_s,failed_runs,\
             load,sessions,sessions_per_min,goodput_per_min,pass_rate,meets_slo,schedule_error_p99_ms,client_behind"
        ));
        assert!(rows[2].contains(",chimera_homo,"), "{}", rows[2]);
        assert_eq!(rows[1].split(',').count(), rows[0].split(',').count(), "{}", rows[1]);
    }
}
