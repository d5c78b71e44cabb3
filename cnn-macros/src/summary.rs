//! Keras 2's `model.summary()` table, built at compile time so that both
//! `Net::summary()` and the struct's rustdoc show the same text.

use crate::model::Model;

/// Keras 2's `print_summary` with `line_length = 65` and column ends at
/// 45%, 85% and 100% of it.
const LINE: usize = 65;
const COLUMNS: [usize; 3] = [29, 55, 65];

/// The functional summary's `line_length = 98`, column ends at 33%, 55%,
/// 67% and 100% of it.
const GRAPH_LINE: usize = 98;
const GRAPH_COLUMNS: [usize; 4] = [32, 53, 65, 98];

/// Keras 2's `print_row`: each field is appended, cut at its column's end
/// and padded to it; before each field after the first, the last character
/// of the line so far becomes a space, so a field that filled its column
/// loses its last character (`(MaxPooling2D)` shows as `(MaxPooling2`).
fn row(fields: [&str; 3]) -> String {
    row_at(&fields, &COLUMNS)
}

fn row_at(fields: &[&str], columns: &[usize]) -> String {
    let mut line = String::new();
    for (i, (field, &end)) in fields.iter().zip(columns).enumerate() {
        if i > 0 {
            line.pop();
            line.push(' ');
        }
        line.push_str(field);
        line = line.chars().take(end).collect();
        while line.chars().count() < end {
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

/// The summary Keras 2 prints for the model: the sequential table for a
/// chain, the functional one (with an input row and each layer's inputs)
/// for a network with branches.
pub fn table(model: &Model) -> String {
    if model.has_branches() {
        return graph_table(model);
    }
    let mut lines = vec!["_".repeat(LINE), row(["Layer (type)", "Output Shape", "Param #"]), "=".repeat(LINE)];
    for (i, layer) in model.layers.iter().enumerate() {
        let name = format!("{} ({})", layer.name, layer.class);
        lines.push(row([&name, &keras_shape(&layer.output), &layer.params.to_string()]));
        lines.push(if i + 1 == model.layers.len() { "=" } else { "_" }.repeat(LINE));
    }
    totals(model, lines, LINE)
}

/// Keras 2's `print_summary` of a functional model: `Connected to` names
/// each input as `layer[node][tensor]` (always `[0][0]` here: every layer
/// is called once), one line per input after the first.
fn graph_table(model: &Model) -> String {
    let c = &GRAPH_COLUMNS;
    let mut lines = vec![
        "_".repeat(GRAPH_LINE),
        row_at(&["Layer (type)", "Output Shape", "Param #", "Connected to"], c),
        "=".repeat(GRAPH_LINE),
        row_at(&["input_1 (InputLayer)", &keras_shape(&model.input), "0", ""], c),
        "_".repeat(GRAPH_LINE),
    ];
    for (i, layer) in model.layers.iter().enumerate() {
        let name = format!("{} ({})", layer.name, layer.class);
        let inputs: Vec<String> = layer
            .inputs
            .iter()
            .map(|at| format!("{}[0][0]", at.map_or("input_1", |j| model.layers[j].name.as_str())))
            .collect();
        let shape = keras_shape(&layer.output);
        lines.push(row_at(&[&name, &shape, &layer.params.to_string(), &inputs[0]], c));
        for more in &inputs[1..] {
            lines.push(row_at(&["", "", "", more], c));
        }
        lines.push(if i + 1 == model.layers.len() { "=" } else { "_" }.repeat(GRAPH_LINE));
    }
    totals(model, lines, GRAPH_LINE)
}

/// The three totals and the closing rule after a table's rows.
fn totals(model: &Model, mut lines: Vec<String>, line: usize) -> String {
    lines.push(format!("Total params: {}", thousands(model.total_params)));
    lines.push(format!("Trainable params: {}", thousands(model.trainable_params)));
    lines.push(format!("Non-trainable params: {}", thousands(model.total_params - model.trainable_params)));
    lines.push("_".repeat(line));
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
