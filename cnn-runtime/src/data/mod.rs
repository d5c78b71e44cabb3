//! Data sets of u8 images kept as they are stored and scaled to [0, 1] one
//! batch at a time (then standardized per channel, or less the mean
//! image, where asked), with the Keras example's augmentation and
//! airbench's.

pub mod cifar10;
#[cfg(feature = "download")]
pub mod download;
pub mod png;

use crate::error::{Error, Result};
use crate::rng::{hash2, Rng};
use std::sync::Arc;

/// Labelled images, NHWC `u8`, kept in memory as stored (CIFAR-10's 60,000
/// images take 184 MB rather than 737 MB as f32).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    shape: [usize; 3],
    normalization: Option<Arc<Normalization>>,
}

/// What every value read from a data set goes through after scaling to
/// [0, 1]: `(v - shift[i]) * scale[i]`, `i` its place in the stored image.
/// Applied where a value is read, before any translation or flip moves it,
/// as Keras's example subtracts its mean image before augmenting and
/// airbench standardizes before padding.
#[derive(Clone, Debug, PartialEq)]
struct Normalization {
    shift: Vec<f32>,
    scale: Vec<f32>,
}

/// The Keras example's `ImageDataGenerator(width_shift_range=0.1,
/// height_shift_range=0.1, horizontal_flip=True)`: a shift drawn uniformly
/// from ±10% of the height and of the width, in fractions of a pixel,
/// sampled with bilinear interpolation and edges repeated (Keras's
/// `apply_affine_transform` with `order=1`, `fill_mode="nearest"`), then a
/// horizontal flip half of the time.
///
/// airbench's augmentation instead: `crop = 2` (random crops of the image
/// padded by 2 pixels with reflection: whole-pixel translations by up to 2,
/// Keras's `RandomTranslation(fill_mode = "reflect")`), `shift = 0`, and
/// `alternate_flip`: a random half of the images flip in the first epoch,
/// and each later epoch flips exactly those the one before did not.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub shift: f32,
    pub flip: bool,
    /// Whole-pixel translations up to this many pixels, reflected at the
    /// edges; used where `shift` is 0.
    pub crop: usize,
    /// Flips that alternate by epoch (needs `flip`).
    pub alternate_flip: bool,
}

impl Default for Augment {
    fn default() -> Self {
        Augment { shift: 0.1, flip: true, crop: 0, alternate_flip: false }
    }
}

impl Augment {
    /// airbench94's: reflected crops by up to 2 pixels, alternating flips.
    pub fn airbench() -> Self {
        Augment { shift: 0.0, flip: true, crop: 2, alternate_flip: true }
    }
}

/// What an augmented batch needs beside the options: the epoch's random
/// draws, the epoch (from 1) and the run's seed, which fix each image's
/// alternating flip.
pub struct Pass<'a> {
    pub augment: Augment,
    pub rng: &'a mut Rng,
    pub epoch: usize,
    pub seed: u64,
}

impl Dataset {
    /// `images` holds `labels.len()` images of `shape` (height, width,
    /// channels), NHWC.
    pub fn new(images: Vec<u8>, labels: Vec<u8>, shape: [usize; 3]) -> Result<Self> {
        let len: usize = shape.iter().product();
        if len == 0 || images.len() != labels.len() * len {
            return Err(Error::Input(format!(
                "a data set of {} labels and images of shape {shape:?} needs {} image bytes, got {}",
                labels.len(),
                labels.len() * len,
                images.len()
            )));
        }
        Ok(Dataset { images, labels, shape, normalization: None })
    }

    /// Each channel's mean and standard deviation over every image, in
    /// [0, 1] units: what [`Self::standardized`] takes (airbench's
    /// `CIFAR_MEAN` and `CIFAR_STD` are these of the training set).
    pub fn channel_mean_std(&self) -> (Vec<f32>, Vec<f32>) {
        let c = self.shape[2];
        let (mut sum, mut squares) = (vec![0.0f64; c], vec![0.0f64; c]);
        for (i, &b) in self.images.iter().enumerate() {
            let v = b as f64 / 255.0;
            sum[i % c] += v;
            squares[i % c] += v * v;
        }
        let n = (self.images.len() / c).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = squares.iter().zip(&mean).map(|(q, m)| ((q / n - m * m).max(0.0)).sqrt() as f32).collect();
        (mean.iter().map(|&m| m as f32).collect(), std)
    }

