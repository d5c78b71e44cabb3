//! Downloading a file once, checked against its MD5 before it takes its
//! final name: a failed or corrupt download leaves nothing behind.
//!
//! The transfer is `curl`'s, run as a program: it ships with macOS,
//! Windows 10 and later and nearly every Linux distribution, and speaks
//! HTTPS with the system's certificates. An HTTP crate with its own TLS
//! (ureq on rustls and ring, as before) was about a quarter of the CPU
//! time of a clean `cargo build --release --examples`, for one download of
//! one file. Where `curl` is missing, the error says so and names the URL
//! to fetch by hand.

use crate::error::{Error, Result};
use md5::{Digest, Md5};
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// Fetches `url` into `dest`, verifying the MD5 hex digest `md5`.
pub fn download(url: &str, dest: &Path, md5: &str) -> Result<()> {
    download_with("curl", url, dest, md5)
}

/// [`download`] with the `curl` program named `curl`.
fn download_with(curl: &str, url: &str, dest: &Path, md5: &str) -> Result<()> {
    let tmp = crate::checkpoint::temporary_sibling(dest);
    let result = fetch(curl, url, &tmp).and_then(|()| check_md5(url, &tmp, md5));
    let result = result.and_then(|()| std::fs::rename(&tmp, dest).map_err(|e| Error::io(dest, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `curl` writes `url` to `tmp`: following redirects, failing on an HTTP
/// error status, trying twice more after a passing failure, with its
/// progress bar where stderr is a terminal (its messages are kept for
/// the error otherwise).
fn fetch(curl: &str, url: &str, tmp: &Path) -> Result<()> {
    let failed = |message: String| Error::Download { url: url.to_string(), message };
    let terminal = std::io::stderr().is_terminal();
    let mut command = Command::new(curl);
    command.args(["--fail", "--location", "--show-error", "--write-out", "%{http_code}"]);
    command.args(["--connect-timeout", "60", "--retry", "2"]);
    command.arg(if terminal { "--progress-bar" } else { "--silent" });
    command.arg("--output").arg(tmp).arg(url);
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    command.stderr(if terminal { Stdio::inherit() } else { Stdio::piped() });
    let output = command.output().map_err(|e| {
        failed(match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("`{curl}`, which downloads it, is not installed: install it, or fetch the URL by hand")
            }
            _ => format!("could not run `{curl}`: {e}"),
        })
    })?;
    if output.status.success() {
        return Ok(());
    }
    let status = String::from_utf8_lossy(&output.stdout).trim().to_string();
    // Its last line is the error; the ones before, warnings of retries.
    let said = String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or("").trim().to_string();
    let mut message = format!("`{curl}` failed ({})", output.status);
    if status.parse::<u16>().is_ok_and(|s| s >= 400) {
        message += &format!(": HTTP status {status}");
    }
    if !said.is_empty() {
        message += &format!(": {said}");
    }
    Err(failed(message))
}

/// Checks the MD5 of the file at `path`, downloaded from `url`, and
/// flushes it to disk before it takes its final name.
fn check_md5(url: &str, path: &Path, md5: &str) -> Result<()> {
    // Opened for writing too: flushing needs it on some systems (Windows).
    let mut file = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let digest = format!("{:x}", hasher.finalize());
    if digest != md5 {
        let message = format!("MD5 is {digest}, expected {md5}; the download is corrupt and was removed");
        return Err(Error::Download { url: url.to_string(), message });
    }
    file.sync_all().map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_curl_is_named_and_leaves_nothing_behind() {
        let dir = std::env::temp_dir().join(format!("cnn-no-curl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("file.bin");
        let url = "https://example.invalid/file.bin";
        let err = download_with("curl-not-installed-here", url, &dest, "0").unwrap_err().to_string();
        assert!(err.contains("curl-not-installed-here") && err.contains("not installed") && err.contains(url), "{err}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing left behind");
        std::fs::remove_dir(&dir).unwrap();
    }
}
