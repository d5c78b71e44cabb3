//! Data sets of u8 images kept as they are stored and scaled to [0, 1] one
//! batch at a time, with the Keras example's augmentation.

pub mod cifar10;
#[cfg(feature = "download")]
pub mod download;
pub mod png;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Labelled images, NHWC `u8`, kept in memory as stored (CIFAR-10's 60,000
/// images take 184 MB rather than 737 MB as f32).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    images: Vec<u8>,
    labels: Vec<u8>,
    shape: [usize; 3],
}

/// The Keras example's `ImageDataGenerator(width_shift_range=0.1,
/// height_shift_range=0.1, horizontal_flip=True)`: shifts of up to 10% of
/// the height and width (whole pixels; edges repeated, as `fill_mode =
/// "nearest"`), and a horizontal flip half of the time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Augment {
    pub shift: f32,
    pub flip: bool,
}

impl Default for Augment {
    fn default() -> Self {
        Augment { shift: 0.1, flip: true }
    }
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
        Ok(Dataset { images, labels, shape })
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
        }
    }

    /// Writes images `indices`, scaled to [0, 1] and augmented if asked,
    /// into `images` (`indices.len() * image_len` values) and their labels
    /// into `labels`.
    pub fn fill_batch(
        &self,
        indices: &[usize],
        images: &mut [f32],
        labels: &mut [u8],
        mut augment: Option<(Augment, &mut Rng)>,
    ) {
        let len = self.image_len();
        assert!(images.len() == indices.len() * len && labels.len() == indices.len(), "fill_batch: buffers do not fit");
        for ((&i, out), label) in indices.iter().zip(images.chunks_exact_mut(len)).zip(labels.iter_mut()) {
            *label = self.labels[i];
            let src = self.image(i);
            match augment.as_mut() {
                None => out.iter_mut().zip(src).for_each(|(o, &s)| *o = s as f32 * (1.0 / 255.0)),
                Some((aug, rng)) => self.augmented(src, out, *aug, rng),
            }
        }
    }

    fn augmented(&self, src: &[u8], out: &mut [f32], aug: Augment, rng: &mut Rng) {
        let [h, w, c] = self.shape;
        let max_dy = (aug.shift * h as f32) as isize;
        let max_dx = (aug.shift * w as f32) as isize;
        let dy = rng.below(2 * max_dy as usize + 1) as isize - max_dy;
        let dx = rng.below(2 * max_dx as usize + 1) as isize - max_dx;
        let flip = aug.flip && rng.below(2) == 1;
        for y in 0..h {
            let sy = (y as isize - dy).clamp(0, h as isize - 1) as usize;
            for x in 0..w {
                let fx = if flip { w - 1 - x } else { x };
                let sx = (fx as isize - dx).clamp(0, w as isize - 1) as usize;
                let (o, s) = (&mut out[(y * w + x) * c..][..c], &src[(sy * w + sx) * c..][..c]);
                o.iter_mut().zip(s).for_each(|(o, &s)| *o = s as f32 * (1.0 / 255.0));
            }
        }
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
    fn augmentation_shifts_and_flips_whole_pixels() {
        // One 10x10 image whose pixel value is its column.
        let image: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
        let data = Dataset::new(image, vec![0], [10, 10, 1]).unwrap();
        let mut rng = Rng::new(3);
        let (mut out, mut label) = (vec![0.0; 100], vec![0]);
        let mut seen_flip = false;
        for _ in 0..50 {
            data.fill_batch(&[0], &mut out, &mut label, Some((Augment::default(), &mut rng)));
            let row: Vec<u8> = out[..10].iter().map(|v| (v * 255.0).round() as u8).collect();
            // Every row is a shifted (by at most 1 pixel = 10%), maybe flipped, ramp.
            let steps: Vec<i32> = row.windows(2).map(|w| w[1] as i32 - w[0] as i32).collect();
            assert!(steps.iter().all(|s| s.abs() <= 1), "{row:?}");
            seen_flip |= steps.iter().any(|&s| s < 0);
            assert!(row.iter().all(|&v| v <= 9));
        }
        assert!(seen_flip);
    }

    #[test]
    fn a_wrong_size_is_an_error() {
        assert!(Dataset::new(vec![0; 5], vec![0, 1], [1, 2, 1]).is_err());
    }
}
