//! Keras's `cifar10_resnet.py` end to end: ResNet-20 v1 (`examples/resnet20`,
//! declared as the example builds it), its data and its recipe.
//!
//! - The images scaled to [0, 1], less the training set's mean image
//!   (`subtract_pixel_mean = True`), the test set less the same mean.
//! - Adam(1e-3) with the example's `lr_schedule`: x0.1 after epoch 80,
//!   x0.01 after 120, x0.001 after 160, x0.0005 after 180.
//! - `ReduceLROnPlateau(factor = sqrt(0.1), cooldown = 0, patience = 5,
//!   min_lr = 0.5e-6)` on the test loss, beside the schedule, as in the
//!   example: the schedule sets the rate again at every epoch's start, so,
//!   as in Keras, a reduction lasts only until then.
//! - The example's `ImageDataGenerator`: shifts of up to 10% and
//!   horizontal flips; batch 32; 200 epochs.
//!
//! The example's `ModelCheckpoint(save_best_only = True)` picks the epoch
//! with the best test accuracy; here the test set decides nothing, and
//! `model.safetensors` holds the last epoch's weights.
//!
//! `--resume` continues a run from `--out`'s checkpoint, written after
//! every epoch (a run of 200 epochs takes days on two cores).
//!
//! `cargo run --release --example cifar10_resnet -- --help` lists the options.

#[path = "cli/mod.rs"]
mod cli;
#[path = "resnet20/mod.rs"]
mod resnet20;

use cnn::prelude::*;
use resnet20::ResNet20;
use std::process::ExitCode;
use std::sync::Arc;

const HELP: &str = "\
Train ResNet-20 v1 on CIFAR-10 with the recipe of Keras's cifar10_resnet.py.

Usage: cargo run --release --example cifar10_resnet -- [OPTIONS]

Options:
  --data PATH         CIFAR-10: a folder of the binary batch files, or the official
                      cifar-10-binary.tar.gz (default: download it once into $CNN_DATA,
                      else ~/.cache/cnn)
  --epochs N          epochs to train (default 200, as the example)
  --limit N           train on the first N training images only
  --threads N         worker threads (default: one per core)
  --seed N            weights, shuffling and augmentation (default 0)
  --out DIR           checkpoint, history.csv, history.svg and model.safetensors
                      (default runs/cifar10_resnet)
  --resume            continue from DIR's checkpoint
  --min-accuracy X    fail unless the final test accuracy is at least X (for CI)
  -h, --help          this text";

type Args = cli::Args<()>;

fn parse_args() -> Result<Option<Args>, lexopt::Error> {
    cli::parse(cli::Common::new(200, "runs/cifar10_resnet"), (), |_, _, _| Ok(false))
}

/// The example's `lr_schedule(epoch)`, epochs from 0, in float64 as
/// Python computes it (`fit` stores it in the float32 rate; in float32,
/// `1e-3 * 1e-1` would be one unit in the last place above Keras's rate).
fn lr_schedule(epoch: usize) -> f64 {
    let factor: f64 = match epoch {
        e if e > 180 => 0.5e-3,
        e if e > 160 => 1e-3,
        e if e > 120 => 1e-2,
        e if e > 80 => 1e-1,
        _ => 1.0,
    };
    1e-3 * factor
}

fn run(Args { common: args, .. }: Args) -> Result<(), Box<dyn std::error::Error>> {
    args.start_threads()?;
    print!("{}", ResNet20::summary());
    let data = args.cifar10()?;
    let mean = data.train.pixel_mean();
    let (train, test) = (data.train.minus_mean(&mean)?, data.test.minus_mean(&mean)?);
    println!("Training on {} images, validating on {} test images.", train.len(), test.len());

    let mut net = ResNet20::new(args.seed);
    let mut opt = Adam::new(lr_schedule(0) as f32);
    let plateau = ReduceLROnPlateau::default().factor(0.1f64.sqrt()).cooldown(0).patience(5).min_lr(0.5e-6);
    let options = FitOptions {
        epochs: args.epochs,
        batch_size: 32,
        seed: args.seed,
        augment: Some(Augment::default()),
        out_dir: Some(args.out.clone()),
        resume: args.resume,
        learning_rate: LearningRate::Callbacks(vec![
            LearningRate::PerEpoch(Arc::new(|epoch, _| lr_schedule(epoch))),
            LearningRate::OnPlateau(plateau),
        ]),
        ..FitOptions::default()
    };
    let history = net.fit(&mut opt, &train, Some(&test), &options)?;
    let result = net.evaluate(&test, 256)?;
    let model = args.out.join("model.safetensors");
    net.save(&model)?;
    println!("Test loss: {:.4} - test accuracy: {:.4}", result.loss, result.accuracy);
    let seconds = history.train_seconds();
    println!(
        "{}, {:.0} s of training ({:.0} s an epoch); weights in {}, history in {}",
        cli::count(history.epochs.len(), "epoch", "epochs"),
        seconds,
        seconds / history.epochs.len().max(1) as f64,
        model.display(),
        args.out.join("history.csv").display()
    );
    cli::require("cifar10_resnet", result.accuracy, args.min_accuracy)?;
    Ok(())
}

fn main() -> ExitCode {
    cli::main(HELP, parse_args, run)
}
