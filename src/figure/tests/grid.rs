//! Image grid tests: canvas size, tile placement, captions, validation.

use super::{count_all, count_in, decode};
use crate::figure::grid::{COL_GAP, MARGIN, ROW_GAP, TEXT_GAP, TEXT_SCALE};
use crate::figure::{Canvas, FigureError, ImageGrid, Tile, BLACK, WHITE};

fn tile(value: f32, caption: &str) -> Tile {
    Tile { pixels: vec![value; 28 * 28], width: 28, height: 28, caption: caption.into() }
}

fn bare_grid(rows: usize, cols: usize, upscale: usize) -> ImageGrid {
    ImageGrid {
        title: String::new(),
        row_labels: vec![],
        col_labels: vec![],
        rows: (0..rows).map(|_| (0..cols).map(|_| tile(1.0, "")).collect()).collect(),
        upscale,
    }
}

#[test]
fn size_follows_from_rows_cols_and_upscale() {
    for (rows, cols, up) in [(1, 1, 1), (2, 3, 4), (3, 2, 2), (1, 5, 3)] {
        let c = bare_grid(rows, cols, up).render().unwrap();
        let cell = 28 * up;
        assert_eq!(c.width, 2 * MARGIN + cols * cell + (cols - 1) * COL_GAP, "{rows}x{cols} @{up}");
        assert_eq!(c.height, 2 * MARGIN + rows * cell + (rows - 1) * ROW_GAP, "{rows}x{cols} @{up}");
        // All-ones tiles are white squares: exactly rows*cols*cell^2 white
        // pixels inside the tile areas, framed in gray.
        let (x0, y0) = (MARGIN, MARGIN);
        assert_eq!(count_in(&c, WHITE, x0, y0, x0 + cell, y0 + cell), cell * cell);
        assert_ne!(c.get(x0 - 1, y0 - 1), Some(WHITE), "tile frame");
    }
    let small = bare_grid(2, 3, 2).render().unwrap();
    let big = bare_grid(2, 3, 4).render().unwrap();
    assert_eq!(big.width - small.width, 3 * 28 * 2);
    assert_eq!(big.height - small.height, 2 * 28 * 2);
}

#[test]
fn tiles_are_upscaled_nearest_neighbour() {
    let mut g = bare_grid(1, 1, 4);
    let mut px = vec![0.0f32; 28 * 28];
    px[0] = 1.0; // top-left pixel white, rest black
    g.rows[0][0].pixels = px;
    let c = g.render().unwrap();
    assert_eq!(count_in(&c, WHITE, MARGIN, MARGIN, MARGIN + 4, MARGIN + 4), 16);
    assert_eq!(c.get(MARGIN + 4, MARGIN), Some(BLACK));
    assert_eq!(c.get(MARGIN, MARGIN + 4), Some(BLACK));
}

#[test]
fn labels_title_and_captions_widen_and_heighten_the_figure_without_overlap() {
    let caption = "pred 7 (0.98)";
    let g = ImageGrid {
        title: "Adversarial examples".into(),
        row_labels: vec!["clean".into(), "PGD\n40 steps".into()],
        col_labels: vec!["#0".into(), "#1".into(), "#2".into()],
        rows: (0..2).map(|_| (0..3).map(|_| tile(1.0, caption)).collect()).collect(),
        upscale: 1,
    };
    let c = g.render().unwrap();
    let cap_w = Canvas::text_width(caption, TEXT_SCALE);
    let label_w = Canvas::text_width("40 steps", TEXT_SCALE);
    assert!(cap_w > 28, "caption wider than a tile");
    assert_eq!(c.width, 2 * MARGIN + label_w + COL_GAP + 3 * cap_w + 2 * COL_GAP);
    let text_h = Canvas::text_height("X", TEXT_SCALE);
    let title_h = text_h + MARGIN;
    let header_h = text_h + TEXT_GAP;
    let row_h = 28 + TEXT_GAP + text_h;
    assert_eq!(c.height, 2 * MARGIN + title_h + header_h + 2 * row_h + ROW_GAP);
    // Text is black; tiles are white with gray frames. The tile area of the
    // first cell contains no black (no text over the image).
    let tx = MARGIN + label_w + COL_GAP + (cap_w - 28) / 2;
    let ty = MARGIN + title_h + header_h;
    assert_eq!(count_in(&c, WHITE, tx, ty, tx + 28, ty + 28), 28 * 28);
    // Captions, labels, headers and title all drew something.
    assert!(count_in(&c, BLACK, tx, ty + 28, tx + 28, ty + row_h) > 0, "caption under tile");
    assert!(count_in(&c, BLACK, 0, ty, MARGIN + label_w, ty + 28) > 0, "row label");
    assert!(count_in(&c, BLACK, 0, MARGIN + title_h, c.width, ty) > 0, "column headers");
    assert!(count_in(&c, BLACK, 0, 0, c.width, MARGIN + title_h) > 0, "title");
    let (w, h, ct, _, _) = decode(&c.to_png().unwrap());
    assert_eq!((w as usize, h as usize, ct), (c.width, c.height, png::ColorType::Rgb));
}

#[test]
fn mismatched_tile_is_reported_with_its_position() {
    let mut g = bare_grid(2, 3, 2);
    g.rows[1][2].pixels.pop();
    let err = g.render().unwrap_err();
    assert!(matches!(err, FigureError::BadTile { row: 1, col: 2, expected: 784, found: 783 }), "{err}");
    assert!(err.to_string().contains("row 1, column 2"), "{err}");
}

#[test]
fn invalid_grids_are_rejected() {
    assert!(matches!(bare_grid(0, 0, 2).render(), Err(FigureError::EmptyGrid)));
    assert!(matches!(bare_grid(3, 0, 2).render(), Err(FigureError::EmptyGrid)));
    assert!(matches!(bare_grid(1, 1, 0).render(), Err(FigureError::BadUpscale(0))));
    assert!(matches!(bare_grid(1, 1, 1000).render(), Err(FigureError::BadUpscale(1000))));
    let mut g = bare_grid(2, 2, 1);
    g.row_labels = vec!["only one".into()];
    assert!(matches!(g.render(), Err(FigureError::BadLabels { what: "row_labels", expected: 2, found: 1 })));
    let mut g = bare_grid(2, 2, 1);
    g.col_labels = vec!["a".into(), "b".into(), "c".into()];
    assert!(matches!(g.render(), Err(FigureError::BadLabels { what: "col_labels", expected: 2, found: 3 })));
    let mut g = bare_grid(1, 1, 1);
    g.rows[0][0] = Tile { pixels: vec![], width: usize::MAX, height: 2, caption: String::new() };
    assert!(matches!(g.render(), Err(FigureError::BadTile { .. })));
    let mut g = bare_grid(1, 1, 64);
    g.rows[0][0] = Tile { pixels: vec![], width: 1 << 40, height: 0, caption: String::new() };
    assert!(matches!(g.render(), Err(FigureError::BadSize { .. })));
}

#[test]
fn ragged_rows_and_nan_pixels_render() {
    let mut g = bare_grid(2, 3, 1);
    g.rows[1].truncate(1);
    g.rows[1][0].pixels[5] = f32::NAN;
    let c = g.render().unwrap();
    assert_eq!(c.width, 2 * MARGIN + 3 * 28 + 2 * COL_GAP);
    assert_eq!(count_all(&c, [255, 0, 0]), 1, "NaN pixel shown red");
}
