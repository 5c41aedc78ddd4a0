//! Font and text tests: glyph coverage and distinctness, text boxes,
//! scaling, rotation and metrics.

use super::{count_all, count_in};
use crate::figure::font::{glyph, ink, GLYPHS, GLYPH_HEIGHT, GLYPH_WIDTH, UNKNOWN};
use crate::figure::{Canvas, WHITE};
use std::collections::HashSet;

const INK: [u8; 3] = [200, 0, 100];

fn render(text: &str, scale: usize) -> Canvas {
    let w = Canvas::text_width(text, scale).max(1);
    let h = Canvas::text_height(text, scale).max(1);
    let mut c = Canvas::new(w, h, WHITE).unwrap();
    c.draw_text(0, 0, text, scale, INK);
    c
}

#[test]
fn text_metrics() {
    assert_eq!(Canvas::text_width("", 2), 0);
    assert_eq!(Canvas::text_height("", 2), 0);
    assert_eq!(Canvas::text_width("abc", 1), 17);
    assert_eq!(Canvas::text_width("abc", 2), 34);
    assert_eq!(Canvas::text_height("abc", 2), 18);
    assert_eq!(Canvas::text_width("a\nbcd", 2), 34, "widest line");
    assert_eq!(Canvas::text_height("a\nbcd", 2), (11 + 9) * 2);
    assert_eq!(Canvas::text_width("\u{e9}t\u{e9}", 1), 17, "counted in chars, not bytes");
}

#[test]
fn draw_text_stays_inside_its_box() {
    for (text, scale) in [("Ag,?", 2), ("pred 7 (0.98)", 1), ("x_y\n[j|q]", 3), ("~'\"%", 2)] {
        let (w, h) = (Canvas::text_width(text, scale), Canvas::text_height(text, scale));
        let (x0, y0) = (7usize, 5usize);
        let mut c = Canvas::new(w + 20, h + 20, WHITE).unwrap();
        c.draw_text(x0 as i64, y0 as i64, text, scale, INK);
        let inside = count_in(&c, INK, x0, y0, x0 + w, y0 + h);
        assert!(inside > 0, "{text:?} drew nothing");
        assert_eq!(inside, count_all(&c, INK), "{text:?} drew outside its box");
    }
}

#[test]
fn every_printable_glyph_has_ink_inside_its_cell() {
    for code in 33u8..=126 {
        let c = render(&char::from(code).to_string(), 1);
        assert_eq!((c.width, c.height), (GLYPH_WIDTH, GLYPH_HEIGHT));
        assert!(count_all(&c, INK) > 0, "glyph {:?} is blank", char::from(code));
    }
    assert_eq!(count_all(&render(" ", 1), INK), 0, "space is blank");
}

#[test]
fn all_95_glyphs_are_pairwise_distinct() {
    let bitmaps: HashSet<Vec<[u8; 3]>> =
        (32u8..=126).map(|code| render(&char::from(code).to_string(), 1).pixels().to_vec()).collect();
    assert_eq!(bitmaps.len(), 95);
    let raw: HashSet<_> = GLYPHS.iter().collect();
    assert_eq!(raw.len(), 95);
    assert!(!raw.contains(&UNKNOWN), "the unknown-glyph box must not look like a real glyph");
}

#[test]
fn unknown_characters_render_as_a_box() {
    for c in ['\u{e9}', '\u{263a}', '\t', '\u{7f}'] {
        assert_eq!(glyph(c), &UNKNOWN);
    }
    let c = render("\u{263a}", 1);
    for x in 0..GLYPH_WIDTH {
        assert_eq!(c.get(x, 0), Some(INK), "top edge");
        assert_eq!(c.get(x, 6), Some(INK), "bottom edge");
    }
    assert_eq!(c.get(2, 3), Some(WHITE), "hollow inside");
}

#[test]
fn scale_two_doubles_every_font_pixel() {
    let s1 = render("Rg5%", 1);
    let s2 = render("Rg5%", 2);
    assert_eq!((s2.width, s2.height), (s1.width * 2, s1.height * 2));
    for y in 0..s2.height {
        for x in 0..s2.width {
            assert_eq!(s2.get(x, y), s1.get(x / 2, y / 2), "({x}, {y})");
        }
    }
}

#[test]
fn glyph_table_matches_ink_helper() {
    let g = glyph('T');
    assert!((0..GLYPH_WIDTH).all(|x| ink(g, x, 0)), "T has a full top bar");
    assert!((1..7).all(|y| ink(g, 2, y) && !ink(g, 0, y)), "T has a centred stem");
    assert!(!ink(g, GLYPH_WIDTH, 0) && !ink(g, 0, GLYPH_HEIGHT), "out of cell is never ink");
}

#[test]
fn upward_text_is_the_horizontal_text_rotated() {
    let text = "Lg?";
    let (w, h) = (Canvas::text_width(text, 1), Canvas::text_height(text, 1));
    let horiz = render(text, 1);
    let mut up = Canvas::new(h, w, WHITE).unwrap();
    up.draw_text_up(0, 0, text, 1, INK);
    assert_eq!(count_all(&up, INK), count_all(&horiz, INK));
    for v in 0..h {
        for u in 0..w {
            assert_eq!(horiz.get(u, v), up.get(v, w - 1 - u), "u = {u}, v = {v}");
        }
    }
}

#[test]
fn scale_zero_and_far_away_text_draw_nothing_without_panicking() {
    let mut c = Canvas::new(30, 30, WHITE).unwrap();
    c.draw_text(0, 0, "abc", 0, INK);
    c.draw_text(i64::MAX - 3, i64::MIN, "abc", 1000, INK);
    c.draw_text_up(i64::MIN, i64::MAX, "abc", usize::MAX, INK);
    assert_eq!(count_all(&c, INK), 0);
}
