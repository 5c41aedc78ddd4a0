//! Line plot tests: series pixels, clipping, NaN handling, dashes, validation.

use super::{count_all, count_in, decode};
use crate::figure::{Canvas, FigureError, LinePlot, PlotArea, Series, BLACK, PALETTE};

const MAGENTA: [u8; 3] = [200, 0, 200];
const MARGIN: usize = 3; // markers may overhang the plot area by this much

fn plot(series: Vec<Series>) -> LinePlot {
    LinePlot {
        title: "Accuracy vs epsilon".into(),
        x_label: "epsilon".into(),
        y_label: "accuracy".into(),
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        series,
        width: 640,
        height: 480,
    }
}

fn series(points: Vec<(f64, f64)>, dashed: bool) -> Series {
    Series { name: "attack".into(), points, color: MAGENTA, dashed }
}

/// Colour count inside the plot area (with marker overhang).
fn in_area(c: &Canvas, a: &PlotArea, color: [u8; 3]) -> usize {
    count_in(c, color, a.left - MARGIN, a.top - MARGIN, a.left + a.width + MARGIN, a.top + a.height + MARGIN)
}

/// Colour count right of the plot area, where the legend lives.
fn in_legend(c: &Canvas, a: &PlotArea, color: [u8; 3]) -> usize {
    count_in(c, color, a.left + a.width + MARGIN, 0, c.width, c.height)
}

#[test]
fn series_pixels_appear_in_the_plot_area_and_legend_only() {
    let p = plot(vec![series(vec![(0.0, 0.0), (0.5, 0.8), (1.0, 1.0)], false)]);
    let c = p.render().unwrap();
    let a = p.plot_area().unwrap();
    assert_eq!((c.width, c.height), (640, 480));
    assert!(in_area(&c, &a, MAGENTA) > a.width, "line spans the area");
    assert!(in_legend(&c, &a, MAGENTA) > 0, "legend sample drawn");
    assert_eq!(in_area(&c, &a, MAGENTA) + in_legend(&c, &a, MAGENTA), count_all(&c, MAGENTA));
    // The middle point (0.5, 0.8) is drawn as a marker where the axes map it.
    let x = a.left + (a.width - 1) / 2;
    let y = a.top + ((a.height - 1) as f64 * 0.2).round() as usize;
    assert_eq!(c.get(x, y), Some(MAGENTA));
    // Axes, title and labels are black text/lines outside the area.
    assert!(count_in(&c, BLACK, 0, 0, c.width, a.top - 1) > 0, "title");
    assert!(count_in(&c, BLACK, 0, 0, a.left - 1, c.height) > 0, "y ticks and label");
    assert!(count_in(&c, BLACK, 0, a.top + a.height + 1, c.width, c.height) > 0, "x ticks and label");
}

#[test]
fn segments_are_clipped_at_the_plot_border() {
    let p = plot(vec![series(vec![(-5.0, 0.5), (5.0, 0.5)], false)]);
    let c = p.render().unwrap();
    let a = p.plot_area().unwrap();
    let y = a.top + ((a.height - 1) as f64 * 0.5).round() as usize;
    assert_eq!(c.get(a.left, y), Some(MAGENTA), "reaches the left border");
    assert_eq!(c.get(a.left + a.width - 1, y), Some(MAGENTA), "reaches the right border");
    assert_eq!(in_area(&c, &a, MAGENTA) + in_legend(&c, &a, MAGENTA), count_all(&c, MAGENTA));
    assert_ne!(c.get(a.left - MARGIN - 1, y), Some(MAGENTA), "nothing left of the area");
}

#[test]
fn nan_infinite_and_out_of_range_points_do_not_panic() {
    let pts = vec![
        (f64::NAN, 0.5),
        (0.2, f64::INFINITY),
        (1e300, -1e300),
        (-f64::MAX, f64::MAX),
        (0.3, 0.3),
        (f64::NEG_INFINITY, f64::NAN),
        (2.0, 2.0),
    ];
    let p = plot(vec![series(pts, true)]);
    let c = p.render().unwrap();
    let a = p.plot_area().unwrap();
    assert!(in_area(&c, &a, MAGENTA) > 0, "the one valid point and its segments are drawn");
    assert_eq!(in_area(&c, &a, MAGENTA) + in_legend(&c, &a, MAGENTA), count_all(&c, MAGENTA));

    let only_nan = plot(vec![series(vec![(f64::NAN, f64::NAN); 5], false)]);
    let c = only_nan.render().unwrap();
    assert_eq!(in_area(&c, &a, MAGENTA), 0, "NaN points are skipped");
    assert!(in_legend(&c, &a, MAGENTA) > 0, "but the series is still in the legend");
}

