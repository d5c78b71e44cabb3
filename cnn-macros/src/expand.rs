//! Code generation: the struct, its constants and types, and the
//! network's specification as `const` data (its nodes and tensors) for the
//! runtime's generic [`Model`](../cnn_runtime/model/struct.Model.html),
//! which owns the weights and runs them. Nothing here can fail; every
//! check happened in `Model::build`.

use crate::args::Activation;
use crate::ast::NetDef;
use crate::model::{snake_case, Init, Layer, Model, Op, Tensor};
use crate::summary;
use cnn_core::Window;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

fn float(v: f64) -> Literal {
    Literal::f32_suffixed(v as f32)
}

fn shape_lits(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| lit(d));
    quote!(&[#(#dims),*])
}

fn len(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// `::cnn::Shape3<h, w, c>` or `::cnn::Shape1<n>`.
fn shape_type(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| lit(d));
    let shape_ty = if shape.len() == 3 { quote!(Shape3) } else { quote!(Shape1) };
    quote!(::cnn::#shape_ty<#(#dims),*>)
}

/// A variant of a `cnn_core` enum by its own name, so the variants are
/// spelled in one place.
fn variant(path: TokenStream, value: impl std::fmt::Debug) -> TokenStream {
    let v = format_ident!("{}", format!("{value:?}"));
    quote!(#path::#v)
}

fn activation(act: Activation) -> TokenStream {
    variant(quote!(::cnn::__rt::Activation), act)
}

fn window(w: &Window) -> TokenStream {
    let [in_h, in_w, channels, k_h, k_w, s_h, s_w, pad_top, pad_left, out_h, out_w] =
        [w.in_h, w.in_w, w.channels, w.k_h, w.k_w, w.s_h, w.s_w, w.pad_top, w.pad_left, w.out_h, w.out_w].map(lit);
    quote!(::cnn::__rt::Window {
        in_h: #in_h, in_w: #in_w, channels: #channels, k_h: #k_h, k_w: #k_w, s_h: #s_h, s_w: #s_w,
        pad_top: #pad_top, pad_left: #pad_left, out_h: #out_h, out_w: #out_w,
    })
}

fn param_of(t: &Tensor) -> TokenStream {
    let (offset, trainable) = (lit(t.offset), t.trainable);
    quote!(::cnn::__rt::Param { offset: #offset, trainable: #trainable })
}

/// `Some(Param { .. })` for the layer's tensor of this role, or `None`.
fn param(layer: &Layer, role: &str) -> TokenStream {
    match layer.tensor(role).map(param_of) {
        Some(p) => quote!(Some(#p)),
        None => quote!(None),
    }
}

/// A Conv2D's or Dense's kernel, which it always has.
fn kernel(layer: &Layer) -> TokenStream {
    param_of(layer.tensor("kernel").expect("Conv2D and Dense have a kernel"))
}

fn offset(layer: &Layer, role: &str) -> Literal {
    lit(layer.tensor(role).map_or(0, |t| t.offset))
}

/// One layer as the runtime's `Node`.
fn node(layer: &Layer) -> TokenStream {
    let op = match &layer.op {
        Op::Conv2D { window: w, filters, activation: act, .. } => {
            let (w, filters, act, bias) = (window(w), lit(*filters), activation(*act), param(layer, "bias"));
            let kernel = kernel(layer);
            quote!(Conv2D {
                conv: ::cnn::__rt::Conv { window: #w, filters: #filters }, activation: #act, kernel: #kernel, bias: #bias,
            })
        }
        Op::Dense { inputs, units, activation: act, .. } => {
            let (inputs, units, act, bias) = (lit(*inputs), lit(*units), activation(*act), param(layer, "bias"));
            let kernel = kernel(layer);
            quote!(Dense { inputs: #inputs, units: #units, activation: #act, kernel: #kernel, bias: #bias })
        }
        Op::Pool { kind, window: w } => {
            let (kind, w) = (variant(quote!(::cnn::__rt::Pool), kind), window(w));
            quote!(Pool { kind: #kind, window: #w })
        }
        Op::GlobalPool { kind, positions, channels } => {
            let (kind, positions, channels) =
                (variant(quote!(::cnn::__rt::Pool), kind), lit(*positions), lit(*channels));
            quote!(GlobalPool { kind: #kind, positions: #positions, channels: #channels })
        }
        Op::Activation(act) => {
            let (act, last) = (activation(*act), lit(*layer.output.last().unwrap_or(&1)));
            quote!(Activation { activation: #act, last: #last })
        }
        Op::Dropout(rate) => {
            let rate = float(*rate);
            quote!(Dropout { rate: #rate })
        }
        Op::Flatten => quote!(Flatten),
        Op::BatchNorm { channels, momentum, epsilon, .. } => {
            let (channels, momentum, epsilon) = (lit(*channels), float(*momentum), float(*epsilon));
            let (gamma, beta) = (param(layer, "gamma"), param(layer, "beta"));
            let (mean, var) = (offset(layer, "moving_mean"), offset(layer, "moving_variance"));
            quote!(BatchNorm {
                channels: #channels, momentum: #momentum, epsilon: #epsilon, gamma: #gamma, beta: #beta,
                moving_mean: #mean, moving_variance: #var,
            })
        }
        Op::Rescaling { scale, offset } => {
            let (scale, offset) = (float(*scale), float(*offset));
            quote!(Rescaling { scale: #scale, offset: #offset })
        }
        Op::Add => quote!(Add),
        Op::Concatenate { positions, channels } => {
            let (positions, channels) = (lit(*positions), channels.iter().map(|&c| lit(c)));
            quote!(Concatenate { positions: #positions, channels: &[#(#channels),*] })
        }
    };
    let inputs = layer.inputs.iter().map(|at| match at {
        Some(j) => {
            let j = lit(*j);
            quote!(Some(#j))
        }
        None => quote!(None),
    });
    let (in_len, out_len) = (lit(len(&layer.input)), lit(len(&layer.output)));
    quote!(::cnn::__rt::Node { op: ::cnn::__rt::Op::#op, inputs: &[#(#inputs),*], in_len: #in_len, out_len: #out_len })
}

fn tensor_info(t: &Tensor) -> TokenStream {
    let (n, s, o, l, trainable, l2) =
        (&t.name, shape_lits(&t.shape), lit(t.offset), lit(t.len), t.trainable, float(t.l2));
    let init = match t.init {
        Init::Kernel { initializer, fan_in, fan_out } => {
            let (i, a, b) = (variant(quote!(::cnn::Initializer), initializer), lit(fan_in), lit(fan_out));
            quote!(::cnn::Init::Kernel { initializer: #i, fan_in: #a, fan_out: #b })
        }
        Init::Zeros => quote!(::cnn::Init::Zeros),
        Init::Ones => quote!(::cnn::Init::Ones),
    };
    quote!(::cnn::TensorInfo { name: #n, shape: #s, offset: #o, len: #l, init: #init, trainable: #trainable, l2: #l2 })
}

/// Whether the network ends in a softmax over a flat output, so that it
/// trains with categorical cross-entropy.
fn is_classifier(model: &Model) -> bool {
    let last = model.layers.last().expect("a model has at least one layer");
    let softmax = matches!(
        last.op,
        Op::Activation(Activation::Softmax)
            | Op::Conv2D { activation: Activation::Softmax, .. }
            | Op::Dense { activation: Activation::Softmax, .. }
    );
    softmax && last.output.len() == 1
}

/// What every expansion declares, the fallback's included: the struct,
/// its `Spec`, the constructors and the typed-batch module.
struct Parts {
    doc: String,
    input: [usize; 3],
    output: Vec<usize>,
    total: usize,
    trainable: usize,
    nodes: Vec<TokenStream>,
    layers: Vec<TokenStream>,
    tensors: Vec<TokenStream>,
    layer_types: Vec<TokenStream>,
    summary: String,
    classifier: bool,
}

fn declare(def: &NetDef, p: Parts) -> TokenStream {
    let NetDef { attrs, vis, ident, .. } = def;
    let name = ident.to_string();
    let shapes_mod = Ident::new(&snake_case(&name), Span::call_site());
    let doc = p.doc;
    let [in_h, in_w, in_c] = p.input.map(lit);
    let (input_len, output_len) = (lit(len(&p.input)), lit(len(&p.output)));
    let output_shape = shape_lits(&p.output);
    let (input_type, output_type) = (shape_type(&p.input), shape_type(&p.output));
    let (total, trainable, frozen) = (lit(p.total), lit(p.trainable), lit(p.total - p.trainable));
    let (nodes, layers, tensors, layer_types, table) = (p.nodes, p.layers, p.tensors, p.layer_types, p.summary);
    let classifier = p.classifier.then(|| quote!(impl ::cnn::Classifier for #ident {}));
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #vis struct #ident(::cnn::Model<#ident>);

        #[doc = concat!("The type of each layer's output batch of [`", #name, "`], for typed forward passes.")]
        #vis mod #shapes_mod {
            /// A batch of input images.
            pub type Input = ::cnn::Batch<#input_type>;
            /// A batch of the network's outputs.
            pub type Output = ::cnn::Batch<#output_type>;
            #(#layer_types)*
        }

        impl ::cnn::Spec for #ident {
            const NAME: &'static str = #name;
            const INPUT_SHAPE: [usize; 3] = #ident::INPUT_SHAPE;
            const INPUT_LEN: usize = #ident::INPUT_LEN;
            const OUTPUT_LEN: usize = #ident::OUTPUT_LEN;
            const TOTAL_PARAMS: usize = #ident::TOTAL_PARAMS;
            const TRAINABLE_PARAMS: usize = #ident::TRAINABLE_PARAMS;
            const NODES: &'static [::cnn::__rt::Node] = &[#(#nodes),*];
            const TENSORS: &'static [::cnn::TensorInfo] = #ident::TENSORS;
            const LAYERS: &'static [::cnn::LayerInfo] = #ident::LAYERS;
            type InputShape = #input_type;
            type OutputShape = #output_type;
        }

        #classifier

        impl #ident {
            /// `(height, width, channels)` of one input image.
            pub const INPUT_SHAPE: [usize; 3] = [#in_h, #in_w, #in_c];
            /// The shape of one output, without the batch dimension.
            pub const OUTPUT_SHAPE: &'static [usize] = #output_shape;
            /// Values in one input image.
            pub const INPUT_LEN: usize = #input_len;
            /// Values in one output.
            pub const OUTPUT_LEN: usize = #output_len;
            pub const TOTAL_PARAMS: usize = #total;
            pub const TRAINABLE_PARAMS: usize = #trainable;
            /// Moving statistics and frozen layers' weights.
            pub const NON_TRAINABLE_PARAMS: usize = #frozen;
            /// Every layer, as `model.summary()` lists it.
            pub const LAYERS: &'static [::cnn::LayerInfo] = &[#(#layers),*];
            /// Every weight tensor, in Keras's order and layout, and its
            /// place in the flat parameter vector.
            pub const TENSORS: &'static [::cnn::TensorInfo] = &[#(#tensors),*];
            /// Keras 2's `model.summary()` table.
            pub const SUMMARY: &'static str = #table;

            /// Keras 2's `model.summary()` table.
            pub fn summary() -> ::std::string::String {
                ::std::string::String::from(Self::SUMMARY)
            }

            /// Keras's initializers as the layers name them (by default
            /// `glorot_uniform` kernels and zero biases). The same seed
            /// gives the same weights.
            pub fn new(seed: u64) -> Self {
                #ident(::cnn::Model::new(seed))
            }

            /// Reads weights written by `save`, by Keras or by PyTorch
            /// under the same names and layouts. A missing tensor, a wrong
            /// shape or dtype, or a truncated file is an error that names
            /// the file and the tensor.
            pub fn load(path: impl ::std::convert::AsRef<::std::path::Path>) -> ::cnn::Result<Self> {
                ::cnn::Model::load(path).map(#ident)
            }
        }

        /// Everything the network does: `predict`, `train_step`, `fit`,
        /// `evaluate`, `save`, ...
        impl ::std::ops::Deref for #ident {
            type Target = ::cnn::Model<#ident>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        impl ::std::ops::DerefMut for #ident {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }

        impl ::std::clone::Clone for #ident {
            fn clone(&self) -> Self {
                #ident(self.0.clone())
            }
        }

        impl ::std::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl ::cnn::Network for #ident {
            type Input = #shapes_mod::Input;
            type Output = #shapes_mod::Output;

            fn forward(&self, x: &Self::Input) -> Self::Output {
                ::cnn::Network::forward(&self.0, x)
            }
        }
    }
}

pub fn expand(def: &NetDef, model: &Model) -> TokenStream {
    let shapes_mod = snake_case(&def.ident.to_string());
    let table = summary::table(model);
    let doc = format!(
        "\n\n# Layers\n\nGenerated by `cnn!`: shapes and parameter counts as Keras's `model.summary()` shows them.\n\n```text\n{table}```\n\nThe output type of each layer is in the module [`{shapes_mod}`]."
    );
    let layers = model.layers.iter().map(|l| {
        let (n, k, s, p) = (&l.name, l.class, shape_lits(&l.output), lit(l.params));
        quote!(::cnn::LayerInfo { name: #n, kind: #k, output_shape: #s, params: #p })
    });
    let layer_types = model.layers.iter().map(|l| {
        let ty = Ident::new(&l.type_name, Span::call_site());
        let bt = shape_type(&l.output);
        let doc = format!("The output of `{}` ({}): `{}`.", l.name, l.class, summary::keras_shape(&l.output));
        quote!(#[doc = #doc] pub type #ty = ::cnn::Batch<#bt>;)
    });
    declare(
        def,
        Parts {
            doc,
            input: model.input,
            output: model.output().to_vec(),
            total: model.total_params,
            trainable: model.trainable_params,
            nodes: model.layers.iter().map(node).collect(),
            layers: layers.collect(),
            tensors: model.layers.iter().flat_map(|l| &l.tensors).map(tensor_info).collect(),
            layer_types: layer_types.collect(),
            summary: table,
            classifier: is_classifier(model),
        },
    )
}

/// The struct of a refused layer list, with no layers: it has every
/// method, so that code using the network reports nothing more than the
/// layer list's own error.
pub fn fallback(def: &NetDef) -> TokenStream {
    declare(
        def,
        Parts {
            doc: "\n\n(The layer list was refused; see the compile error.)".to_string(),
            input: [1, 1, 1],
            output: vec![1],
            total: 0,
            trainable: 0,
            nodes: Vec::new(),
            layers: Vec::new(),
            tensors: Vec::new(),
            layer_types: Vec::new(),
            summary: String::new(),
            classifier: true,
        },
    )
}
