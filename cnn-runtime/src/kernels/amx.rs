//! The AMX kernel of the bfloat16 products ([`super::bf16`]): one 32 x 32
//! block of `C` as four 16 x 16 float32 accumulator tiles on AMX's tile
//! units, summed over the depth from the packed tiles of `A` and `B`.
//!
//! Why AMX where it exists: one `tdpbf16ps` multiplies a 16 x 32 tile of
//! `A` by a 32 x 16 tile of `B` into a 16 x 16 float32 tile, 8,192
//! multiply-adds. On a 2-core Intel Xeon with AMX (2026-12-03) a loop of
//! independent ones ran at 1.3 TFLOP/s a core, against 135-144 GFLOP/s
//! for AVX-512's float32 multiply-adds, and against about two thirds of
//! that for AVX512_BF16's `vdpbf16ps` ([`super::dpbf16`]).

#[cfg(target_arch = "x86_64")]
use super::bf16::{Accumulators, STRIDE, TK, TM};
#[cfg(target_arch = "x86_64")]
use std::arch::{asm, x86_64::__cpuid_count};
use std::sync::OnceLock;

/// The 64-byte operand of `ldtilecfg` (Intel SDM vol. 1, 3.2): palette 1,
/// and each tile's rows and bytes a row.
#[cfg(target_arch = "x86_64")]
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// Every tile here is 16 rows of 64 bytes: accumulators 0-3, `A` 4-5, `B` 6-7.
#[cfg(target_arch = "x86_64")]
const CONFIG: TileConfig = {
    let mut config = TileConfig { palette: 1, start_row: 0, reserved: [0; 14], bytes_per_row: [0; 16], rows: [0; 16] };
    let mut tile = 0;
    while tile < 8 {
        config.bytes_per_row[tile] = STRIDE as u16;
        config.rows[tile] = TM as u8;
        tile += 1;
    }
    config
};

/// Whether this CPU can run [`block`], and this process may: AMX-TILE
/// and AMX-BF16, AVX-512 with BW and BF16 (the packing), and Linux's
/// permission to use the tile registers, asked for once per process.
pub fn supported() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| super::dpbf16::supported() && cpu_has_amx() && request_tile_permission())
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_amx() -> bool {
    // CPUID leaf 7 exists wherever AVX-512 does (checked first by
    // `supported`). EDX bit 22: AMX-BF16; bit 24: AMX-TILE (Intel SDM
    // vol. 2A, CPUID).
    let leaf7 = __cpuid_count(7, 0);
    leaf7.edx & (1 << 22) != 0 && leaf7.edx & (1 << 24) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_amx() -> bool {
    false
}

/// Linux gives a process the tile registers' state only after
/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)` (since 5.16); a
/// tile instruction before it faults. The permission covers every thread
/// of the process, those started later included.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn request_tile_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: the arch_prctl system call with an integer request and
    // argument; it reads and writes no memory of ours. `syscall` clobbers
    // rcx and r11, declared here.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn request_tile_permission() -> bool {
    false
}

/// Sets this thread's tiles to 16 rows of 64 bytes, before [`block`].
///
/// # Safety
///
/// [`supported`] returned true in this process.
#[cfg(target_arch = "x86_64")]
pub unsafe fn configure() {
    // SAFETY: tile instructions may run (the contract); `ldtilecfg` reads
    // the 64 bytes of CONFIG.
    unsafe { asm!("ldtilecfg [{0}]", in(reg) &CONFIG, options(nostack, readonly)) };
}

/// Hands the tile state back after the last [`block`], so that the
/// thread does not carry it through every later context switch.
///
/// # Safety
///
/// [`supported`] returned true in this process.
#[cfg(target_arch = "x86_64")]
pub unsafe fn release() {
    // SAFETY: tile instructions may run (the contract); it touches no memory.
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// `acc` = the 32 x 32 block of `A B` whose two row tiles of `A` start at
/// `a[0]` and `a[1]` and whose two column tiles of `B` start at `b[0]` and
/// `b[1]`, each `depth_tiles` tiles of 16 lines of 64 bytes, one after
/// the other along the depth ([`super::bf16`]'s layout).
///
/// # Safety
///
/// [`configure`] ran on this thread since the last [`release`]; each of
/// the four pointers leads `depth_tiles` whole tiles inside its allocation.
#[cfg(target_arch = "x86_64")]
pub unsafe fn block(a: [*const u16; 2], b: [*const u16; 2], depth_tiles: usize, acc: &mut Accumulators) {
    let tile = TM * TK;
    // SAFETY (every `asm!` here): tiles configured (the contract); every
    // tile loaded lies inside A's or B's tiles (the contract), 16 rows of
    // 64 bytes from its first value; the stores write the 4 KiB of `acc`.
    unsafe { asm!("tilezero tmm0", "tilezero tmm1", "tilezero tmm2", "tilezero tmm3", options(nostack, nomem)) };
    for p in 0..depth_tiles {
        unsafe {
            asm!(
                "tileloadd tmm4, [{a0} + {s}*1]",
                "tileloadd tmm5, [{a1} + {s}*1]",
                "tileloadd tmm6, [{b0} + {s}*1]",
                "tileloadd tmm7, [{b1} + {s}*1]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                a0 = in(reg) a[0].add(p * tile),
                a1 = in(reg) a[1].add(p * tile),
                b0 = in(reg) b[0].add(p * tile),
                b1 = in(reg) b[1].add(p * tile),
                s = in(reg) STRIDE,
                options(nostack, readonly),
            )
        };
    }
    let out = acc.0.as_mut_ptr();
    unsafe {
        asm!(
            "tilestored [{o} + {s}*1], tmm0",
            "tilestored [{o1} + {s}*1], tmm1",
            "tilestored [{o2} + {s}*1], tmm2",
            "tilestored [{o3} + {s}*1], tmm3",
            o = in(reg) out,
            o1 = in(reg) out.add(TM * TM),
            o2 = in(reg) out.add(2 * TM * TM),
            o3 = in(reg) out.add(3 * TM * TM),
            s = in(reg) STRIDE,
            options(nostack),
        )
    };
}
