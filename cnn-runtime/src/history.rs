//! Every epoch's metrics, as Keras's `History` holds them, written as CSV
//! and drawn as an SVG plot of the loss and accuracy curves.

use crate::error::{Error, Result};
use std::path::Path;

/// One epoch's metrics: training ones averaged over the epoch's batches
/// (with dropout and augmentation, as Keras reports them), validation
/// ones on the whole validation set.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// The whole epoch, validation included.
    pub seconds: f64,
    /// The training steps alone (with the batches' preparation).
    pub train_seconds: f64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochStats>,
}

const HEADER: &str = "epoch,loss,accuracy,val_loss,val_accuracy,seconds,train_seconds";
/// Before `train_seconds`: read as if training took the whole epoch.
const HEADER_WITHOUT_TRAIN_SECONDS: &str = "epoch,loss,accuracy,val_loss,val_accuracy,seconds";

impl History {
    /// The epochs' whole time, validation included: 0 for no epochs
    /// (a plain `sum` of no `f64` is -0.0, which prints as "-0").
    pub fn seconds(&self) -> f64 {
        self.epochs.iter().fold(0.0, |t, e| t + e.seconds)
    }

    /// The epochs' training time alone; 0 for no epochs.
    pub fn train_seconds(&self) -> f64 {
        self.epochs.iter().fold(0.0, |t, e| t + e.train_seconds)
    }

    pub fn to_csv(&self) -> String {
        let mut out = format!("{HEADER}\n");
        // Rust's shortest round-trip form: a resumed run's history is exact.
        let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        for e in &self.epochs {
            out += &format!(
                "{},{},{},{},{},{},{}\n",
                e.epoch,
                e.loss,
                e.accuracy,
                opt(e.val_loss),
                opt(e.val_accuracy),
                e.seconds,
                e.train_seconds
            );
        }
        out
    }

    pub fn from_csv(text: &str) -> std::result::Result<Self, String> {
        let mut lines = text.lines();
        let with_train_seconds = match lines.next() {
            Some(HEADER) => true,
            Some(HEADER_WITHOUT_TRAIN_SECONDS) => false,
            _ => return Err(format!("expected the header `{HEADER}`")),
        };
        let mut epochs = Vec::new();
        for (i, line) in lines.enumerate() {
            let bad = || format!("line {}: `{line}` is not an epoch's metrics", i + 2);
            let mut fields: Vec<&str> = line.split(',').collect();
            if !with_train_seconds && fields.len() == 6 {
                fields.push(fields[5]);
            }
            let [epoch, loss, accuracy, val_loss, val_accuracy, seconds, train_seconds] = fields[..] else {
                return Err(bad());
            };
            let num = |s: &str| s.parse::<f64>().map_err(|_| bad());
            let opt = |s: &str| if s.is_empty() { Ok(None) } else { num(s).map(Some) };
            epochs.push(EpochStats {
                epoch: epoch.parse().map_err(|_| bad())?,
                loss: num(loss)?,
                accuracy: num(accuracy)?,
                val_loss: opt(val_loss)?,
                val_accuracy: opt(val_accuracy)?,
                seconds: num(seconds)?,
                train_seconds: num(train_seconds)?,
            });
        }
        Ok(History { epochs })
    }

    pub fn write_csv(&self, path: &Path) -> Result<()> {
        crate::checkpoint::write_atomically(path, self.to_csv().as_bytes())
    }

    /// Loss (left) and accuracy (right) per epoch, training and validation.
    pub fn plot(&self, path: &Path) -> Result<()> {
        use plotters::prelude::*;
        let failed = |e: String| Error::format(path, format!("cannot draw the plot: {e}"));
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (960, 400)).into_drawing_area();
            root.fill(&WHITE).map_err(|e| failed(e.to_string()))?;
            let panels = root.split_evenly((1, 2));
            let last = self.epochs.len().max(2);
            let series = [
                (
                    "loss",
                    self.epochs.iter().map(|e| Some(e.loss)).collect::<Vec<_>>(),
                    self.epochs.iter().map(|e| e.val_loss).collect::<Vec<_>>(),
                ),
                (
                    "accuracy",
                    self.epochs.iter().map(|e| Some(e.accuracy)).collect(),
                    self.epochs.iter().map(|e| e.val_accuracy).collect(),
                ),
            ];
            for (panel, (name, train, val)) in panels.iter().zip(series) {
                let top = train.iter().chain(&val).flatten().fold(0.0f64, |m, v| m.max(*v));
                let top = if name == "accuracy" { 1.0 } else { (top * 1.1).max(1e-3) };
                let mut chart = ChartBuilder::on(panel)
                    .caption(name, ("sans-serif", 20))
                    .margin(10)
                    .x_label_area_size(30)
                    .y_label_area_size(50)
                    .build_cartesian_2d(1usize..last, 0.0..top)
                    .map_err(|e| failed(e.to_string()))?;
                chart.configure_mesh().x_desc("epoch").draw().map_err(|e| failed(e.to_string()))?;
                for (label, values, color) in [(name.to_string(), train, BLUE), (format!("val_{name}"), val, RED)] {
                    let points: Vec<(usize, f64)> =
                        values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i + 1, v))).collect();
                    if points.is_empty() {
                        continue;
                    }
                    chart
                        .draw_series(LineSeries::new(points, color.stroke_width(2)))
                        .map_err(|e| failed(e.to_string()))?
                        .label(label)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                }
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|e| failed(e.to_string()))?;
            }
            root.present().map_err(|e| failed(e.to_string()))?;
        }
        crate::checkpoint::write_atomically(path, svg.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> History {
        History {
            epochs: vec![
                EpochStats {
                    epoch: 1,
                    loss: 1.9,
                    accuracy: 0.3,
                    val_loss: Some(1.7),
                    val_accuracy: Some(0.4),
                    seconds: 1.5,
                    train_seconds: 1.0,
                },
                EpochStats {
                    epoch: 2,
                    loss: 1.5,
                    accuracy: 0.45,
                    val_loss: None,
                    val_accuracy: None,
                    seconds: 1.25,
                    train_seconds: 1.25,
                },
            ],
        }
    }

    #[test]
    fn csv_round_trips() {
        let h = sample();
        let csv = h.to_csv();
        assert!(csv.starts_with(
            "epoch,loss,accuracy,val_loss,val_accuracy,seconds,train_seconds\n1,1.9,0.3,1.7,0.4,1.5,1\n2,1.5,0.45,,,1.25,1.25\n"
        ));
        assert_eq!(History::from_csv(&csv).unwrap(), h);
        // A history from before train_seconds: training took the whole epoch.
        let old = "epoch,loss,accuracy,val_loss,val_accuracy,seconds\n2,1.5,0.45,,,1.25\n";
        assert_eq!(History::from_csv(old).unwrap().epochs[0], h.epochs[1]);
        assert!(History::from_csv("nonsense").is_err());
    }

    #[test]
    fn total_times_add_the_epochs_and_no_epochs_take_no_time() {
        assert_eq!((sample().seconds(), sample().train_seconds()), (2.75, 2.25));
        let none = History::default();
        assert_eq!(format!("{:.0}s, {:.0}s", none.seconds(), none.train_seconds()), "0s, 0s");
    }

    #[test]
    fn plot_is_an_svg_with_both_curves() {
        let path = std::env::temp_dir().join(format!("cnn-plot-{}.svg", std::process::id()));
        sample().plot(&path).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{}", &svg[..200.min(svg.len())]);
        assert!(svg.contains("val_loss") && svg.contains("accuracy"));
        std::fs::remove_file(path).unwrap();
    }
}
