//! No code: this package only holds `tests/compile_errors.rs`.