    /// The mean image over the set, in [0, 1] units (NHWC, one value per
    /// pixel and channel): what Keras's ResNet example subtracts
    /// (`subtract_pixel_mean`) with [`Self::minus_mean`].
    pub fn pixel_mean(&self) -> Vec<f32> {
        let len = self.image_len();
        let mut sum = vec![0.0f64; len];
        for image in self.images.chunks_exact(len) {
            sum.iter_mut().zip(image).for_each(|(s, &b)| *s += b as f64);
        }
        let n = self.len().max(1) as f64 * 255.0;
        sum.iter().map(|s| (s / n) as f32).collect()
    }

    /// The set, read from now on as `(v - mean[c]) / std[c]` in each
    /// channel `c` (v in [0, 1]): per-channel standardization, as
    /// torchvision's `Normalize(mean, std)` after `ToTensor`. A mean or
    /// std of the wrong length, or a std that is not positive, is an error.
    pub fn standardized(self, mean: &[f32], std: &[f32]) -> Result<Dataset> {
        let c = self.shape[2];
        if mean.len() != c || std.len() != c || std.iter().any(|&s| s.is_nan() || s <= 0.0) {
            return Err(Error::Input(format!(
                "standardization needs {c} means and {c} positive standard deviations, one per channel; got {mean:?} and {std:?}"
            )));
        }
        let len = self.image_len();
        let shift = (0..len).map(|i| mean[i % c]).collect();
        let scale = (0..len).map(|i| 1.0 / std[i % c]).collect();
        Ok(Dataset { normalization: Some(Arc::new(Normalization { shift, scale })), ..self })
    }

    /// The set, read from now on less `mean` (one value per pixel and
    /// channel, as [`Self::pixel_mean`] gives; the training set's mean
    /// for the test set too, as Keras's example does). A mean of the
    /// wrong length is an error.
    pub fn minus_mean(self, mean: &[f32]) -> Result<Dataset> {
        if mean.len() != self.image_len() {
            return Err(Error::Input(format!(
                "a mean image for {:?} images needs {} values, got {}",
                self.shape,
                self.image_len(),
                mean.len()
            )));
        }
        let scale = vec![1.0; mean.len()];
        Ok(Dataset { normalization: Some(Arc::new(Normalization { shift: mean.to_vec(), scale })), ..self })
    }

    /// Byte `at` of image `src` as the network reads it: scaled to [0, 1],
    /// then normalized where the set is.
    #[inline]
    fn value(&self, src: &[u8], at: usize) -> f32 {
        let v = src[at] as f32 * (1.0 / 255.0);
        match &self.normalization {
            None => v,
            Some(n) => (v - n.shift[at]) * n.scale[at],
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// Image `i`, NHWC bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.image_len();
        &self.images[i * len..(i + 1) * len]
    }

    /// The first `n` images (all of them if there are fewer).
    pub fn take(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.image_len()].to_vec(),
            labels: self.labels[..n].to_vec(),
            shape: self.shape,
            normalization: self.normalization.clone(),
        }
    }

    /// Writes images `indices`, scaled to [0, 1], normalized where the set
    /// is, and augmented if asked,
    /// into `images` (`indices.len() * image_len` values) and their labels
    /// into `labels`.
    pub fn fill_batch(&self, indices: &[usize], images: &mut [f32], labels: &mut [u8], mut augment: Option<Pass>) {
        let len = self.image_len();
        assert!(images.len() == indices.len() * len && labels.len() == indices.len(), "fill_batch: buffers do not fit");
        for ((&i, out), label) in indices.iter().zip(images.chunks_exact_mut(len)).zip(labels.iter_mut()) {
            *label = self.labels[i];
            let src = self.image(i);
            match augment.as_mut() {
                None => out.iter_mut().enumerate().for_each(|(at, o)| *o = self.value(src, at)),
                Some(pass) => {
                    let aug = pass.augment;
                    // A fixed random half first, then every other epoch;
                    // otherwise drawn after the translation, as before.
                    let alternating = aug.alternate_flip.then(|| {
                        let first = hash2(pass.seed ^ 0x666c_6970, i as u64) & 1 == 1;
                        aug.flip && (first ^ pass.epoch.is_multiple_of(2))
                    });
                    if aug.shift == 0.0 {
                        self.cropped(src, out, aug, alternating, pass.rng);
                    } else {
                        self.augmented(src, out, aug, alternating, pass.rng);
                    }
                }
            }
        }
    }

    /// Keras's translation: output pixel (y, x) reads the input at
    /// (y + dy, x + dx), interpolated between the four nearest pixels, with
    /// coordinates outside the image clamped to its edge.
    fn augmented(&self, src: &[u8], out: &mut [f32], aug: Augment, flip: Option<bool>, rng: &mut Rng) {
        let [h, w, c] = self.shape;
        let dy = (2.0 * rng.unit() - 1.0) * aug.shift * h as f32;
        let dx = (2.0 * rng.unit() - 1.0) * aug.shift * w as f32;
        let flip = flip.unwrap_or_else(|| aug.flip && rng.below(2) == 1);
        let px = |y: usize, x: usize, ch: usize| self.value(src, (y * w + x) * c + ch);
        for y in 0..h {
            let r = Tap::new(y as f32 + dy, h);
            for x in 0..w {
                // The flip comes after the shift, as in Keras's `apply_transform`.
                let t = Tap::new((if flip { w - 1 - x } else { x }) as f32 + dx, w);
                for ch in 0..c {
                    let top = px(r.lo, t.lo, ch) * (1.0 - t.frac) + px(r.lo, t.hi, ch) * t.frac;
                    let bottom = px(r.hi, t.lo, ch) * (1.0 - t.frac) + px(r.hi, t.hi, ch) * t.frac;
                    out[(y * w + x) * c + ch] = top * (1.0 - r.frac) + bottom * r.frac;
                }
            }
        }
    }
}

