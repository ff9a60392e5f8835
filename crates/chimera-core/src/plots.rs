//! SVG plots of benchmark results (plotters).
