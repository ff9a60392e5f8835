//! What the PNG copies of the plots cost: for each output folder given (sweep or multi, e.g.
//! `chimera demo --quick --out D` → `D/sweep D/multi`), drawing its SVG plots vs rasterising
//! them to PNG, 5 rounds each, one thread. Writes nothing.
//!
//! `cargo run --release -p chimera-core --example plot_png_cost -- DIR...`

use std::path::Path;
use std::time::Instant;

use chimera_core::html::plots_for_dir;
use chimera_core::plots::png::svg_to_png;
use chimera_core::stats::summarize;

fn ms(v: &[f64]) -> String {
    summarize(v).map_or("–".into(), |s| format!("{:.1} ± {:.1} ms", s.mean, s.sd.unwrap_or(0.0)))
}

fn main() -> anyhow::Result<()> {
    for d in std::env::args().skip(1) {
        let (mut svg_ms, mut png_ms, mut plots, mut bytes) = (Vec::new(), Vec::new(), 0, 0);
        for _ in 0..5 {
            let t = Instant::now();
            let drawn = plots_for_dir(Path::new(&d))?;
            svg_ms.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            (plots, bytes) = (0, 0);
            for (name, svg) in &drawn {
                let svg = svg.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
                bytes += svg_to_png(name, svg)?.len();
                plots += 1;
            }
            png_ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let ratio = summarize(&png_ms).zip(summarize(&svg_ms)).map_or(0.0, |(p, s)| p.mean / s.mean);
        println!(
            "{d}: {plots} plots, {bytes} PNG bytes; SVG drawing {}; PNG rasterising {} ({ratio:.0}× the SVG drawing)",
            ms(&svg_ms),
            ms(&png_ms)
        );
    }
    Ok(())
}
