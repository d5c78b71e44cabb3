//! A user's own images (PNG), resized to a network's input and scaled to
//! [0, 1], for prediction.

use crate::error::{Error, Result};
use std::path::Path;

/// Reads each PNG, resizes it to `shape`'s height and width (triangle
/// filter) and returns the batch, NHWC in [0, 1]. `shape[2]` is 3 (RGB) or
/// 1 (grey).
pub fn load_images(paths: &[impl AsRef<Path>], shape: [usize; 3]) -> Result<Vec<f32>> {
    let [h, w, c] = shape;
    if c != 1 && c != 3 {
        return Err(Error::Input(format!("images can be read for 1 or 3 channels, not {c}")));
    }
    let mut batch = Vec::with_capacity(paths.len() * h * w * c);
    for path in paths {
        let path = path.as_ref();
        let image = image::open(path).map_err(|e| Error::format(path, format!("not a readable image: {e}")))?;
        let image = image.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
        let bytes = if c == 3 { image.to_rgb8().into_raw() } else { image.to_luma8().into_raw() };
        batch.extend(bytes.iter().map(|&v| v as f32 * (1.0 / 255.0)));
    }
    Ok(batch)
}

/// The `k` most probable classes of one output, best first.
pub fn top_k(probs: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probs.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    ranked
}
