//! The `cnn!` macro: a Keras-like layer list in, a network struct out.
//!
//! The pipeline is parse (`ast`) -> bind, check and infer shapes (`args`,
//! `model`, with Keras's arithmetic in `cnn_core`) -> generate code
//! (`expand`, `summary`). Every refusal is a `syn::Error` spanned on the
//! layer or argument at fault; nothing panics on any input.
#![forbid(unsafe_code)]

mod args;
mod ast;
mod expand;
mod model;
mod summary;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Declares a network: `cnn! { pub struct Net { Conv2D(32, (3, 3), input_shape = (32, 32, 3)), ... } }`.
/// See the `cnn` crate for the layers, their arguments and what is generated.
#[proc_macro]
pub fn cnn(input: TokenStream) -> TokenStream {
    let (result, fallback) = pipeline(input.into());
    let mut tokens = result.unwrap_or_else(syn::Error::into_compile_error);
    tokens.extend(fallback);
    tokens.into()
}

/// The whole pipeline on `proc_macro2` tokens, so that tests can drive it.
#[cfg(test)]
fn expand(input: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    pipeline(input).0
}

/// The network's code, or the error; with an error about a layer list
/// that parsed, also a fallback declaration of the struct (as thiserror
/// emits one), so that later uses of the network add no errors of their
/// own to the one that matters.
fn pipeline(
    input: proc_macro2::TokenStream,
) -> (syn::Result<proc_macro2::TokenStream>, Option<proc_macro2::TokenStream>) {
    let def: ast::NetDef = match syn::parse2(input) {
        Ok(def) => def,
        Err(e) => return (Err(e), None),
    };
    match model::Model::build(&def) {
        Ok(model) => (Ok(expand::expand(&def, &model)), None),
        Err(e) => (Err(e), Some(expand::fallback(&def))),
    }
}
