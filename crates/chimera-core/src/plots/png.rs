//! PNG copies of the SVG plots, for Markdown viewers that refuse SVG: each SVG is rasterised
//! with resvg (usvg + tiny-skia) on white at twice its size (sharp where viewers scale it to
//! fit; once when twice would exceed [`MAX_PIXELS`]), with DejaVu Sans (embedded by the
//! `dejavu` crate) as the only font, so the PNG is the same picture as the SVG and the same
//! bytes on every machine — no system fonts, no network.
//!
//! Why resvg rather than plotters' own bitmap backend: the PNG is the SVG by construction (one
//! drawing code path, the same text placement a browser shows), and plotters' `ab_glyph` text
//! feature is global — it would change how the SVGs' labels are measured and make every plot
//! depend on a registered font. The price is about a minute more of clean build on 2 cores
//! (BENCHMARKS.md, "PNG copies of the plots").

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use super::PlotError;

/// The largest picture rasterised, in pixels (width × height); a larger plot keeps its SVG only.
pub const MAX_PIXELS: u64 = 40_000_000;

/// PNG pixels per SVG unit, when the result fits [`MAX_PIXELS`] (else 1).
pub const SCALE: u32 = 2;

/// The one font family loaded; every generic family (`sans-serif`, …) resolves to it.
pub const FONT_FAMILY: &str = "DejaVu Sans";

/// The font database, built once: DejaVu Sans from the binary, nothing from the system.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        let regular: &'static [u8] = dejavu::sans::regular();
        db.load_font_source(usvg::fontdb::Source::Binary(Arc::new(regular)));
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(FONT_FAMILY);
        db.set_monospace_family(FONT_FAMILY);
        db.set_cursive_family(FONT_FAMILY);
        db.set_fantasy_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Rasterise `svg` (the plot called `name`, used in errors) to PNG bytes: [`SCALE`] × the
/// SVG's width and height, or 1 × when that would exceed [`MAX_PIXELS`].
pub fn svg_to_png(name: &str, svg: &str) -> Result<Vec<u8>, PlotError> {
    let err = |detail: String| PlotError { title: format!("{name}.png"), detail };
    let opt = usvg::Options { fontdb: fonts(), font_family: FONT_FAMILY.into(), ..Default::default() };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| {
        err(format!("the SVG does not parse ({e}); the SVG file beside it shows what was drawn"))
    })?;
    let size = tree.size().to_int_size();
    let area = u64::from(size.width()) * u64::from(size.height());
    let scale = if area * u64::from(SCALE * SCALE) <= MAX_PIXELS { SCALE } else { 1 };
    let (w, h) = (size.width() * scale, size.height() * scale);
    if area > MAX_PIXELS {
        return Err(err(format!(
            "{w}×{h} px is more than the {MAX_PIXELS} px a PNG copy may have; open the SVG instead"
        )));
    }
    let mut pixmap = tiny_skia::Pixmap::new(w, h)
        .ok_or_else(|| err(format!("cannot allocate a {w}×{h} px picture; open the SVG instead")))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    let k = scale as f32;
    resvg::render(&tree, tiny_skia::Transform::from_scale(k, k), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| err(format!("encoding the PNG: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

    /// A decoded PNG: checks the signature, then decodes it (tiny-skia's PNG decoder).
    pub(crate) fn decode(bytes: &[u8]) -> tiny_skia::Pixmap {
        assert_eq!(bytes.get(..8), Some(&SIGNATURE[..]), "not a PNG signature");
        tiny_skia::Pixmap::decode_png(bytes).expect("the PNG decodes")
    }

    /// (r, g, b) of pixel (x, y).
    pub(crate) fn rgb(p: &tiny_skia::Pixmap, x: u32, y: u32) -> (u8, u8, u8) {
        let c = p.pixel(x, y).expect("pixel inside the picture").demultiply();
        (c.red(), c.green(), c.blue())
    }

    /// Dark pixels (text, axes) in rows `y0..y1`.
    pub(crate) fn dark_pixels(p: &tiny_skia::Pixmap, y0: u32, y1: u32) -> usize {
        (y0..y1.min(p.height()))
            .flat_map(|y| (0..p.width()).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let (r, g, b) = rgb(p, x, y);
                u32::from(r) + u32::from(g) + u32::from(b) < 200
            })
            .count()
    }

    /// Distinct colours in the picture.
    pub(crate) fn colours(p: &tiny_skia::Pixmap) -> usize {
        let mut seen = std::collections::HashSet::new();
        for y in 0..p.height() {
            for x in 0..p.width() {
                seen.insert(rgb(p, x, y));
            }
        }
        seen.len()
    }

    #[test]
    fn text_is_drawn_with_the_embedded_font() {
        let with_text = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"200\" height=\"60\">\
            <text x=\"10\" y=\"40\" font-family=\"sans-serif\" font-size=\"30\">Throughput</text></svg>";
        let p = decode(&svg_to_png("t", with_text).unwrap());
        assert_eq!((p.width(), p.height()), (400, 120));
        assert_eq!(rgb(&p, 399, 0), (255, 255, 255), "white background");
        let dark = dark_pixels(&p, 0, 120);
        assert!(dark > 800, "the text was not drawn: {dark} dark px");
        // the same text in a family nobody has still falls back to DejaVu Sans
        let odd = with_text.replace("sans-serif", "No Such Font");
        assert!(dark_pixels(&decode(&svg_to_png("t", &odd).unwrap()), 0, 120) > 800);
    }

    #[test]
    fn bad_or_huge_svg_is_an_error_naming_the_plot() {
        let e = svg_to_png("heatmap", "<svg").unwrap_err();
        assert_eq!(e.title, "heatmap.png");
        assert!(e.to_string().contains("does not parse"), "{e}");
        let huge = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10000\" height=\"10000\"></svg>";
        let e = svg_to_png("timeline_run_1", huge).unwrap_err();
        assert!(e.to_string().contains("open the SVG instead"), "{e}");
        // too large for twice the size, small enough for once
        let big = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"5000\" height=\"5000\"></svg>";
        let p = decode(&svg_to_png("big", big).unwrap());
        assert_eq!((p.width(), p.height()), (5000, 5000));
    }
}
