//! Grayscale blitting tests: value mapping, NaN, upscaling, validation.

use super::count_all;
use crate::figure::canvas::{gray_to_rgb, NAN_COLOR};
use crate::figure::{Canvas, FigureError, BLACK, WHITE};

const BG: [u8; 3] = [0, 0, 255];

#[test]
fn values_map_to_gray_and_nan_to_red() {
    assert_eq!(gray_to_rgb(1.0), WHITE);
    assert_eq!(gray_to_rgb(0.0), BLACK);
    assert_eq!(gray_to_rgb(0.5), [128, 128, 128]);
    assert_eq!(gray_to_rgb(-3.0), BLACK);
    assert_eq!(gray_to_rgb(7.0), WHITE);
    assert_eq!(gray_to_rgb(f32::INFINITY), WHITE);
    assert_eq!(gray_to_rgb(f32::NEG_INFINITY), BLACK);
    assert_eq!(gray_to_rgb(f32::NAN), NAN_COLOR);
}

#[test]
fn blit_upscales_each_pixel_to_a_square() {
    let mut c = Canvas::new(10, 10, BG).unwrap();
    c.blit_gray(1, 1, &[0.0, 1.0, 0.5, f32::NAN], 2, 2, 3).unwrap();
    let block = |bx: usize, by: usize| -> Vec<[u8; 3]> {
        (0..9).filter_map(|i| c.get(1 + bx * 3 + i % 3, 1 + by * 3 + i / 3)).collect()
    };
    assert_eq!(block(0, 0), vec![BLACK; 9]);
    assert_eq!(block(1, 0), vec![WHITE; 9]);
    assert_eq!(block(0, 1), vec![[128, 128, 128]; 9]);
    assert_eq!(block(1, 1), vec![NAN_COLOR; 9]);
    assert_eq!(count_all(&c, BG), 100 - 36, "exactly 6x6 pixels drawn");
    assert_eq!(c.get(0, 0), Some(BG));
    assert_eq!(c.get(7, 7), Some(BG));
}

#[test]
fn blit_with_upscale_one_is_identity_size() {
    let mut c = Canvas::new(5, 5, BG).unwrap();
    c.blit_gray(2, 2, &[1.0; 4], 2, 2, 1).unwrap();
    assert_eq!(count_all(&c, WHITE), 4);
    assert_eq!(c.get(3, 3), Some(WHITE));
    assert_eq!(c.get(4, 4), Some(BG));
}

#[test]
fn blit_validates_buffer_and_upscale() {
    let mut c = Canvas::new(5, 5, BG).unwrap();
    assert!(matches!(c.blit_gray(0, 0, &[0.0; 3], 2, 2, 1), Err(FigureError::BadImage { expected: 4, found: 3 })));
    assert!(matches!(c.blit_gray(0, 0, &[0.0; 4], 2, 2, 0), Err(FigureError::BadUpscale(0))));
    assert!(matches!(c.blit_gray(0, 0, &[], usize::MAX, 2, 1), Err(FigureError::BadImage { .. })));
    assert_eq!(count_all(&c, BG), 25, "failed blits draw nothing");
}

#[test]
fn blit_partially_off_canvas_is_clipped() {
    let mut c = Canvas::new(6, 6, BG).unwrap();
    c.blit_gray(-2, 4, &[1.0; 16], 4, 4, 2).unwrap();
    assert_eq!(count_all(&c, WHITE), 6 * 2, "columns 0..6, rows 4..6");
    c.blit_gray(i64::MAX - 1, i64::MIN, &[1.0; 16], 4, 4, 64).unwrap();
}
