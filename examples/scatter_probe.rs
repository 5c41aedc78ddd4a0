use redblue::native::sparse::{scatter_times, transposed_times, SparseRows};
use std::time::Instant;
fn main() {
    let (n, d, h) = (128usize, 784usize, 625usize);
    let mut x = vec![0.0f32; n * d];
    let mut s: u64 = 1;
    for v in x.iter_mut() { s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); if (s >> 33) % 100 < 15 { *v = 0.5; } }
    let w: Vec<f32> = (0..d * h).map(|i| (i % 7) as f32 * 0.01).collect();
    let rows = SparseRows::from_dense(&x, d);
    let mut cols = SparseRows::default();
    rows.transpose_into(&mut cols);
    let mut out = vec![0.0f32; n * h];
    let reps = 400;
    let t = Instant::now();
    for _ in 0..reps { scatter_times(&cols, &w, h, &mut out); }
    let e = t.elapsed().as_secs_f64();
    let nnz = rows.nnz() as f64 * reps as f64;
    println!("scatter: nnz/batch {} {:.1} ns/nnz, {:.1} GFLOP/s", rows.nnz(), e / nnz * 1e9, nnz * 2.0 * h as f64 / e / 1e9);
    variants(&rows, &cols, &w, h, &mut out, reps);
    variants2(&rows, &cols, &w, d, h, &mut out, reps);
    let mut g = vec![0.0f32; d * h];
    let t = Instant::now();
    for _ in 0..reps { transposed_times(&cols, &out, h, &mut g); }
    let e = t.elapsed().as_secs_f64();
    println!("gather: {:.1} ns/nnz, {:.1} GFLOP/s", e / nnz * 1e9, nnz * 2.0 * h as f64 / e / 1e9);
    let t = Instant::now();
    for _ in 0..reps { rows.transpose_into(&mut cols); }
    println!("transpose: {:.1} ns/nnz", t.elapsed().as_secs_f64() / nnz * 1e9);
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scatter_raw(xt: &SparseRows, w: &[f32], h: usize, out: &mut [f32]) {
    const B: usize = 64;
    let mut j0 = 0;
    while j0 + B <= h {
        for p in 0..xt.rows() {
            let (a, b) = (xt.ptr[p], xt.ptr[p + 1]);
            if a == b { continue; }
            let wp = w.as_ptr().add(p * h + j0);
            let mut wr = [0.0f32; B];
            for j in 0..B { wr[j] = *wp.add(j); }
            for k in a..b {
                let r = *xt.idx.get_unchecked(k) as usize;
                let v = *xt.val.get_unchecked(k);
                let o = out.as_mut_ptr().add(r * h + j0);
                for j in 0..B { *o.add(j) = v.mul_add(wr[j], *o.add(j)); }
            }
        }
        j0 += B;
    }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn csr_regs(x: &SparseRows, w: &[f32], h: usize, out: &mut [f32]) {
    const B: usize = 64;
    let mut j0 = 0;
    while j0 + B <= h {
        for r in 0..x.rows() {
            let (a, b) = (x.ptr[r], x.ptr[r + 1]);
            let o = out.as_mut_ptr().add(r * h + j0);
            let mut acc = [0.0f32; B];
            for j in 0..B { acc[j] = *o.add(j); }
            for k in a..b {
                let p = *x.idx.get_unchecked(k) as usize;
                let v = *x.val.get_unchecked(k);
                let wp = w.as_ptr().add(p * h + j0);
                for j in 0..B { acc[j] = v.mul_add(*wp.add(j), acc[j]); }
            }
            for j in 0..B { *o.add(j) = acc[j]; }
        }
        j0 += B;
    }
}

pub fn variants(rows: &SparseRows, cols: &SparseRows, w: &[f32], h: usize, out: &mut [f32], reps: usize) {
    let nnz = rows.nnz() as f64 * reps as f64 * 576.0 / 625.0;
    let t = Instant::now();
    for _ in 0..reps { unsafe { scatter_raw(cols, w, h, out) } }
    println!("scatter_raw: {:.1} ns/nnz(625-eq)", t.elapsed().as_secs_f64() / nnz * 1e9);
    let t = Instant::now();
    for _ in 0..reps { unsafe { csr_regs(rows, w, h, out) } }
    println!("csr_regs: {:.1} ns/nnz(625-eq)", t.elapsed().as_secs_f64() / nnz * 1e9);
}

/// W packed as [h/16][d][16]
pub fn pack16(w: &[f32], d: usize, h: usize) -> Vec<f32> {
    let nb = h / 16;
    let mut out = vec![0.0f32; nb * d * 16];
    for b in 0..nb { for p in 0..d { for j in 0..16 { out[(b * d + p) * 16 + j] = w[p * h + b * 16 + j]; } } }
    out
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn csr16(x: &SparseRows, wp: &[f32], d: usize, h: usize, out: &mut [f32]) {
    let nb = h / 16;
    for b in 0..nb {
        let wb = wp.as_ptr().add(b * d * 16);
        for r in 0..x.rows() {
            let (a, e) = (x.ptr[r], x.ptr[r + 1]);
            let mut acc = [[0.0f32; 16]; 4];
            let mut k = a;
            while k + 4 <= e {
                for u in 0..4 {
                    let p = *x.idx.get_unchecked(k + u) as usize;
                    let v = *x.val.get_unchecked(k + u);
                    let wr = wb.add(p * 16);
                    for j in 0..16 { acc[u][j] = v.mul_add(*wr.add(j), acc[u][j]); }
                }
                k += 4;
            }
            while k < e {
                let p = *x.idx.get_unchecked(k) as usize;
                let v = *x.val.get_unchecked(k);
                let wr = wb.add(p * 16);
                for j in 0..16 { acc[0][j] = v.mul_add(*wr.add(j), acc[0][j]); }
                k += 1;
            }
            let o = out.as_mut_ptr().add(r * h + b * 16);
            for j in 0..16 { *o.add(j) += (acc[0][j] + acc[1][j]) + (acc[2][j] + acc[3][j]); }
        }
    }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn gather2(xt: &SparseRows, g: &[f32], h: usize, out: &mut [f32]) {
    const B: usize = 64;
    let mut j0 = 0;
    while j0 + B <= h {
        for p in 0..xt.rows() {
            let (a, e) = (xt.ptr[p], xt.ptr[p + 1]);
            if a == e { continue; }
            let mut acc = [[0.0f32; B]; 2];
            let mut k = a;
            while k + 2 <= e {
                for u in 0..2 {
                    let r = *xt.idx.get_unchecked(k + u) as usize;
                    let v = *xt.val.get_unchecked(k + u);
                    let gr = g.as_ptr().add(r * h + j0);
                    for j in 0..B { acc[u][j] = v.mul_add(*gr.add(j), acc[u][j]); }
                }
                k += 2;
            }
            if k < e {
                let r = *xt.idx.get_unchecked(k) as usize;
                let v = *xt.val.get_unchecked(k);
                let gr = g.as_ptr().add(r * h + j0);
                for j in 0..B { acc[0][j] = v.mul_add(*gr.add(j), acc[0][j]); }
            }
            let o = out.as_mut_ptr().add(p * h + j0);
            for j in 0..B { *o.add(j) += acc[0][j] + acc[1][j]; }
        }
        j0 += B;
    }
}

pub fn variants2(rows: &SparseRows, cols: &SparseRows, w: &[f32], d: usize, h: usize, out: &mut [f32], reps: usize) {
    let t = Instant::now();
    let mut wp = Vec::new();
    for _ in 0..reps { wp = pack16(w, d, h); }
    println!("pack16: {:.1} us", t.elapsed().as_secs_f64() / reps as f64 * 1e6);
    let nnz = rows.nnz() as f64 * reps as f64 * (h / 16 * 16) as f64 / 625.0;
    let t = Instant::now();
    for _ in 0..reps { unsafe { csr16(rows, &wp, d, h, out) } }
    println!("csr16: {:.1} ns/nnz(625-eq)", t.elapsed().as_secs_f64() / nnz * 1e9);
    let mut gg = vec![0.0f32; d * h];
    let nnz = rows.nnz() as f64 * reps as f64 * 576.0 / 625.0;
    let t = Instant::now();
    for _ in 0..reps { unsafe { gather2(cols, out, h, &mut gg) } }
    println!("gather2: {:.1} ns/nnz(625-eq)", t.elapsed().as_secs_f64() / nnz * 1e9);
}
