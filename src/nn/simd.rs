//! Run-time choice of the SIMD level for the hand-written loops.
//!
//! Kernels are written once as `#[inline(always)]` functions generic over `FMA`, and
//! [`multiversion!`](crate::multiversion) compiles them for AVX-512, AVX2+FMA and the
//! baseline, calling the best one the CPU supports. AVX-512 and AVX2 give identical results
//! (the same fused multiply-adds in the same order); the baseline rounds products separately.

use std::sync::OnceLock;

/// The instruction sets the kernels can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Plain x86-64 (SSE2) or another architecture.
    Base,
    /// AVX2 with fused multiply-add.
    Avx2,
    /// AVX-512F and DQ (with AVX2 and FMA).
    Avx512,
}

/// The best level this CPU supports, detected once.
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

fn detect() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        if fma && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq") {
            return Level::Avx512;
        }
        if fma {
            return Level::Avx2;
        }
    }
    Level::Base
}

/// `a * b + c`, fused when `FMA` (only instantiated where the CPU has FMA).
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Defines `$vis fn $name(args) -> ret` that calls `$imp::<FMA>(args)` compiled for the best
/// SIMD level of the CPU (see [`level`]).
#[macro_export]
#[doc(hidden)]
macro_rules! multiversion {
    ($(#[$m:meta])* $vis:vis fn $name:ident($($a:ident: $t:ty),* $(,)?) $(-> $r:ty)? => $imp:ident) => {
        $(#[$m])*
        $vis fn $name($($a: $t),*) $(-> $r)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
                unsafe fn v4($($a: $t),*) $(-> $r)? { $imp::<true>($($a),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn v3($($a: $t),*) $(-> $r)? { $imp::<true>($($a),*) }
                match $crate::nn::simd::level() {
                    // SAFETY: `level()` checked at run time that the CPU has these features.
                    $crate::nn::simd::Level::Avx512 => return unsafe { v4($($a),*) },
                    // SAFETY: as above.
                    $crate::nn::simd::Level::Avx2 => return unsafe { v3($($a),*) },
                    $crate::nn::simd::Level::Base => {}
                }
            }
            $imp::<false>($($a),*)
        }
    };
}
