//! Canvas tests: PNG round trip, size validation, rectangles, lines, clipping.

use super::{count_all, count_in, decode};
use crate::figure::{Canvas, FigureError, MAX_PIXELS, WHITE};

const GREEN: [u8; 3] = [10, 200, 30];

#[test]
fn png_round_trip_keeps_size_type_and_pixels() {
    let mut c = Canvas::new(40, 30, WHITE).unwrap();
    c.fill_rect(10, 5, 8, 6, GREEN);
    let (w, h, ct, depth, data) = decode(&c.to_png().unwrap());
    assert_eq!((w, h), (40, 30));
    assert_eq!(ct, png::ColorType::Rgb);
    assert_eq!(depth, png::BitDepth::Eight);
    assert_eq!(data.len(), 40 * 30 * 3);
    let px = |x: usize, y: usize| [data[(y * 40 + x) * 3], data[(y * 40 + x) * 3 + 1], data[(y * 40 + x) * 3 + 2]];
    assert_eq!(px(14, 8), GREEN, "centre of the filled rect");
    assert_eq!(px(10, 5), GREEN, "top-left corner of the rect");
    assert_eq!(px(17, 10), GREEN, "bottom-right corner of the rect");
    assert_eq!(px(18, 8), WHITE, "just right of the rect");
    assert_eq!(px(14, 11), WHITE, "just below the rect");
    assert_eq!(px(0, 0), WHITE);
    assert_eq!(px(39, 29), WHITE);
    // Decoded pixels equal the canvas everywhere.
    let flat: Vec<u8> = c.pixels().iter().flatten().copied().collect();
    assert_eq!(data, flat);
}

#[test]
fn new_rejects_zero_and_huge_sizes() {
    assert!(matches!(Canvas::new(0, 5, WHITE), Err(FigureError::BadSize { .. })));
    assert!(matches!(Canvas::new(5, 0, WHITE), Err(FigureError::BadSize { .. })));
    assert!(matches!(Canvas::new(MAX_PIXELS + 1, 1, WHITE), Err(FigureError::BadSize { .. })));
    assert!(matches!(Canvas::new(usize::MAX, usize::MAX, WHITE), Err(FigureError::BadSize { .. })));
    let c = Canvas::new(3, 2, [1, 2, 3]).unwrap();
    assert_eq!(c.pixels(), &[[1, 2, 3]; 6]);
}

#[test]
fn to_png_rejects_inconsistent_dimensions() {
    let mut c = Canvas::new(4, 4, WHITE).unwrap();
    c.width = 1000;
    assert!(matches!(c.to_png(), Err(FigureError::Encode(_))));
    assert_eq!(c.get(999, 0), None, "get must not panic on a tampered width");
    c.set(999, 3, GREEN); // must not panic either
    c.width = usize::MAX;
    c.fill_rect(0, 0, 10, 10, GREEN);
    c.draw_text(0, 0, "hi", 1, GREEN);
    c.width = 4;
    c.height = usize::MAX;
    c.fill_rect(0, 0, 10, usize::MAX, GREEN);
    assert_eq!(count_all(&c, GREEN), 16, "drawing is bounded by the real buffer");
}

