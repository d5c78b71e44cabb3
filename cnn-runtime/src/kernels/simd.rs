//! Wider vectors where the CPU has them. The crate is built for baseline
//! x86-64 (SSE2), so a loop that the compiler vectorizes runs 4 lanes wide;
//! `vectorized` runs it compiled for AVX2 (8 lanes) when the CPU says it
//! has AVX2, and as built otherwise. Only additions, subtractions and
//! multiplications by exact constants run this way: Rust never fuses a
//! multiply and an add on its own, so the results are bitwise the same on
//! every path.

/// `f()`, compiled with AVX2 enabled when this CPU supports it.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX2 (checked just above), the only
        // requirement of calling a function compiled for it.
        return unsafe { avx2(f) };
    }
    f()
}

/// `f()`, compiled with AVX-512 (F and DQ) enabled when this CPU supports
/// them: for integer hashing, whose 64-bit multiplies only vectorize with
/// AVX-512DQ. Integer arithmetic is exact, so every path agrees.
#[inline(always)]
pub fn vectorized_u64<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512dq") {
        #[target_feature(enable = "avx512f,avx512dq")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        // SAFETY: the CPU supports AVX-512F and DQ (checked just above).
        return unsafe { avx512(f) };
    }
    f()
}
