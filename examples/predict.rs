//! The top classes of a trained seed network for your own images.
//!
//! `cargo run --release --example predict -- --weights runs/cifar10/model.safetensors cat.png ship.png`
//!
//! Images of any size are resized to 32x32 (as CIFAR-10's are); the weights
//! may be `model.safetensors` or a `checkpoint.safetensors` from `cifar10`.

#[path = "seed_net/mod.rs"]
mod seed_net;

use cnn::data::cifar10::CLASSES;
use cnn::data::png::{load_images, top_k};
use seed_net::Cifar10Net;
use std::path::PathBuf;
use std::process::ExitCode;

fn run() -> Result<(), Box<dyn std::error::Error>> {
    use lexopt::prelude::*;
    let mut weights = PathBuf::from("runs/cifar10/model.safetensors");
    let mut images: Vec<PathBuf> = Vec::new();
    let mut top = 3;
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("weights") => weights = parser.value()?.into(),
            Long("top") => top = parser.value()?.parse()?,
            Short('h') | Long("help") => {
                println!("Usage: cargo run --release --example predict -- [--weights FILE] [--top K] IMAGE.png...");
                return Ok(());
            }
            Value(path) => images.push(path.into()),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if images.is_empty() {
        return Err("give one or more PNG images to classify".into());
    }
    let net = Cifar10Net::load(&weights)?;
    let probs = net.predict(&load_images(&images, Cifar10Net::INPUT_SHAPE)?);
    for (path, p) in images.iter().zip(probs.chunks(Cifar10Net::OUTPUT_LEN)) {
        let best: Vec<String> =
            top_k(p, top).iter().map(|(c, p)| format!("{} {:.1}%", CLASSES[*c], p * 100.0)).collect();
        println!("{}: {}", path.display(), best.join(", "));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