#[test]
fn dashed_series_has_gaps_solid_does_not() {
    let area_row = |dashed: bool| {
        let p = plot(vec![series(vec![(0.0, 0.5), (1.0, 0.5)], dashed)]);
        let (c, a) = (p.render().unwrap(), p.plot_area().unwrap());
        let y = a.top + ((a.height - 1) as f64 * 0.5).round() as usize;
        (count_in(&c, MAGENTA, a.left, y, a.left + a.width, y + 1), a.width)
    };
    let (solid, w) = area_row(false);
    assert_eq!(solid, w);
    let (dashed, w) = area_row(true);
    assert!(dashed > w * 4 / 10 && dashed < w * 8 / 10, "dashed covers {dashed} of {w}");
}

#[test]
fn invalid_ranges_are_rejected() {
    for (x, y) in [
        ((1.0, 1.0), (0.0, 1.0)),
        ((2.0, 1.0), (0.0, 1.0)),
        ((f64::NAN, 1.0), (0.0, 1.0)),
        ((0.0, f64::INFINITY), (0.0, 1.0)),
        ((-f64::MAX, f64::MAX), (0.0, 1.0)),
        ((0.0, 1.0), (0.5, 0.5)),
        ((0.0, 1.0), (0.0, f64::NAN)),
    ] {
        let mut p = plot(vec![]);
        p.x_range = x;
        p.y_range = y;
        let err = p.render().unwrap_err();
        assert!(matches!(err, FigureError::BadRange { .. }), "{x:?} {y:?} gave {err}");
    }
    let mut p = plot(vec![]);
    p.y_range = (3.0, -3.0);
    assert!(matches!(p.render(), Err(FigureError::BadRange { axis: "y", .. })));
}

#[test]
fn invalid_sizes_are_rejected() {
    for (w, h) in [(0, 0), (10, 480), (640, 20), (100_000, 480)] {
        let mut p = plot(vec![]);
        (p.width, p.height) = (w, h);
        assert!(matches!(p.render(), Err(FigureError::BadSize { .. })), "{w}x{h}");
    }
}

#[test]
fn many_series_with_long_names_still_render_inside_the_figure() {
    let many: Vec<Series> = (0..8)
        .map(|i| Series {
            name: format!("series number {i} with a very long descriptive name"),
            points: (0..=10).map(|k| (k as f64 / 10.0, (k * (i + 1)) as f64 / 80.0)).collect(),
            color: PALETTE[i],
            dashed: i % 2 == 1,
        })
        .collect();
    let mut p = plot(many);
    p.width = 320;
    p.height = 200;
    let err = p.render().unwrap_err();
    assert!(matches!(err, FigureError::BadSize { .. }), "legend cannot fit: {err}");
    p.height = 400;
    let c = p.render().unwrap();
    let a = p.plot_area().unwrap();
    assert!(a.left + a.width < c.width && a.top + a.height < c.height);
    for color in PALETTE {
        assert!(in_legend(&c, &a, color) > 0, "{color:?} in legend");
    }
}

#[test]
fn palette_colours_are_distinct_and_not_gray() {
    let set: std::collections::HashSet<_> = PALETTE.iter().collect();
    assert_eq!(set.len(), 8);
    assert!(PALETTE.iter().all(|c| !(c[0] == c[1] && c[1] == c[2])));
}

#[test]
fn rendered_plot_encodes_to_a_decodable_png() {
    let c = plot(vec![series(vec![(0.0, 1.0), (1.0, 0.0)], false)]).render().unwrap();
    let (w, h, ct, _, data) = decode(&c.to_png().unwrap());
    assert_eq!((w, h, ct), (640, 480, png::ColorType::Rgb));
    assert_eq!(data.len(), 640 * 480 * 3);
}
