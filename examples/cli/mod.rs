//! What the training examples share around their own work: `main`'s
//! handling of `--help` and of errors, the options they all take and their
//! parsing, where CIFAR-10 comes from, the `--min-accuracy` check that CI
//! relies on, and counts in words.

use cnn::data::cifar10::{self, Cifar10};
use lexopt::ValueExt;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The options every training example takes. Each example's help text
/// lists them with its own defaults (`--epochs` and `--out`).
pub struct Common {
    pub data: Option<PathBuf>,
    pub epochs: usize,
    pub limit: Option<usize>,
    pub threads: Option<usize>,
    pub seed: u64,
    pub out: PathBuf,
    pub resume: bool,
    pub min_accuracy: Option<f64>,
}

impl Common {
    /// The defaults, but for the example's own epochs and output folder.
    pub fn new(epochs: usize, out: &str) -> Self {
        Common {
            data: None,
            epochs,
            limit: None,
            threads: None,
            seed: 0,
            out: PathBuf::from(out),
            resume: false,
            min_accuracy: None,
        }
    }

    /// Takes the option `--name` (and its value) if it is one of these;
    /// `false` if it is not.
    fn take(&mut self, name: &str, parser: &mut lexopt::Parser) -> Result<bool, lexopt::Error> {
        match name {
            "data" => self.data = Some(parser.value()?.into()),
            "epochs" => self.epochs = parser.value()?.parse()?,
            "limit" => self.limit = Some(parser.value()?.parse()?),
            "threads" => self.threads = Some(parser.value()?.parse()?),
            "seed" => self.seed = parser.value()?.parse()?,
            "out" => self.out = parser.value()?.into(),
            "resume" => self.resume = true,
            "min-accuracy" => self.min_accuracy = Some(parser.value()?.parse()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Sets the worker threads to `--threads`, where given (the global
    /// pool can be built once only, so before any work).
    pub fn start_threads(&self) -> Result<(), Box<dyn Error>> {
        if let Some(threads) = self.threads {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build_global()?;
        }
        Ok(())
    }

    /// CIFAR-10 (see [`cifar10`]), its training set cut to `--limit`.
    pub fn cifar10(&self) -> cnn::Result<Cifar10> {
        let data = cifar10(self.data.as_deref())?;
        Ok(match self.limit {
            Some(n) => Cifar10 { train: data.train.take(n), test: data.test },
            None => data,
        })
    }
}

/// An example's command line: the common options and its own.
pub struct Args<Own> {
    pub common: Common,
    pub own: Own,
}

/// Reads the command line into `common` and `own`, which hold the
/// defaults: `take_own` takes an option of the example's own (`--name`
/// without its dashes) and says whether it did; the common options come
/// after. `None` for `--help`; an error for an option neither takes, or
/// for a bad value.
pub fn parse<Own>(
    common: Common,
    own: Own,
    mut take_own: impl FnMut(&mut Own, &str, &mut lexopt::Parser) -> Result<bool, lexopt::Error>,
) -> Result<Option<Args<Own>>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args { common, own };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        let name = match arg {
            Short('h') | Long("help") => return Ok(None),
            Long(name) => name.to_string(),
            _ => return Err(arg.unexpected()),
        };
        if !take_own(&mut args.own, &name, &mut parser)? && !args.common.take(&name, &mut parser)? {
            return Err(lexopt::Error::UnexpectedOption(format!("--{name}")));
        }
    }
    Ok(Some(args))
}

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
