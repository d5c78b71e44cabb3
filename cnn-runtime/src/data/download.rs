//! Downloading a file once, with a progress bar, checked against its MD5
//! before it takes its final name: a failed or corrupt download leaves
//! nothing behind.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::Path;

/// Fetches `url` into `dest`, verifying the MD5 hex digest `md5`.
pub fn download(url: &str, dest: &Path, md5: &str) -> Result<()> {
    let tmp = crate::checkpoint::temporary_sibling(dest);
    let result = fetch(url, &tmp, md5).and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn fetch(url: &str, tmp: &Path, md5: &str) -> Result<()> {
    let failed = |message: String| Error::Download { url: url.to_string(), message };
    let mut response = ureq::get(url).call().map_err(|e| failed(e.to_string()))?;
    let length = response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let bar = match length {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("downloading {url}"));
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| failed(format!("after {total} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(|e| Error::io(tmp, e))?;
        total += n as u64;
        bar.set_position(total);
    }
    bar.finish_and_clear();
    if let Some(expected) = length {
        if total != expected {
            return Err(failed(format!("got {total} of {expected} bytes")));
        }
    }
    file.sync_all().map_err(|e| Error::io(tmp, e))?;
    let digest = format!("{:x}", hasher.finalize());
    if digest != md5 {
        return Err(failed(format!("MD5 is {digest}, expected {md5}; the download is corrupt and was removed")));
    }
    Ok(())
}
