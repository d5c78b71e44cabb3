//! CIFAR-10 in its official binary layout: `data_batch_1.bin` ..
//! `data_batch_5.bin` and `test_batch.bin`, records of one label byte and
//! 3,072 pixel bytes (the R, G and B planes of a 32x32 image), read from a
//! folder or straight from the official `cifar-10-binary.tar.gz`.

use super::Dataset;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
pub const SHAPE: [usize; 3] = [32, 32, 3];
const RECORD: usize = 1 + 3072;
pub const TRAIN_FILES: [&str; 5] =
    ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_FILE: &str = "test_batch.bin";
/// The official archive and its MD5, as published with the data set.
pub const URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const ARCHIVE: &str = "cifar-10-binary.tar.gz";
pub const MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";

/// The training (50,000) and test (10,000) images.
#[derive(Clone, Debug)]
pub struct Cifar10 {
    pub train: Dataset,
    pub test: Dataset,
}

/// Parses one batch file's bytes; `path` names it in errors. Planes are
/// turned into NHWC pixels here, once.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<Dataset> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::format(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD}-byte records (1 label byte + 3072 pixel bytes); \
                 is the file truncated? An official batch file has 30,730,000 bytes",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut images = vec![0u8; n * 3072];
    let mut labels = Vec::with_capacity(n);
    for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
        if record[0] >= 10 {
            return Err(Error::format(path, format!("record {i} has label {}; CIFAR-10 labels are 0..9", record[0])));
        }
        labels.push(record[0]);
        let planes = &record[1..];
        let out = &mut images[i * 3072..][..3072];
        for p in 0..1024 {
            for c in 0..3 {
                out[p * 3 + c] = planes[c * 1024 + p];
            }
        }
    }
    Dataset::new(images, labels, SHAPE)
}

fn read_file(path: &Path) -> Result<Dataset> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_batch(&bytes, path)
}

fn concat(parts: Vec<Dataset>) -> Result<Dataset> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for part in parts {
        labels.extend_from_slice(part.labels());
        images.extend_from_slice(&part.images);
    }
    Dataset::new(images, labels, SHAPE)
}

/// Reads the six batch files from `dir` (the archive's
/// `cifar-10-batches-bin/` folder).
pub fn load_dir(dir: &Path) -> Result<Cifar10> {
    let train = TRAIN_FILES.iter().map(|f| read_file(&dir.join(f))).collect::<Result<Vec<_>>>()?;
    Ok(Cifar10 { train: concat(train)?, test: read_file(&dir.join(TEST_FILE))? })
}

/// Reads the six batch files straight out of `cifar-10-binary.tar.gz`.
pub fn load_archive(path: &Path) -> Result<Cifar10> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut found: Vec<(String, Dataset)> = Vec::new();
    let bad = |e: std::io::Error| Error::format(path, format!("not a readable .tar.gz archive: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if TRAIN_FILES.contains(&name.as_str()) || name == TEST_FILE {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(bad)?;
            found.push((name.clone(), parse_batch(&bytes, &path.join(&name))?));
        }
    }
    let mut take = |name: &str| {
        let at = found.iter().position(|(n, _)| n == name).ok_or_else(|| {
            Error::format(path, format!("the archive has no {name}; expected the official cifar-10-binary.tar.gz"))
        })?;
        Ok::<_, Error>(found.swap_remove(at).1)
    };
    let train = TRAIN_FILES.iter().map(|f| take(f)).collect::<Result<Vec<_>>>()?;
    Ok(Cifar10 { train: concat(train)?, test: take(TEST_FILE)? })
}

/// Reads `path`: a folder of batch files, a folder holding
/// `cifar-10-batches-bin/` or the archive, or the archive itself.
pub fn load(path: &Path) -> Result<Cifar10> {
    if path.is_file() {
        return load_archive(path);
    }
    for dir in [path.to_path_buf(), path.join("cifar-10-batches-bin")] {
        if dir.join(TEST_FILE).is_file() {
            return load_dir(&dir);
        }
    }
    if path.join(ARCHIVE).is_file() {
        return load_archive(&path.join(ARCHIVE));
    }
    Err(Error::format(
        path,
        format!(
            "no CIFAR-10 here: expected {} and {TEST_FILE}, a cifar-10-batches-bin/ folder, or {ARCHIVE}",
            TRAIN_FILES.join(", ")
        ),
    ))
}

/// Where a downloaded archive is kept: `$CNN_DATA`, else
/// `$XDG_CACHE_HOME/cnn`, else `~/.cache/cnn`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CNN_DATA") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("cnn")
}

/// The archive in `cache`, downloaded once (and checked against its MD5)
/// if it is not there yet.
#[cfg(feature = "download")]
pub fn load_or_download(cache: &Path) -> Result<Cifar10> {
    let archive = cache.join(ARCHIVE);
    if !archive.is_file() {
        std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
        super::download::download(URL, &archive, MD5)?;
    }
    load_archive(&archive)
}
