//! Helpers shared by the integration tests: reading Keras's reference
//! files, comparing numbers with a stated tolerance, scratch folders.
#![allow(dead_code)]

use cnn::__rt::TensorFile;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh folder `cnn-{name}-{process}-{n}` under the system's temporary
/// folder, removed when the returned guard drops (the callers shadow it with
/// its path, which keeps the guard alive to the end of the test), so that
/// runs leave nothing behind.
///
/// Written here rather than taken from `tempfile`: the examples are built
/// with the dev-dependencies, and `tempfile` (with `rustix`) was about 6 s
/// of CPU in a user's first `cargo build --release --examples`. The
/// process id and a counter keep concurrent tests and runs apart.
pub fn tempdir(name: &str) -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("cnn-{name}-{}-{n}", std::process::id()));
    // A folder left by an earlier process of the same id is stale.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    TempDir(dir)
}

/// A scratch folder, removed with its contents when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file under `tests/data/` (small references copied into the repo).
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A file of `../shared/reference/` (or `$CNN_SHARED/reference/`). Returns
/// `None` only when the shared folder is absent and `CNN_SHARED` is unset,
/// so CI, which sets it, fails instead of skipping.
pub fn shared(path: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("CNN_SHARED") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
            if !dir.exists() {
                eprintln!("skipped: ../shared is absent (set CNN_SHARED to require it)");
                return None;
            }
            dir
        }
    };
    let file = dir.join(path);
    assert!(file.exists(), "{} is missing", file.display());
    Some(file)
}

/// The largest absolute difference; panics (naming `what`) if any value
/// differs by more than `atol + rtol * |want|`.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(d <= atol + rtol * w.abs(), "{what}[{i}]: got {g}, Keras {w} (difference {d})");
        worst = worst.max(d);
    }
    worst
}

pub fn tensor(file: &TensorFile, name: &str) -> Vec<f32> {
    file.f32(name, None).unwrap_or_else(|e| panic!("{e}")).1
}
