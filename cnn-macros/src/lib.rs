//! The `cnn!` macro: a Keras-like layer list in, a network struct out.
//!
//! The pipeline is parse (`ast`) -> bind, check and infer shapes (`args`,
//! `model`, with the arithmetic in `shape`) -> generate code (`expand`,
//! `summary`). Every refusal is a `syn::Error` spanned on the layer or
//! argument at fault; nothing panics on any input.

mod args;
mod ast;
mod expand;
mod model;
mod shape;
mod summary;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Declares a network: `cnn! { pub struct Net { Conv2D(32, (3, 3), input_shape = (32, 32, 3)), ... } }`.
/// See the `cnn` crate for the layers, their arguments and what is generated.
#[proc_macro]
pub fn cnn(input: TokenStream) -> TokenStream {
    expand(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// The whole pipeline on `proc_macro2` tokens, so that tests can drive it.
fn expand(input: proc_macro2::TokenStream) -> syn::Result<proc_macro2::TokenStream> {
    let def: ast::NetDef = syn::parse2(input)?;
    let model = model::Model::build(&def)?;
    Ok(expand::expand(&def, &model))
}
