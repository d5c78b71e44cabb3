//! The seed article's whole example: the Keras CIFAR-10 network, trained
//! with RMSprop(lr = 1e-4, decay = 1e-6), batch 32, categorical
//! cross-entropy and accuracy, evaluated on the test set after each epoch.
//!
//! `cargo run --release --example cifar10 -- --help` lists the options.

#[path = "cli/mod.rs"]
mod cli;
#[path = "seed_net/mod.rs"]
mod seed_net;

use cnn::prelude::*;
use lexopt::ValueExt;
use seed_net::Cifar10Net;
use std::process::ExitCode;

const HELP: &str = "\
Train the Keras CIFAR-10 example network on CIFAR-10.

Usage: cargo run --release --example cifar10 -- [OPTIONS]

Options:
  --data PATH         CIFAR-10: a folder of the binary batch files, or the official
                      cifar-10-binary.tar.gz (default: download it once into $CNN_DATA,
                      else ~/.cache/cnn)
  --epochs N          epochs to train (default 200, as in the seed)
  --batch-size N      images per batch (default 32)
  --lr X              RMSprop learning rate (default 1e-4)
  --decay X           learning-rate decay per step (default 1e-6)
  --augment           random shifts (10%) and horizontal flips, as the Keras example
  --limit N           train on the first N training images only
  --threads N         worker threads (default: one per core)
  --seed N            weights, shuffling, dropout and augmentation (default 0)
  --out DIR           checkpoint, history.csv, history.svg and model.safetensors
                      (default runs/cifar10)
  --resume            continue from DIR's checkpoint
  --min-accuracy X    fail unless the final test accuracy is at least X (for CI)
  -h, --help          this text";

/// The options of this example's own.
struct Own {
    batch_size: usize,
    lr: f32,
    decay: f32,
    augment: bool,
}

type Args = cli::Args<Own>;

fn parse_args() -> Result<Option<Args>, lexopt::Error> {
    let own = Own { batch_size: 32, lr: 1e-4, decay: 1e-6, augment: false };
    cli::parse(cli::Common::new(200, "runs/cifar10"), own, |own, name, parser| {
        match name {
            "batch-size" => own.batch_size = parser.value()?.parse()?,
            "lr" => own.lr = parser.value()?.parse()?,
            "decay" => own.decay = parser.value()?.parse()?,
            "augment" => own.augment = true,
            _ => return Ok(false),
        }
        Ok(true)
    })
}

fn run(Args { common: args, own }: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.start_threads()?;
    print!("{}", Cifar10Net::summary());
    let data = args.cifar10()?;
    let train = data.train;
    println!("Training on {} images, validating on {} test images.", train.len(), data.test.len());

    let mut net = Cifar10Net::new(args.seed);
    let mut opt = RmsProp::new(own.lr).decay(own.decay);
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: own.batch_size,
        seed: args.seed,
        augment: own.augment.then(Augment::default),
        verbosity: Verbosity::Auto,
        out_dir: Some(args.out.clone()),
        resume: args.resume,
        ..FitOptions::default()
    };
    let history = net.fit(&mut opt, &train, Some(&data.test), &options)?;
    let test = net.evaluate(&data.test, 256)?;
    let model = args.out.join("model.safetensors");
    net.save(&model)?;
    let seconds = history.seconds();
    println!("Test loss: {:.4} - test accuracy: {:.4}", test.loss, test.accuracy);
    println!(
        "{} in {:.0}s; weights in {}, history in {}",
        cli::count(history.epochs.len(), "epoch", "epochs"),
        seconds,
        model.display(),
        args.out.join("history.csv").display()
    );
    cli::require("cifar10", test.accuracy, args.min_accuracy)?;
    Ok(())
}

fn main() -> ExitCode {
    cli::main(HELP, parse_args, run)
}
