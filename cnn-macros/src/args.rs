//! Binding a layer call's arguments to the layer's Keras signature, and
//! reading each argument as the type it must have. Every error names the
//! argument and says what would fit.

use crate::ast::{Arg, LayerCall, Loc, Value, ValueKind};
pub use cnn_core::{Activation, Initializer, Padding};

/// A layer's Keras signature: its arguments in positional order, and how
/// many of the first ones are required.
pub struct Signature {
    pub class: &'static str,
    pub positional: &'static [&'static str],
    pub required: usize,
    /// Arguments taken by keyword only.
    pub keywords: &'static [&'static str],
    /// An example call, shown when a required argument is missing.
    pub example: &'static str,
}

/// Accepted by keyword on every layer.
const KEYWORD_ONLY: &[&str] = &["name", "input_shape"];

/// The arguments of one call, bound to names.
pub struct Bound {
    /// The layer's name (`conv2d_3`), which starts every message.
    label: String,
    values: Vec<(&'static str, Value)>,
    pub call: Loc,
}

impl Signature {
    pub fn bind(&self, call: &LayerCall, label: &str) -> syn::Result<Bound> {
        let mut values: Vec<(&'static str, Value)> = Vec::new();
        let mut positional = 0;
        for arg in &call.args {
            let (name, key, value) = match arg {
                Arg::Positional(value) => {
                    let Some(&name) = self.positional.get(positional) else {
                        return Err(value.loc.error(format!(
                            "{label}: {} takes at most {} positional argument{} ({}); give this one by name",
                            self.class,
                            self.positional.len(),
                            if self.positional.len() == 1 { "" } else { "s" },
                            self.positional.join(", ")
                        )));
                    };
                    positional += 1;
                    (name, None, value)
                }
                Arg::Keyword(key, value) => {
                    let key_str = key.to_string();
                    let mut known = self.positional.iter().chain(self.keywords).chain(KEYWORD_ONLY);
                    let Some(&name) = known.find(|n| **n == key_str) else {
                        return Err(syn::Error::new(
                            key.span(),
                            format!(
                                "{label}: {} has no argument `{}`; its arguments are {}",
                                self.class,
                                key_str,
                                self.positional
                                    .iter()
                                    .chain(self.keywords)
                                    .chain(KEYWORD_ONLY)
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        ));
                    };
                    (name, Some(key), value)
                }
            };
            if values.iter().any(|(n, _)| *n == name) {
                let message = format!("{label}: argument `{name}` is given twice");
                return Err(match key {
                    Some(key) => syn::Error::new(key.span(), message),
                    None => value.loc.error(message),
                });
            }
            values.push((name, value.clone()));
        }
        for name in &self.positional[..self.required] {
            if !values.iter().any(|(n, _)| n == name) {
                return Err(call
                    .loc
                    .error(format!("{label}: {} needs `{}`, e.g. `{}`", self.class, name, self.example)));
            }
        }
        Ok(Bound { label: label.to_string(), values, call: call.loc.clone() })
    }
}

impl Bound {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The tokens of the argument `name` (its value), or of the whole call.
    pub fn loc(&self, name: &str) -> &Loc {
        self.get(name).map(|v| &v.loc).unwrap_or(&self.call)
    }

    fn type_error(&self, name: &str, value: &Value, expected: &str) -> syn::Error {
        value.loc.error(format!("{}: `{}` must be {}, got {}", self.label, name, expected, value.describe()))
    }

    /// A size or count that must be at least 1.
    pub fn positive(&self, name: &str, default: Option<usize>) -> syn::Result<usize> {
        let Some(value) = self.get(name) else {
            return Ok(default.expect("required arguments are checked by bind"));
        };
        self.positive_value(name, value)
    }

    fn positive_value(&self, name: &str, value: &Value) -> syn::Result<usize> {
        match value.kind {
            ValueKind::Int(i) if i >= 1 && i <= u32::MAX as i128 => Ok(i as usize),
            ValueKind::Int(i) if i < 1 => {
                Err(value.loc.error(format!("{}: `{}` must be at least 1, got {}", self.label, name, i)))
            }
            ValueKind::Int(i) => Err(value.loc.error(format!("{}: `{}` = {} is too large", self.label, name, i))),
            _ => Err(self.type_error(name, value, "a positive integer")),
        }
    }

    /// A window or stride size: an integer `k` (meaning `(k, k)`) or a pair.
    pub fn pair(&self, name: &str, default: Option<(usize, usize)>) -> syn::Result<(usize, usize)> {
        let Some(value) = self.get(name) else {
            return Ok(default.expect("required arguments are checked by bind"));
        };
        match &value.kind {
            ValueKind::Int(_) => {
                let k = self.positive_value(name, value)?;
                Ok((k, k))
            }
            ValueKind::Tuple(items) if items.len() == 2 => {
                Ok((self.positive_value(name, &items[0])?, self.positive_value(name, &items[1])?))
            }
            _ => Err(self.type_error(name, value, "an integer or a pair of integers such as (3, 3)")),
        }
    }

    pub fn padding(&self) -> syn::Result<Padding> {
        let Some(value) = self.get("padding") else {
            return Ok(Padding::Valid);
        };
        match &value.kind {
            ValueKind::Str(s) => match s.to_ascii_lowercase().as_str() {
                "valid" => Ok(Padding::Valid),
                "same" => Ok(Padding::Same),
                _ => Err(value
                    .loc
                    .error(format!("{}: unknown padding \"{}\"; expected \"valid\" or \"same\"", self.label, s))),
            },
            _ => Err(self.type_error("padding", value, "\"valid\" or \"same\"")),
        }
    }

    pub fn activation(&self, name: &str) -> syn::Result<Activation> {
        let Some(value) = self.get(name) else {
            return Ok(Activation::Linear);
        };
        match &value.kind {
            ValueKind::None => Ok(Activation::Linear),
            ValueKind::Str(s) => Activation::from_keras(s).ok_or_else(|| {
                value.loc.error(format!(
                    "{}: unknown activation \"{}\"; expected one of {}, \"silu\"",
                    self.label,
                    s,
                    Activation::ALL.iter().map(|a| format!("\"{}\"", a.keras_name())).collect::<Vec<_>>().join(", ")
                ))
            }),
            _ => Err(self.type_error(name, value, "an activation name such as \"relu\"")),
        }
    }

    pub fn boolean(&self, name: &str, default: bool) -> syn::Result<bool> {
        match self.get(name) {
            None => Ok(default),
            Some(Value { kind: ValueKind::Bool(b), .. }) => Ok(*b),
            Some(value) => Err(self.type_error(name, value, "true or false")),
        }
    }

    /// Dropout's rate, in [0, 1).
    pub fn rate(&self) -> syn::Result<f64> {
        let value = self.get("rate").expect("required arguments are checked by bind");
        let rate = match value.kind {
            ValueKind::Float(f) => f,
            ValueKind::Int(i) => i as f64,
            _ => return Err(self.type_error("rate", value, "a number in [0, 1)")),
        };
        if (0.0..1.0).contains(&rate) {
            Ok(rate)
        } else {
            Err(value.loc.error(format!(
                "{}: `rate` must be in [0, 1) (the fraction of inputs to drop), got {}",
                self.label, rate
            )))
        }
    }

    /// `input_shape = (height, width, channels)`, if given.
    pub fn input_shape(&self) -> syn::Result<Option<[usize; 3]>> {
        let Some(value) = self.get("input_shape") else {
            return Ok(None);
        };
        match &value.kind {
            ValueKind::Tuple(items) if items.len() == 3 => Ok(Some([
                self.positive_value("input_shape", &items[0])?,
                self.positive_value("input_shape", &items[1])?,
                self.positive_value("input_shape", &items[2])?,
            ])),
            _ => Err(self.type_error(
                "input_shape",
                value,
                "(height, width, channels), channels last, such as (32, 32, 3)",
            )),
        }
    }

    /// `name = "..."`, if given: it names weight tensors and a type, so it
    /// must be a lower-case Rust-style identifier.
    pub fn name(&self) -> syn::Result<Option<String>> {
        let Some(value) = self.get("name") else {
            return Ok(None);
        };
        match &value.kind {
            ValueKind::Str(s) => {
                let mut chars = s.chars();
                let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                    && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if ok {
                    Ok(Some(s.clone()))
                } else {
                    Err(value.loc.error(format!(
                        "{}: layer name \"{}\" must start with a lower-case letter and hold only a-z, 0-9 and _ \
                         (it names the layer's weight tensors and its output type)",
                        self.label, s
                    )))
                }
            }
            _ => Err(self.type_error("name", value, "a string such as \"features\"")),
        }
    }
}

/// A number argument: an integer or a finite float.
fn number(value: &Value) -> Option<f64> {
    match value.kind {
        ValueKind::Float(f) if f.is_finite() => Some(f),
        ValueKind::Int(i) => Some(i as f64),
        _ => None,
    }
}

impl Bound {
    /// A number, or `default` when the argument is absent.
    pub fn float(&self, name: &str, default: Option<f64>) -> syn::Result<f64> {
        let Some(value) = self.get(name) else {
            return Ok(default.expect("required arguments are checked by bind"));
        };
        number(value).ok_or_else(|| self.type_error(name, value, "a finite number"))
    }

    /// A number that must lie in `range`, which `expected` describes.
    pub fn float_in(
        &self,
        name: &str,
        default: f64,
        range: impl std::ops::RangeBounds<f64>,
        expected: &str,
    ) -> syn::Result<f64> {
        let v = self.float(name, Some(default))?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(self.loc(name).error(format!("{}: `{name}` must be {expected}, got {v}", self.label)))
        }
    }

    /// `kernel_initializer = "he_normal"`; Keras's default is `glorot_uniform`.
    pub fn initializer(&self) -> syn::Result<Initializer> {
        let Some(value) = self.get("kernel_initializer") else {
            return Ok(Initializer::GlorotUniform);
        };
        let known =
            || Initializer::ALL.iter().map(|i| format!("\"{}\"", i.keras_name())).collect::<Vec<_>>().join(", ");
        match &value.kind {
            ValueKind::Str(s) => Initializer::from_keras(s).ok_or_else(|| {
                value.loc.error(format!(
                    "{}: unknown kernel_initializer \"{s}\"; expected one of {}",
                    self.label,
                    known()
                ))
            }),
            _ => Err(self.type_error("kernel_initializer", value, &format!("one of {}", known()))),
        }
    }

    /// `kernel_regularizer = l2(x)`: the factor `x` (0 without one).
    pub fn l2(&self) -> syn::Result<f64> {
        let Some(value) = self.get("kernel_regularizer") else {
            return Ok(0.0);
        };
        let expected = "`l2(x)` with a factor x >= 0, such as `l2(1e-4)`";
        match &value.kind {
            ValueKind::None => Ok(0.0),
            ValueKind::Call(name, args) if name == "l2" || name == "L2" => {
                let [arg] = &args[..] else {
                    return Err(value.loc.error(format!("{}: `kernel_regularizer` must be {expected}", self.label)));
                };
                match number(arg) {
                    Some(x) if x >= 0.0 && x.is_finite() => Ok(x),
                    Some(x) => Err(arg.loc.error(format!(
                        "{}: the l2 factor must be at least 0 (it multiplies the sum of the squared weights), got {x}",
                        self.label
                    ))),
                    None => Err(self.type_error("kernel_regularizer", arg, "a number")),
                }
            }
            _ => Err(self.type_error("kernel_regularizer", value, expected)),
        }
    }
}
