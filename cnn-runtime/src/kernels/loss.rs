//! Categorical cross-entropy on softmax outputs, fused with the softmax's
//! backward pass: the gradient at the softmax's input is `(p - t) * scale`,
//! `t` being the one-hot label or, with Keras's `label_smoothing = s`, the
//! target `t = onehot (1 - s) + s / classes`.

/// Keras clips probabilities to `[eps, 1 - eps]` before the log.
pub const EPSILON: f32 = 1e-7;

/// The target of class `j` for a row labelled `label`.
fn target(j: usize, label: usize, classes: usize, smoothing: f32) -> f32 {
    let hot = if j == label { 1.0 } else { 0.0 };
    if smoothing == 0.0 {
        hot
    } else {
        hot * (1.0 - smoothing) + smoothing / classes as f32
    }
}

/// One row's loss, `-sum t log(clip(p))`: only the label's term without
/// smoothing, as the others are zero.
fn row_loss(p: &[f32], label: usize, smoothing: f32) -> f64 {
    let log = |p: f32| (p.clamp(EPSILON, 1.0 - EPSILON) as f64).ln();
    if smoothing == 0.0 {
        return -log(p[label]);
    }
    -p.iter().enumerate().map(|(j, &pj)| target(j, label, p.len(), smoothing) as f64 * log(pj)).sum::<f64>()
}

/// The summed loss of `labels.len()` rows of `probs` against targets with
/// `smoothing` (0: one-hot); writes the gradient at the softmax input,
/// scaled by `scale` (1 / batch size), into `dz`.
pub fn softmax_cross_entropy(
    probs: &[f32],
    labels: &[u8],
    classes: usize,
    smoothing: f32,
    scale: f32,
    dz: &mut [f32],
) -> f64 {
    let n = labels.len();
    assert!(probs.len() >= n * classes && dz.len() >= n * classes, "softmax_cross_entropy: buffers too short");
    let mut loss = 0.0f64;
    for (i, &label) in labels.iter().enumerate() {
        let label = label as usize;
        assert!(label < classes, "label {label} is out of range for {classes} classes");
        let p = &probs[i * classes..][..classes];
        loss += row_loss(p, label, smoothing);
        let d = &mut dz[i * classes..][..classes];
        for (j, (d, p)) in d.iter_mut().zip(p).enumerate() {
            *d = (p - target(j, label, classes, smoothing)) * scale;
        }
    }
    loss
}

/// The summed loss alone, for evaluation.
pub fn cross_entropy(probs: &[f32], labels: &[u8], classes: usize, smoothing: f32) -> f64 {
    labels.iter().enumerate().map(|(i, &l)| row_loss(&probs[i * classes..][..classes], l as usize, smoothing)).sum()
}

/// Rows whose largest value (the first, on a tie) is at their label:
/// Keras's categorical accuracy.
pub fn count_correct(probs: &[f32], labels: &[u8], classes: usize) -> usize {
    labels
        .iter()
        .zip(probs.chunks_exact(classes))
        .filter(|(&label, row)| {
            let top = row.iter().enumerate().fold(0, |best, (j, &p)| if p > row[best] { j } else { best });
            top == label as usize
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keras's `CategoricalCrossentropy(label_smoothing = 0.2)` on one row,
    /// written out: targets 0.8 + 0.2 / 3 and 0.2 / 3.
    #[test]
    fn label_smoothing_follows_keras_formula() {
        let p = [0.7f32, 0.2, 0.1];
        let (hi, lo) = (0.8 + 0.2 / 3.0, 0.2 / 3.0);
        let want = -(hi * 0.7f64.ln() + lo * 0.2f64.ln() + lo * 0.1f64.ln());
        let mut dz = [0.0; 3];
        let loss = softmax_cross_entropy(&p, &[0], 3, 0.2, 0.5, &mut dz);
        assert!((loss - want).abs() < 1e-6, "{loss} vs {want}");
        assert!((cross_entropy(&p, &[0], 3, 0.2) - want).abs() < 1e-6);
        let want_dz = [(0.7 - hi) * 0.5, (0.2 - lo) * 0.5, (0.1 - lo) * 0.5];
        for (g, w) in dz.iter().zip(want_dz) {
            assert!((*g as f64 - w).abs() < 1e-6, "{dz:?}");
        }
        // Without smoothing: the label's term alone, and p - onehot.
        let loss = softmax_cross_entropy(&p, &[1], 3, 0.0, 1.0, &mut dz);
        assert_eq!(loss, -(0.2f32 as f64).ln());
        assert_eq!(dz, [0.7, 0.2 - 1.0, 0.1]);
    }
}
