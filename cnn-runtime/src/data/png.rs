//! A user's own images (PNG), resized to a network's input and scaled to
//! [0, 1], for prediction.
//!
//! Decoding is the `png` crate's (image-rs's own decoder, without the
//! `image` crate's codecs and colour management, which took a third of a
//! clean build); the resize is a separable triangle filter, as `image`'s
//! `FilterType::Triangle`.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads each PNG, resizes it to `shape`'s height and width (triangle
/// filter) and returns the batch, NHWC in [0, 1]. `shape[2]` is 3 (RGB) or
/// 1 (grey). Any PNG colour type and depth is read: a palette is expanded,
/// 16-bit samples keep their high byte, alpha is dropped, grey becomes
/// RGB by repetition and colour becomes grey by Rec. 709 luma.
pub fn load_images(paths: &[impl AsRef<Path>], shape: [usize; 3]) -> Result<Vec<f32>> {
    let [h, w, c] = shape;
    if c != 1 && c != 3 {
        return Err(Error::Input(format!("images can be read for 1 or 3 channels, not {c}")));
    }
    let mut batch = Vec::with_capacity(paths.len() * h * w * c);
    for path in paths {
        let path = path.as_ref();
        let (pixels, size) = decode(path, c)?;
        batch.extend(resize(&pixels, size, (h, w), c));
    }
    Ok(batch)
}

/// The image at `path` as `channels` (1 or 3) values per pixel in [0, 1],
/// and its (height, width).
fn decode(path: &Path, channels: usize) -> Result<(Vec<f32>, (usize, usize))> {
    let unreadable = |e: &dyn std::fmt::Display| Error::format(path, format!("not a readable image: {e}"));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| unreadable(&e))?;
    let mut buf = vec![0; reader.output_buffer_size().ok_or_else(|| unreadable(&"too large"))?];
    let info = reader.next_frame(&mut buf).map_err(|e| unreadable(&e))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let (colour, alpha) = match info.color_type {
        png::ColorType::Grayscale => (false, false),
        png::ColorType::GrayscaleAlpha => (false, true),
        png::ColorType::Rgb => (true, false),
        png::ColorType::Rgba => (true, true),
        png::ColorType::Indexed => return Err(unreadable(&"palette left unexpanded")),
    };
    let stride = if colour { 3 } else { 1 } + usize::from(alpha);
    let scale = 1.0 / 255.0;
    let mut pixels = Vec::with_capacity(width * height * channels);
    for row in buf[..info.buffer_size()].chunks_exact(info.line_size) {
        for px in row[..width * stride].chunks_exact(stride) {
            let v = |i: usize| px[i] as f32 * scale;
            match (colour, channels) {
                (true, 3) => pixels.extend([v(0), v(1), v(2)]),
                (true, _) => pixels.push(0.2126 * v(0) + 0.7152 * v(1) + 0.0722 * v(2)),
                (false, 3) => pixels.extend([v(0); 3]),
                (false, _) => pixels.push(v(0)),
            }
        }
    }
    Ok((pixels, (height, width)))
}

/// `pixels` (`from` = (height, width), `c` values per pixel) resized to
/// `to` with a triangle filter, widths first.
fn resize(pixels: &[f32], from: (usize, usize), to: (usize, usize), c: usize) -> Vec<f32> {
    let (fh, fw) = from;
    let (th, tw) = to;
    let across = weights(fw, tw);
    let mut rows = vec![0.0; fh * tw * c];
    for y in 0..fh {
        for (x, taps) in across.iter().enumerate() {
            for &(i, wt) in taps {
                for k in 0..c {
                    rows[(y * tw + x) * c + k] += wt * pixels[(y * fw + i) * c + k];
                }
            }
        }
    }
    let down = weights(fh, th);
    let mut out = vec![0.0; th * tw * c];
    for (y, taps) in down.iter().enumerate() {
        for &(i, wt) in taps {
            for (o, r) in out[y * tw * c..][..tw * c].iter_mut().zip(&rows[i * tw * c..][..tw * c]) {
                *o += wt * r;
            }
        }
    }
    out
}

/// For each of `to` output positions along an axis of `from` inputs, the
/// inputs it reads and their weights (summing to 1): a triangle of radius
/// 1 output pixel, or 1 input pixel when enlarging, centred on the output
/// pixel's centre.
fn weights(from: usize, to: usize) -> Vec<Vec<(usize, f32)>> {
    let ratio = from as f32 / to as f32;
    let support = ratio.max(1.0);
    (0..to)
        .map(|x| {
            let centre = (x as f32 + 0.5) * ratio;
            let first = (centre - support).floor().max(0.0) as usize;
            let last = ((centre + support).ceil() as usize).min(from);
            let mut taps: Vec<(usize, f32)> = (first..last)
                .map(|i| (i, (1.0 - ((i as f32 + 0.5 - centre) / support).abs()).max(0.0)))
                .filter(|&(_, w)| w > 0.0)
                .collect();
            if taps.is_empty() {
                taps.push((((centre as usize).min(from - 1)), 1.0));
            }
            let sum: f32 = taps.iter().map(|t| t.1).sum();
            taps.iter_mut().for_each(|t| t.1 /= sum);
            taps
        })
        .collect()
}

/// The `k` most probable classes of one output, best first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_is_the_identity_and_halving_averages_pairs() {
        let ramp: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert_eq!(resize(&ramp, (1, 8), (1, 8), 1), ramp);
        // Halving: each output centre sits between two inputs, the triangle
        // of radius 2 inputs weighs them 3:3 and their outer neighbours 1:1.
        let half = resize(&ramp, (1, 8), (1, 4), 1);
        let want = [(0.0 * 3.0 + 1.0 * 3.0 + 2.0) / 7.0, 2.5, 4.5, (5.0 + 6.0 * 3.0 + 7.0 * 3.0) / 7.0];
        for (g, w) in half.iter().zip(want) {
            assert!((g - w).abs() < 1e-5, "{half:?}");
        }
    }
}
