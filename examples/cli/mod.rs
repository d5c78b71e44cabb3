//! What the training examples share around their own work: `main`'s
//! handling of `--help` and of errors, where CIFAR-10 comes from, and the
//! `--min-accuracy` check that CI relies on, and counts in words.

use cnn::data::cifar10::{self, Cifar10};
use std::error::Error;
use std::path::Path;
use std::process::ExitCode;

/// Parses the arguments and runs: `--help` prints `help`; a bad argument
/// prints the error and `help` and exits with 2; an error from `run` is
/// printed and fails the process.
pub fn main<A>(
    help: &str,
    parse: fn() -> Result<Option<A>, lexopt::Error>,
    run: fn(A) -> Result<(), Box<dyn Error>>,
) -> ExitCode {
    let args = match parse() {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{help}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{help}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// CIFAR-10 from `--data` (a folder of the binary batch files, or the
/// official archive), else downloaded once into `$CNN_DATA` or
/// `~/.cache/cnn`: a new user's first run needs no flag.
pub fn cifar10(data: Option<&Path>) -> cnn::Result<Cifar10> {
    match data {
        Some(path) => cifar10::load(path),
        None => cifar10::load_or_download(&cifar10::cache_dir()).map_err(|e| match e {
            cnn::Error::Download { url, message } => {
                cnn::Error::Download { url, message: format!("{message} (then pass the archive with --data PATH)") }
            }
            e => e,
        }),
    }
}

/// `--min-accuracy`: an error naming `what` unless `accuracy` is at
/// least `min`.
pub fn require(what: &str, accuracy: f64, min: Option<f64>) -> Result<(), String> {
    match min {
        Some(min) if accuracy < min => Err(format!("{what}: test accuracy {accuracy:.4} is below the required {min}")),
        _ => Ok(()),
    }
}

/// `n` and the noun for that many: "1 epoch", "0 epochs", "2 batches".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
