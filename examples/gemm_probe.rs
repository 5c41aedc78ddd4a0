use redblue::native::dense::{matmul, Mat};
use std::time::Instant;
fn main() {
    let (d, h) = (784usize, 625usize);
    let w1: Vec<f32> = (0..d * h).map(|i| (i % 13) as f32 * 0.01).collect();
    let w1t: Vec<f32> = { let mut t = vec![0.0; d*h]; for p in 0..d { for j in 0..h { t[j*d+p] = w1[p*h+j]; } } t };
    for &m in &[128usize, 250, 500, 1000] {
        let x: Vec<f32> = (0..m * d).map(|i| (i % 7) as f32 * 0.1).collect();
        let g: Vec<f32> = (0..m * h).map(|i| (i % 5) as f32 * 0.1).collect();
        let mut z = vec![0.0f32; m * h];
        let mut gx = vec![0.0f32; m * d];
        let mut dw = vec![0.0f32; d * h];
        let reps = 4000 / m * 5;
        let fl = 2.0 * (m * d * h) as f64 * reps as f64 / 1e9;
        let t = Instant::now(); for _ in 0..reps { matmul(Mat::new(&x, m, d), Mat::new(&w1, d, h), &mut z, false); }
        let a = fl / t.elapsed().as_secs_f64();
        let t = Instant::now(); for _ in 0..reps { matmul(Mat::new(&g, m, h), Mat::new(&w1, d, h).t(), &mut gx, false); }
        let b = fl / t.elapsed().as_secs_f64();
        let t = Instant::now(); for _ in 0..reps { matmul(Mat::new(&g, m, h), Mat::new(&w1t, h, d), &mut gx, false); }
        let c = fl / t.elapsed().as_secs_f64();
        let t = Instant::now(); for _ in 0..reps { matmul(Mat::new(&x, m, d).t(), Mat::new(&g, m, h), &mut dw, true); }
        let e = fl / t.elapsed().as_secs_f64();
        println!("m={m}: X·W1 {a:.0}  G·W1ᵀ(view) {b:.0}  G·W1T(copy) {c:.0}  Xᵀ·G {e:.0} GFLOP/s");
    }
}
