//! Dependency-light figure rendering: an RGB canvas with an embedded bitmap
//! font, line plots and image grids, encoded as PNG. Output is byte-for-byte
//! deterministic on every machine (no system fonts, no external crates
//! besides `png`).

pub mod canvas;
pub mod error;
pub mod font;
pub mod grid;
pub mod line;
pub mod plot;
pub mod plot_layout;
pub mod text;
pub mod ticks;

#[cfg(test)]
mod tests;

pub use canvas::{Canvas, BLACK, MAX_PIXELS, WHITE};
pub use error::FigureError;
pub use grid::{ImageGrid, Tile};
pub use plot::{LinePlot, Series, PALETTE};
pub use plot_layout::PlotArea;
pub use ticks::{nice_ticks, Tick};
