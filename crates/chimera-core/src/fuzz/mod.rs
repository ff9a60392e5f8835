//! Fuzz targets of the core (stable Rust, driven by `chimera_testkit::fuzz`): each module's
//! `replay` test runs the saved corpus in `testdata/fuzz/<target>/` on every `cargo test`; its
//! ignored `fuzz` test is the timed run `scripts/fuzz.sh` starts.

mod html;
mod inventory;
mod stream;