#[test]
fn out_of_range_coordinates_are_clipped_not_panicking() {
    let mut c = Canvas::new(10, 8, WHITE).unwrap();
    c.set(-1, -1, GREEN);
    c.set(10, 0, GREEN);
    c.set(i64::MAX, i64::MIN, GREEN);
    assert_eq!(count_all(&c, GREEN), 0);
    c.draw_line(i64::MIN, i64::MIN, i64::MIN, i64::MAX, GREEN, 3);
    c.draw_line(-50, -50, -10, -40, GREEN, 1);
    assert_eq!(count_all(&c, GREEN), 0, "lines entirely outside draw nothing");
    c.draw_line(-1_000_000_000_000, 2, 1_000_000_000_000, 2, GREEN, 1);
    assert_eq!(count_in(&c, GREEN, 0, 2, 10, 3), 10, "a huge horizontal line crosses the canvas");
    assert_eq!(count_all(&c, GREEN), 10);
    c.draw_line(3, -1_000_000_000_000, 3, 1_000_000_000_000, GREEN, 1);
    assert_eq!(count_in(&c, GREEN, 3, 0, 4, 8), 8, "a huge vertical line crosses the canvas");
    // Extreme i64 values cannot be represented exactly in f64; they must
    // merely not panic and stay on the line's side of the canvas.
    c.draw_line(i64::MIN, 6, i64::MAX, 6, GREEN, 1);
    c.draw_line(i64::MAX, i64::MIN, i64::MIN, i64::MAX, GREEN, 5);
    c.fill_rect(i64::MIN, i64::MIN, usize::MAX, usize::MAX, GREEN);
    assert_eq!(count_all(&c, GREEN), 80, "a huge rect covers everything");
    let mut c = Canvas::new(10, 8, WHITE).unwrap();
    c.draw_line(i64::MIN, 6, i64::MAX, 6, GREEN, 1);
    assert_eq!(count_all(&c, GREEN), count_in(&c, GREEN, 0, 6, 10, 7), "only row 6 touched");
}

#[test]
fn diagonal_line_hits_exactly_its_pixels() {
    let mut c = Canvas::new(12, 12, WHITE).unwrap();
    c.draw_line(0, 0, 9, 9, GREEN, 1);
    assert_eq!(count_all(&c, GREEN), 10);
    for i in 0..10 {
        assert_eq!(c.get(i, i), Some(GREEN));
    }
    c.draw_line(5, 0, 5, 0, GREEN, 0);
    assert_eq!(c.get(5, 0), Some(WHITE), "thickness 0 draws nothing");
}

#[test]
fn thick_line_covers_its_width() {
    let mut c = Canvas::new(20, 20, WHITE).unwrap();
    c.draw_line(2, 10, 17, 10, GREEN, 3);
    assert_eq!(count_all(&c, GREEN), 16 * 3 + 2 * 3, "3 rows, pen square overhangs by 1 at each end");
    for y in 9..=11 {
        assert_eq!(c.get(10, y), Some(GREEN));
    }
    assert_eq!(c.get(10, 8), Some(WHITE));
    assert_eq!(c.get(10, 12), Some(WHITE));
}

#[test]
fn dashed_line_alternates_dash_and_gap() {
    let mut c = Canvas::new(40, 10, WHITE).unwrap();
    c.draw_dashed_line(0, 5, 39, 5, GREEN, 1, 4, 4);
    assert_eq!(count_all(&c, GREEN), 20);
    for x in 0..40 {
        let expected = if x % 8 < 4 { GREEN } else { WHITE };
        assert_eq!(c.get(x, 5), Some(expected), "x = {x}");
    }
}

#[test]
fn clip_rect_limits_drawing_until_cleared() {
    let mut c = Canvas::new(20, 20, WHITE).unwrap();
    c.set_clip(5, 5, 4, 3);
    c.fill_rect(0, 0, 20, 20, GREEN);
    assert_eq!(count_all(&c, GREEN), 12);
    assert_eq!(count_in(&c, GREEN, 5, 5, 9, 8), 12);
    c.clear_clip();
    c.fill_rect(0, 0, 20, 20, GREEN);
    assert_eq!(count_all(&c, GREEN), 400);
}

#[test]
fn stroke_rect_draws_only_the_outline() {
    let mut c = Canvas::new(10, 10, WHITE).unwrap();
    c.stroke_rect(1, 1, 5, 4, GREEN);
    assert_eq!(count_all(&c, GREEN), 2 * 5 + 2 * 2);
    assert_eq!(c.get(3, 2), Some(WHITE), "interior untouched");
    assert_eq!(c.get(5, 4), Some(GREEN), "bottom-right corner");
}