impl Dataset {
    /// A whole-pixel translation by up to `crop` pixels each way (a crop of
    /// the image padded by `crop` with reflection), then the flip: output
    /// pixel (y, x) reads (y + dy, x + dx), reflected at the edges.
    fn cropped(&self, src: &[u8], out: &mut [f32], aug: Augment, flip: Option<bool>, rng: &mut Rng) {
        let [h, w, c] = self.shape;
        let (crop, span) = (aug.crop as isize, 2 * aug.crop + 1);
        let dy = rng.below(span) as isize - crop;
        let dx = rng.below(span) as isize - crop;
        let flip = flip.unwrap_or_else(|| aug.flip && rng.below(2) == 1);
        for y in 0..h {
            let sy = reflect(y as isize + dy, h);
            for x in 0..w {
                let sx = reflect((if flip { w - 1 - x } else { x }) as isize + dx, w);
                let (from, to) = ((sy * w + sx) * c, (y * w + x) * c);
                for ch in 0..c {
                    out[to + ch] = self.value(src, from + ch);
                }
            }
        }
    }
}

/// NHWC images of `shape`, each mirrored left to right.
pub fn mirrored(x: &[f32], [h, w, c]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (img, dst) in x.chunks_exact(h * w * c).zip(out.chunks_exact_mut(h * w * c)) {
        for y in 0..h {
            for xx in 0..w {
                let (from, to) = ((y * w + (w - 1 - xx)) * c, (y * w + xx) * c);
                dst[to..to + c].copy_from_slice(&img[from..from + c]);
            }
        }
    }
    out
}

/// NHWC images of `shape`, each translated by `by` pixels in both axes
/// (output (y, x) reads (y + by, x + by)), reflected at the edges: the
/// view of a crop of the image padded by `|by|` with reflection.
pub fn translated(x: &[f32], [h, w, c]: [usize; 3], by: isize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for (img, dst) in x.chunks_exact(h * w * c).zip(out.chunks_exact_mut(h * w * c)) {
        for y in 0..h {
            let sy = reflect(y as isize + by, h);
            for xx in 0..w {
                let (from, to) = ((sy * w + reflect(xx as isize + by, w)) * c, (y * w + xx) * c);
                dst[to..to + c].copy_from_slice(&img[from..from + c]);
            }
        }
    }
    out
}

/// `at` reflected into `0..len` without repeating the edge (numpy's and
/// Keras's "reflect": -1 reads 1, len reads len - 2).
fn reflect(at: isize, len: usize) -> usize {
    let len = len as isize;
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let m = at.rem_euclid(period);
    (if m < len { m } else { period - m }) as usize
}

/// Where one output coordinate samples the input along an axis of length
/// `len`: between `lo` and `hi`, `frac` of the way, clamped to the edge.
struct Tap {
    lo: usize,
    hi: usize,
    frac: f32,
}

