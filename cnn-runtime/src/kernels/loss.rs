//! Categorical cross-entropy on softmax outputs, fused with the softmax's
//! backward pass: the gradient at the softmax's input is `(p - onehot) * scale`.

/// Keras clips probabilities to `[eps, 1 - eps]` before the log.
pub const EPSILON: f32 = 1e-7;

/// The summed loss of `labels.len()` rows of `probs`; writes the gradient
/// at the softmax input, scaled by `scale` (1 / batch size), into `dz`.
pub fn softmax_cross_entropy(probs: &[f32], labels: &[u8], classes: usize, scale: f32, dz: &mut [f32]) -> f64 {
    let n = labels.len();
    assert!(probs.len() >= n * classes && dz.len() >= n * classes, "softmax_cross_entropy: buffers too short");
    let mut loss = 0.0f64;
    for (i, &label) in labels.iter().enumerate() {
        let label = label as usize;
        assert!(label < classes, "label {label} is out of range for {classes} classes");
        let p = &probs[i * classes..][..classes];
        loss -= (p[label].clamp(EPSILON, 1.0 - EPSILON) as f64).ln();
        let d = &mut dz[i * classes..][..classes];
        for (j, (d, p)) in d.iter_mut().zip(p).enumerate() {
            *d = (p - if j == label { 1.0 } else { 0.0 }) * scale;
        }
    }
    loss
}

/// The summed loss alone, for evaluation.
pub fn cross_entropy(probs: &[f32], labels: &[u8], classes: usize) -> f64 {
    labels
        .iter()
        .enumerate()
        .map(|(i, &l)| -(probs[i * classes + l as usize].clamp(EPSILON, 1.0 - EPSILON) as f64).ln())
        .sum()
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
