//! Keras 2's `model.summary()` table, built at compile time so that both
//! `Net::summary()` and the struct's rustdoc show the same text.

use crate::model::Model;

/// Keras 2's `print_summary` with `line_length = 65` and column ends at
/// 45%, 85% and 100% of it.
const LINE: usize = 65;
const COLUMNS: [usize; 3] = [29, 55, 65];

/// Keras 2's `print_row`: each field is appended, cut at its column's end
/// and padded to it; before each field after the first, the last character
/// of the line so far becomes a space, so a field that filled its column
/// loses its last character (`(MaxPooling2D)` shows as `(MaxPooling2`).
fn row(fields: [&str; 3]) -> String {
    let mut line = String::new();
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(field);
        line = line.chars().take(COLUMNS[i]).collect();
        while line.chars().count() < COLUMNS[i] {
            line.push(' ');
        }
    }
    line
}

/// `1250858` -> `1,250,858`.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `(None, 32, 32, 32)`: the shape with Keras's batch dimension.
pub fn keras_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("(None, {})", dims.join(", "))
}

pub fn table(model: &Model) -> String {
    let mut lines = vec!["_".repeat(LINE), row(["Layer (type)", "Output Shape", "Param #"]), "=".repeat(LINE)];
    for (i, layer) in model.layers.iter().enumerate() {
        let name = format!("{} ({})", layer.name, layer.class);
        lines.push(row([&name, &keras_shape(&layer.output), &layer.params.to_string()]));
        lines.push(if i + 1 == model.layers.len() { "=" } else { "_" }.repeat(LINE));
    }
    lines.push(format!("Total params: {}", thousands(model.total_params)));
    lines.push(format!("Trainable params: {}", thousands(model.trainable_params)));
    lines.push(format!("Non-trainable params: {}", thousands(model.total_params - model.trainable_params)));
    lines.push("_".repeat(LINE));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_column_loses_its_last_character() {
        let line = row(["max_pooling2d_1 (MaxPooling2D)", "(None, 15, 15, 32)", "0"]);
        assert!(line.starts_with("max_pooling2d_1 (MaxPooling2 (None, 15, 15, 32)"));
        assert_eq!(line.len(), 65);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(896), "896");
        assert_eq!(thousands(1611), "1,611");
        assert_eq!(thousands(1_250_858), "1,250,858");
    }
}