impl Tap {
    fn new(at: f32, len: usize) -> Self {
        let at = at.clamp(0.0, (len - 1) as f32);
        let lo = at.floor() as usize;
        Tap { lo, hi: (lo + 1).min(len - 1), frac: at - lo as f32 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_scale_to_unit_range() {
        let data = Dataset::new(vec![0, 255, 51, 102], vec![1, 0], [1, 2, 1]).unwrap();
        let (mut images, mut labels) = (vec![0.0; 4], vec![0; 2]);
        data.fill_batch(&[1, 0], &mut images, &mut labels, None);
        let want = [0.2, 0.4, 0.0, 1.0];
        assert!(images.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{images:?}");
        assert_eq!(labels, vec![0, 1]);
    }

    #[test]
    fn augmentation_shifts_by_fractions_of_a_pixel_and_flips() {
        // A 10x10 image whose channel 0 is 20 * column and channel 1 is 20 * row:
        // bilinear sampling of a ramp is exact, so every output pixel tells
        // where it was read from.
        let image: Vec<u8> = (0..100).flat_map(|i| [(i % 10 * 20) as u8, (i / 10 * 20) as u8]).collect();
        let data = Dataset::new(image, vec![0], [10, 10, 2]).unwrap();
        let mut rng = Rng::new(3);
        let (mut out, mut label) = (vec![0.0; 200], vec![0]);
        let (mut flips, mut fractional) = (0, 0);
        let ramp = |at: f32| 20.0 * at.clamp(0.0, 9.0) / 255.0;
        for _ in 0..200 {
            let pass = Pass { augment: Augment::default(), rng: &mut rng, epoch: 1, seed: 0 };
            data.fill_batch(&[0], &mut out, &mut label, Some(pass));
            let at = |y: usize, x: usize, ch: usize| out[(y * 10 + x) * 2 + ch];
            let flip = at(0, 0, 0) > at(0, 9, 0);
            let dx = at(0, if flip { 4 } else { 5 }, 0) * 255.0 / 20.0 - 5.0;
            let dy = at(5, 0, 1) * 255.0 / 20.0 - 5.0;
            assert!(dx.abs() <= 1.0 + 1e-5 && dy.abs() <= 1.0 + 1e-5, "shifted by ({dy}, {dx}), over 10%");
            for y in 0..10 {
                for x in 0..10 {
                    let sx = if flip { 9 - x } else { x } as f32 + dx;
                    assert!((at(y, x, 0) - ramp(sx)).abs() < 1e-5, "({y}, {x}) of a shift by {dx}");
                    assert!((at(y, x, 1) - ramp(y as f32 + dy)).abs() < 1e-5, "({y}, {x}) of a shift by {dy}");
                }
            }
            flips += flip as usize;
            fractional += (dx.fract().abs() > 0.01 && dx.fract().abs() < 0.99) as usize;
        }
        assert!((60..140).contains(&flips), "{flips} flips in 200");
        assert!(fractional > 150, "only {fractional} of 200 shifts were fractional");
    }

    #[test]
    fn reflected_crops_read_back_from_a_ramp_and_flips_alternate() {
        // A 6x6 ramp: channel 0 is 10 * column, channel 1 is 10 * row.
        let image: Vec<u8> = (0..36).flat_map(|i| [(i % 6 * 10) as u8, (i / 6 * 10) as u8]).collect();
        let data = Dataset::new(image.clone(), vec![0], [6, 6, 2]).unwrap();
        let value = |i: usize| (i * 10) as f32 * (1.0 / 255.0);
        let (mut out, mut label) = (vec![0.0; 72], vec![0]);
        let mut rng = Rng::new(5);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let augment = Augment { flip: false, ..Augment::airbench() };
            data.fill_batch(&[0], &mut out, &mut label, Some(Pass { augment, rng: &mut rng, epoch: 1, seed: 0 }));
            // The offset is where output (2, 2) read from, 2 pixels either way.
            let (dx, dy) = (
                (out[(2 * 6 + 2) * 2] * 25.5).round() as isize - 2,
                (out[(2 * 6 + 2) * 2 + 1] * 25.5).round() as isize - 2,
            );
            assert!(dx.abs() <= 2 && dy.abs() <= 2, "({dy}, {dx})");
            seen.insert((dy, dx));
            for y in 0..6 {
                for x in 0..6 {
                    let at = (y * 6 + x) * 2;
                    assert_eq!(out[at], value(reflect(x as isize + dx, 6)), "({y}, {x}) by {dx}");
                    assert_eq!(out[at + 1], value(reflect(y as isize + dy, 6)), "({y}, {x}) by {dy}");
                }
            }
        }
        assert_eq!(seen.len(), 25, "every offset in [-2, 2]² comes up");
        assert_eq!((reflect(-1, 6), reflect(-2, 6), reflect(6, 6), reflect(7, 6)), (1, 2, 4, 3));
        // Alternating flips: 40 copies of the image; each flips in exactly
        // one of two consecutive epochs, about half in each.
        let data = Dataset::new(image.repeat(40), vec![0; 40], [6, 6, 2]).unwrap();
        let indices: Vec<usize> = (0..40).collect();
        let flipped = |epoch: usize| {
            let (mut out, mut labels) = (vec![0.0; 40 * 72], vec![0; 40]);
            let augment = Augment { crop: 0, ..Augment::airbench() };
            let pass = Pass { augment, rng: &mut Rng::new(epoch as u64), epoch, seed: 9 };
            data.fill_batch(&indices, &mut out, &mut labels, Some(pass));
            out.chunks(72).map(|img| img[0] > img[10]).collect::<Vec<bool>>()
        };
        let (one, two, three) = (flipped(1), flipped(2), flipped(3));
        assert!(one.iter().zip(&two).all(|(a, b)| a != b), "epoch 2 flips what epoch 1 did not");
        assert_eq!(one, three);
        let count = one.iter().filter(|&&f| f).count();
        assert!((10..30).contains(&count), "{count} of 40 flipped");
    }

    #[test]
    fn a_wrong_size_is_an_error() {
        assert!(Dataset::new(vec![0; 5], vec![0, 1], [1, 2, 1]).is_err());
    }

    /// Standardization and the mean image apply to the value where it is
    /// stored, before a crop moves it.
    #[test]
    fn normalization_applies_per_channel_or_per_pixel_before_augmenting() {
        // Two 1x2 images of 2 channels.
        let data = Dataset::new(vec![0, 255, 51, 102, 255, 0, 153, 204], vec![0, 1], [1, 2, 2]).unwrap();
        let (mean, std) = data.channel_mean_std();
        let ch0 = [0.0f64, 0.2, 1.0, 0.6];
        let want_mean = ch0.iter().sum::<f64>() / 4.0;
        let want_std = (ch0.iter().map(|v| (v - want_mean).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!((mean[0] as f64 - want_mean).abs() < 1e-6 && (std[0] as f64 - want_std).abs() < 1e-6);
        let standard = data.clone().standardized(&mean, &std).unwrap();
        let (mut out, mut labels) = (vec![0.0; 8], vec![0; 2]);
        standard.fill_batch(&[0, 1], &mut out, &mut labels, None);
        let channel0: Vec<f64> = out.iter().step_by(2).map(|&v| v as f64).collect();
        let m = channel0.iter().sum::<f64>() / 4.0;
        let s = (channel0.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 4.0).sqrt();
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-5, "mean {m}, std {s}");

        let pixel_mean = data.pixel_mean();
        assert!((pixel_mean[0] - 0.5).abs() < 1e-6 && (pixel_mean[3] - 0.6).abs() < 1e-6, "{pixel_mean:?}");
        let centred = data.clone().minus_mean(&pixel_mean).unwrap();
        centred.fill_batch(&[0, 1], &mut out, &mut labels, None);
        for i in 0..4 {
            assert!((out[i] + out[4 + i]).abs() < 1e-6, "value {i} of the two images sums to 0");
        }
        // A flipped image reads each value less the mean of where it was stored.
        let augment = Augment { crop: 0, flip: true, shift: 0.0, alternate_flip: true };
        let (mut flipped, mut label) = (vec![0.0; 4], vec![0]);
        for epoch in 1..=2 {
            centred.fill_batch(
                &[0],
                &mut flipped,
                &mut label,
                Some(Pass { augment, rng: &mut Rng::new(1), epoch, seed: 0 }),
            );
            if flipped[0] != out[0] {
                assert_eq!(flipped, [out[2], out[3], out[0], out[1]]);
            }
        }
        assert!(data.clone().standardized(&[0.5], &[1.0]).is_err());
        assert!(data.clone().standardized(&[0.5, 0.5], &[1.0, 0.0]).is_err());
        assert!(data.minus_mean(&[0.0; 3]).is_err());
    }
}
