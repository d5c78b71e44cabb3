//! Code generation: the struct, its constants and types, and straight-line
//! forward and backward code for exactly the declared layers. Nothing here
//! can fail; every check happened in `Model::build`.

use crate::args::Activation;
use crate::ast::NetDef;
use crate::model::{snake_case, Layer, Model, Op, PoolKind, Window};
use crate::summary;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

fn shape_lits(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| lit(d));
    quote!(&[#(#dims),*])
}

/// `::cnn::Batch<::cnn::Shape3<h, w, c>>` or `::cnn::Batch<::cnn::Shape1<n>>`.
fn batch_type(shape: &[usize]) -> TokenStream {
    let dims = shape.iter().map(|&d| lit(d));
    let shape_ty = if shape.len() == 3 { quote!(Shape3) } else { quote!(Shape1) };
    quote!(::cnn::Batch<::cnn::#shape_ty<#(#dims),*>>)
}

fn activation(act: Activation) -> TokenStream {
    let variant = match act {
        Activation::Linear => quote!(Linear),
        Activation::Relu => quote!(Relu),
        Activation::Sigmoid => quote!(Sigmoid),
        Activation::Tanh => quote!(Tanh),
        Activation::Softmax => quote!(Softmax),
    };
    quote!(::cnn::__rt::Activation::#variant)
}

fn window(w: &Window) -> TokenStream {
    let [in_h, in_w, channels, k_h, k_w, s_h, s_w, pad_top, pad_left, out_h, out_w] =
        [w.in_h, w.in_w, w.channels, w.k_h, w.k_w, w.s_h, w.s_w, w.pad_top, w.pad_left, w.out_h, w.out_w].map(lit);
    quote!(::cnn::__rt::Window {
        in_h: #in_h, in_w: #in_w, channels: #channels, k_h: #k_h, k_w: #k_w, s_h: #s_h, s_w: #s_w,
        pad_top: #pad_top, pad_left: #pad_left, out_h: #out_h, out_w: #out_w,
    })
}

/// Where a layer's output lives: the caller's input slice, or a workspace field.
#[derive(Clone)]
enum Buf {
    Input,
    Field(Ident),
}

impl Buf {
    /// `&x[..n * len]` or `&ws.y3[..n * len]`.
    fn get(&self, len: usize) -> TokenStream {
        let len = lit(len);
        match self {
            Buf::Input => quote!(&x[..n * #len]),
            Buf::Field(f) => quote!(&ws.#f[..n * #len]),
        }
    }
    fn field(&self) -> &Ident {
        match self {
            Buf::Field(f) => f,
            Buf::Input => unreachable!("a layer never writes into the caller's input"),
        }
    }
}

fn len(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Per-layer facts the generated code needs.
struct Plan<'a> {
    model: &'a Model,
    /// Each layer's output buffer.
    out: Vec<Buf>,
    /// Workspace fields: name and values per image.
    fields: Vec<(Ident, usize)>,
}

impl<'a> Plan<'a> {
    fn new(model: &'a Model) -> Self {
        let mut out: Vec<Buf> = Vec::new();
        let mut fields = Vec::new();
        for (i, layer) in model.layers.iter().enumerate() {
            let previous = out.last().cloned().unwrap_or(Buf::Input);
            let buf = match (&layer.op, previous) {
                // Flatten only renames the shape: NHWC flattens in (h, w, c) order.
                (Op::Flatten, Buf::Field(f)) => Buf::Field(f),
                _ => {
                    let f = format_ident!("y{}", i);
                    fields.push((f.clone(), len(&layer.output)));
                    Buf::Field(f)
                }
            };
            if let Op::Dropout(_) = layer.op {
                fields.push((format_ident!("mask{}", i), len(&layer.output)));
            }
            if Plan::defers(model, i) {
                fields.push((format_ident!("dz{}", i), len(&layer.output)));
            }
            out.push(buf);
        }
        Plan { model, out, fields }
    }

    /// Whether layer `i`'s kernel gradient waits for the whole batch
    /// (`Train::deferred_grads`): a Dense's, reading its input from the
    /// workspace, and its output gradient from a copy kept in `dz{i}`.
    fn defers(model: &Model, i: usize) -> bool {
        i > 0 && matches!(model.layers[i].op, Op::Dense { .. })
    }

    /// `Train::DEFERRED` and `Train::deferred_grads`: one product over
    /// every chunk's rows per deferred kernel.
    fn deferred(&self) -> TokenStream {
        let layers = (0..self.model.layers.len()).filter(|&i| Plan::defers(self.model, i));
        let (mut ranges, mut calls) = (Vec::new(), Vec::new());
        for i in layers {
            let layer = &self.model.layers[i];
            let Op::Dense { inputs, units, .. } = layer.op else { unreachable!("only Dense defers") };
            let kernel = &layer.tensors[0];
            let (k0, k1) = (lit(kernel.offset), lit(kernel.offset + kernel.len));
            let input = self.input_of(i).get(inputs);
            let (inputs, units, dz) = (lit(inputs), lit(units), format_ident!("dz{}", i));
            ranges.push(quote!((#k0, #k1)));
            calls.push(quote!(::cnn::__rt::dense_kernel_grad(
                #inputs,
                #units,
                chunks.len(),
                |c| {
                    let (ws, n) = chunks.get(c);
                    (#input, &ws.#dz[..n * #units], n)
                },
                &mut grads[#k0..#k1],
            );));
        }
        quote! {
            const DEFERRED: &'static [(usize, usize)] = &[#(#ranges),*];

            #[allow(unused_variables)]
            fn deferred_grads(p: &[f32], chunks: &::cnn::__rt::Chunks<'_, Self::Workspace>, grads: &mut [f32]) {
                #(#calls)*
            }
        }
    }

    fn input_of(&self, i: usize) -> Buf {
        if i == 0 {
            Buf::Input
        } else {
            self.out[i - 1].clone()
        }
    }

    /// The scratch sizes, as a const expression the runtime evaluates:
    /// which algorithm a conv runs with, and so what it needs, is the
    /// runtime's decision.
    fn scratch_len(&self) -> TokenStream {
        let convs = self.model.layers.iter().filter_map(|l| match l.op {
            Op::Conv2D { window: w, filters, .. } => Some(conv(&w, filters)),
            _ => None,
        });
        quote!(::cnn::__rt::conv_scratch_len(&[#(#convs),*]))
    }

    /// The ping-pong gradient buffers hold any layer's input or output.
    fn grad_len(&self) -> usize {
        self.model.layers.iter().map(|l| len(&l.output).max(len(&l.input))).max().unwrap_or(0)
    }

    fn forward(&self) -> TokenStream {
        let mut code = TokenStream::new();
        for (i, layer) in self.model.layers.iter().enumerate() {
            let input = self.input_of(i).get(len(&layer.input));
            let out_len = len(&layer.output);
            let step = match &layer.op {
                Op::Conv2D { window: w, filters, activation: act, .. } => {
                    let (kernel, bias) = param_slices(layer);
                    let (conv, act, y) = (conv(w, *filters), activation(*act), self.out[i].field());
                    quote!(::cnn::__rt::conv2d_forward(&#conv, #kernel, #bias, #act, #input, &mut ws.#y, n, &mut ws.cols);)
                }
                Op::Dense { inputs, units, activation: act, .. } => {
                    let (kernel, bias) = param_slices(layer);
                    let (inputs, units, act, y) = (lit(*inputs), lit(*units), activation(*act), self.out[i].field());
                    quote!(::cnn::__rt::dense_forward(#inputs, #units, #kernel, #bias, #act, #input, &mut ws.#y, n);)
                }
                Op::Pool { kind, window: w } => {
                    let (kind, w, y) = (pool_kind(*kind), window(w), self.out[i].field());
                    quote!(::cnn::__rt::pool_forward(#kind, &#w, #input, &mut ws.#y, n);)
                }
                Op::Activation(act) => {
                    let (act, y, last) =
                        (activation(*act), self.out[i].field(), lit(*layer.output.last().unwrap_or(&1)));
                    let n_len = lit(out_len);
                    quote!(::cnn::__rt::activation_forward(#act, #input, &mut ws.#y[..n * #n_len], #last);)
                }
                Op::Dropout(rate) => {
                    let (y, mask) = (self.out[i].field(), format_ident!("mask{}", i));
                    let (rate, n_len, index) = (Literal::f32_suffixed(*rate as f32), lit(out_len), lit(i));
                    quote!(match dropout {
                        Some((key, first)) => ::cnn::__rt::dropout_forward(
                            #rate, key.layer(#index), first * #n_len, #input,
                            &mut ws.#y[..n * #n_len], &mut ws.#mask[..n * #n_len],
                        ),
                        None => ws.#y[..n * #n_len].copy_from_slice(#input),
                    })
                }
                Op::Flatten => match &self.out[i] {
                    // The first layer flattens the caller's input: copy it.
                    Buf::Field(y) if i == 0 => {
                        let n_len = lit(out_len);
                        quote!(ws.#y[..n * #n_len].copy_from_slice(#input);)
                    }
                    _ => quote!(),
                },
            };
            code.extend(step);
        }
        code
    }

    /// The backward pass, if the network ends in softmax over a flat
    /// output (categorical cross-entropy, fused with the softmax).
    fn backward(&self) -> Option<TokenStream> {
        let layers = &self.model.layers;
        let last = layers.len() - 1;
        let out = &layers[last].output;
        let inline_softmax = match layers[last].op {
            Op::Activation(Activation::Softmax) => false,
            Op::Conv2D { activation: Activation::Softmax, .. } | Op::Dense { activation: Activation::Softmax, .. } => {
                true
            }
            _ => return None,
        };
        if out.len() != 1 {
            return None;
        }
        let first_param = layers.iter().position(|l| l.params > 0)?;
        let classes = lit(out[0]);
        let probs = self.out[last].get(out[0]);
        let mut grads = [format_ident!("g0"), format_ident!("g1")];
        let mut code = quote!(
            let loss = ::cnn::__rt::softmax_cross_entropy(#probs, labels, #classes, scale, &mut ws.g0[..n * #classes]);
        );
        // The fused gradient is at the softmax's input: skip an Activation
        // layer's own backward, or an inline softmax's derivative.
        let top = if inline_softmax { last } else { last - 1 };
        for i in (first_param..=top).rev() {
            let layer = &layers[i];
            let (g, other) = (&grads[0], &grads[1]);
            let out_len = lit(len(&layer.output));
            let in_len = lit(len(&layer.input));
            let cur = quote!(ws.#g[..n * #out_len]);
            let y = self.out[i].get(len(&layer.output));
            let input = self.input_of(i).get(len(&layer.input));
            let dx = if i == first_param { quote!(None) } else { quote!(Some(&mut ws.#other[..n * #in_len])) };
            let mut swap = false;
            let step = match &layer.op {
                Op::Conv2D { activation: act, .. } | Op::Dense { activation: act, .. } => {
                    let derivative = if *act == Activation::Linear || (i == last && inline_softmax) {
                        quote!()
                    } else {
                        let (act, last_dim) = (activation(*act), lit(*layer.output.last().unwrap_or(&1)));
                        quote!(::cnn::__rt::activation_backward(#act, #y, &mut #cur, #last_dim);)
                    };
                    let kernel_t = &layer.tensors[0];
                    let (k0, k1) = (lit(kernel_t.offset), lit(kernel_t.offset + kernel_t.len));
                    let end = lit(layer.tensors.last().map(|t| t.offset + t.len).unwrap_or(0));
                    let klen = lit(kernel_t.len);
                    let db = if layer.tensors.len() > 1 { quote!(Some(db)) } else { quote!(None) };
                    let call = match &layer.op {
                        Op::Conv2D { window: w, filters, .. } => {
                            let conv = conv(w, *filters);
                            quote!(::cnn::__rt::conv2d_backward(&#conv, &p[#k0..#k1], #input, &#cur, #dx, dk, #db, n, &mut ws.cols, &mut ws.dcols);)
                        }
                        Op::Dense { inputs, units, .. } => {
                            let (inputs, units) = (lit(*inputs), lit(*units));
                            // A deferred kernel gradient keeps dz for later instead.
                            let (keep, dk) = if Plan::defers(self.model, i) {
                                let dz = format_ident!("dz{}", i);
                                (quote!(ws.#dz[..n * #units].copy_from_slice(&#cur);), quote!(None))
                            } else {
                                (quote!(), quote!(Some(dk)))
                            };
                            quote! {
                                #keep
                                ::cnn::__rt::dense_backward(#inputs, #units, &p[#k0..#k1], #input, &#cur, #dx, #dk, #db, n);
                            }
                        }
                        _ => unreachable!("matched above"),
                    };
                    swap = i != first_param;
                    quote!({
                        #derivative
                        let (dk, db) = ::cnn::__rt::split_param(&mut grads[#k0..#end], #klen);
                        #call
                    })
                }
                Op::Pool { kind, window: w } => {
                    swap = true;
                    let (kind, w) = (pool_kind(*kind), window(w));
                    quote!(::cnn::__rt::pool_backward(#kind, &#w, #input, #y, &#cur, &mut ws.#other[..n * #in_len], n);)
                }
                Op::Activation(act) => {
                    let (act, last_dim) = (activation(*act), lit(*layer.output.last().unwrap_or(&1)));
                    quote!(::cnn::__rt::activation_backward(#act, #y, &mut #cur, #last_dim);)
                }
                Op::Dropout(_) => {
                    let mask = format_ident!("mask{}", i);
                    quote!(if dropout { ::cnn::__rt::dropout_backward(&ws.#mask[..n * #out_len], &mut #cur); })
                }
                Op::Flatten => quote!(),
            };
            code.extend(step);
            if swap {
                grads.swap(0, 1);
            }
        }
        code.extend(quote!(loss));
        Some(code)
    }
}

fn conv(w: &Window, filters: usize) -> TokenStream {
    let (w, filters) = (window(w), lit(filters));
    quote!(::cnn::__rt::Conv { window: #w, filters: #filters })
}

fn pool_kind(kind: PoolKind) -> TokenStream {
    match kind {
        PoolKind::Max => quote!(::cnn::__rt::Pool::Max),
        PoolKind::Average => quote!(::cnn::__rt::Pool::Average),
    }
}

/// `&p[a..b]` for the kernel and `Some(&p[b..c])` or `None` for the bias.
fn param_slices(layer: &Layer) -> (TokenStream, TokenStream) {
    let slice = |i: usize| {
        let t = &layer.tensors[i];
        let (a, b) = (lit(t.offset), lit(t.offset + t.len));
        quote!(&p[#a..#b])
    };
    let kernel = slice(0);
    let bias = if layer.tensors.len() > 1 {
        let b = slice(1);
        quote!(Some(#b))
    } else {
        quote!(None)
    };
    (kernel, bias)
}

pub fn expand(def: &NetDef, model: &Model) -> TokenStream {
    let NetDef { attrs, vis, ident, .. } = def;
    let plan = Plan::new(model);
    let name = ident.to_string();
    let ws_ident = format_ident!("__Cnn{}Workspace", ident);
    let shapes_mod = Ident::new(&snake_case(&name), Span::call_site());

    let table = summary::table(model);
    let doc = format!(
        "\n\n# Layers\n\nGenerated by `cnn!`: shapes and parameter counts as Keras's `model.summary()` shows them.\n\n```text\n{table}```\n\nThe output type of each layer is in the module [`{shapes_mod}`]."
    );

    let [in_h, in_w, in_c] = model.input.map(lit);
    let output = model.output();
    let output_shape = shape_lits(output);
    let (input_len, output_len) = (lit(len(&model.input)), lit(len(output)));
    let total = lit(model.total_params);
    let input_type = batch_type(&model.input);
    let output_type = batch_type(output);

    let layer_infos = model.layers.iter().map(|l| {
        let (n, k, s, p) = (&l.name, l.class, shape_lits(&l.output), lit(l.params));
        quote!(::cnn::LayerInfo { name: #n, kind: #k, output_shape: #s, params: #p })
    });
    let tensor_infos = model.layers.iter().flat_map(|l| &l.tensors).map(|t| {
        let (n, s, o, l) = (&t.name, shape_lits(&t.shape), lit(t.offset), lit(t.len));
        let fans = match t.fans {
            Some((a, b)) => {
                let (a, b) = (lit(a), lit(b));
                quote!(Some((#a, #b)))
            }
            None => quote!(None),
        };
        quote!(::cnn::TensorInfo { name: #n, shape: #s, offset: #o, len: #l, fans: #fans })
    });
    let layer_types = model.layers.iter().map(|l| {
        let ty = Ident::new(&l.type_name, Span::call_site());
        let bt = batch_type(&l.output);
        let doc = format!("The output of `{}` ({}): `{}`.", l.name, l.class, summary::keras_shape(&l.output));
        quote!(#[doc = #doc] pub type #ty = #bt;)
    });

    let field_names: Vec<&Ident> = plan.fields.iter().map(|(f, _)| f).collect();
    let field_lens = plan.fields.iter().map(|(_, l)| lit(*l));
    let (scratch_len, grad_len) = (plan.scratch_len(), lit(plan.grad_len()));
    let forward = plan.forward();
    let output_buf = plan.out.last().expect("at least one layer").get(len(output));
    let layer_outputs = model.layers.iter().enumerate().map(|(i, l)| {
        let b = plan.out[i].get(len(&l.output));
        quote!((#b).to_vec())
    });

    let deferred = plan.deferred();
    let train = plan.backward().map(|backward| {
        quote! {
            impl ::cnn::__rt::Train for #ident {
                #deferred

                #[allow(unused_variables, clippy::all)]
                fn backward(
                    p: &[f32], ws: &mut #ws_ident, x: &[f32], labels: &[u8], n: usize, scale: f32,
                    dropout: bool, grads: &mut [f32],
                ) -> f64 {
                    #backward
                }
            }

            impl #ident {
                /// One training step on a batch (NHWC images, class indices):
                /// forward, backward, one optimizer update. Returns the
                /// batch's mean categorical cross-entropy before the update.
                ///
                /// # Panics
                /// If `images` is not `labels.len()` images of the input
                /// shape, or a label is not below the number of classes.
                pub fn train_step(&mut self, images: &[f32], labels: &[u8], opt: &mut impl ::cnn::Optimizer) -> f32 {
                    self.try_train_step(images, labels, opt).unwrap_or_else(|e| panic!("{}", e))
                }

                /// [`Self::train_step`], with bad input as an error.
                pub fn try_train_step(&mut self, images: &[f32], labels: &[u8], opt: &mut impl ::cnn::Optimizer) -> ::cnn::Result<f32> {
                    ::cnn::__rt::train_step::<Self>(&mut self.params, &mut self.engine, images, labels, opt)
                }

                /// Keras's `model.fit`: epochs of shuffled batches of `train`,
                /// evaluated on `validation` after each; see [`::cnn::FitOptions`].
                pub fn fit(
                    &mut self,
                    opt: &mut impl ::cnn::Optimizer,
                    train: &::cnn::Dataset,
                    validation: ::std::option::Option<&::cnn::Dataset>,
                    options: &::cnn::FitOptions,
                ) -> ::cnn::Result<::cnn::History> {
                    ::cnn::fit(self, opt, train, validation, options)
                }

                /// The mean loss and its gradient for every parameter (in
                /// [`Self::TENSORS`] order), without updating anything.
                pub fn gradients(&mut self, images: &[f32], labels: &[u8]) -> ::cnn::Result<(f32, &[f32])> {
                    let loss = ::cnn::__rt::gradients::<Self>(&self.params, &mut self.engine, images, labels)?;
                    Ok((loss, self.engine.grads()))
                }
            }
        }
    });

    quote! {
        #(#attrs)*
        #[doc = #doc]
        #vis struct #ident {
            params: ::std::vec::Vec<f32>,
            engine: ::cnn::__rt::Engine<#ws_ident>,
        }

        #[doc = concat!("The type of each layer's output batch of [`", #name, "`], for typed forward passes.")]
        #vis mod #shapes_mod {
            /// A batch of input images.
            pub type Input = #input_type;
            /// A batch of the network's outputs.
            pub type Output = #output_type;
            #(#layer_types)*
        }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #vis struct #ws_ident {
            #(#field_names: ::std::vec::Vec<f32>,)*
            g0: ::std::vec::Vec<f32>,
            g1: ::std::vec::Vec<f32>,
            cols: ::std::vec::Vec<f32>,
            dcols: ::std::vec::Vec<f32>,
        }

        impl ::cnn::__rt::Spec for #ident {
            const NAME: &'static str = #name;
            const INPUT_SHAPE: [usize; 3] = [#in_h, #in_w, #in_c];
            const INPUT_LEN: usize = #input_len;
            const OUTPUT_LEN: usize = #output_len;
            const TOTAL_PARAMS: usize = #total;
            const TENSORS: &'static [::cnn::TensorInfo] = #ident::TENSORS;
            type Workspace = #ws_ident;

            fn workspace(images: usize) -> #ws_ident {
                const SCRATCH: (usize, usize) = #scratch_len;
                #ws_ident {
                    #(#field_names: ::std::vec![0.0; images * #field_lens],)*
                    g0: ::std::vec![0.0; images * #grad_len],
                    g1: ::std::vec![0.0; images * #grad_len],
                    cols: ::std::vec![0.0; SCRATCH.0],
                    dcols: ::std::vec![0.0; SCRATCH.1],
                }
            }

            #[allow(unused_variables, clippy::all)]
            fn forward(p: &[f32], ws: &mut #ws_ident, x: &[f32], n: usize, dropout: ::std::option::Option<(::cnn::__rt::DropoutKey, usize)>) {
                #forward
            }

            fn output(ws: &#ws_ident, n: usize) -> &[f32] {
                #output_buf
            }

            fn layer_outputs(ws: &#ws_ident, n: usize) -> ::std::vec::Vec<::std::vec::Vec<f32>> {
                ::std::vec![#(#layer_outputs),*]
            }

            fn params(&self) -> &[f32] {
                &self.params
            }

            fn engine(&self) -> &::cnn::__rt::Engine<#ws_ident> {
                &self.engine
            }

            fn parts_mut(&mut self) -> (&mut [f32], &mut ::cnn::__rt::Engine<#ws_ident>) {
                (&mut self.params, &mut self.engine)
            }
        }

        #train

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
            pub const TRAINABLE_PARAMS: usize = #total;
            pub const NON_TRAINABLE_PARAMS: usize = 0;
            /// Every layer, as `model.summary()` lists it.
            pub const LAYERS: &'static [::cnn::LayerInfo] = &[#(#layer_infos),*];
            /// Every weight tensor, in Keras's order and layout, and its
            /// place in the flat parameter vector.
            pub const TENSORS: &'static [::cnn::TensorInfo] = &[#(#tensor_infos),*];
            /// Keras 2's `model.summary()` table.
            pub const SUMMARY: &'static str = #table;

            /// Keras 2's `model.summary()` table.
            pub fn summary() -> ::std::string::String {
                ::std::string::String::from(Self::SUMMARY)
            }

            /// Keras's default initializers: `glorot_uniform` kernels and
            /// zero biases. The same seed gives the same weights.
            pub fn new(seed: u64) -> Self {
                #ident {
                    params: ::cnn::__rt::init_params(Self::TENSORS, Self::TOTAL_PARAMS, seed),
                    engine: ::cnn::__rt::Engine::new(seed),
                }
            }

            /// All parameters, flat, in [`Self::TENSORS`] order.
            pub fn params(&self) -> &[f32] {
                &self.params
            }

            pub fn params_mut(&mut self) -> &mut [f32] {
                &mut self.params
            }

            /// One weight tensor by name (`conv2d_1.kernel`), in Keras's layout.
            pub fn tensor(&self, name: &str) -> ::std::option::Option<&[f32]> {
                Self::TENSORS.iter().find(|t| t.name == name).map(|t| &self.params[t.range()])
            }

            /// Training state beside the weights: step count, dropout seed.
            pub fn engine(&self) -> &::cnn::__rt::Engine<#ws_ident> {
                &self.engine
            }

            pub fn engine_mut(&mut self) -> &mut ::cnn::__rt::Engine<#ws_ident> {
                &mut self.engine
            }

            /// Dropout while training (on by default). Off, a training step
            /// computes what Keras's reference gradients do.
            pub fn set_dropout(&mut self, enabled: bool) {
                self.engine.dropout = enabled;
            }

            /// Inference on `images.len() / INPUT_LEN` NHWC images, dropout
            /// off: `n * OUTPUT_LEN` values.
            ///
            /// # Panics
            /// If `images.len()` is not a multiple of [`Self::INPUT_LEN`].
            pub fn predict(&self, images: &[f32]) -> ::std::vec::Vec<f32> {
                self.try_predict(images).unwrap_or_else(|e| panic!("{}", e))
            }

            /// [`Self::predict`], with bad input as an error.
            pub fn try_predict(&self, images: &[f32]) -> ::cnn::Result<::std::vec::Vec<f32>> {
                ::cnn::__rt::predict::<Self>(&self.params, &self.engine, images)
            }

            /// Keras's `model.evaluate`: mean loss and accuracy on `data`.
            pub fn evaluate(&self, data: &::cnn::Dataset, batch_size: usize) -> ::cnn::Result<::cnn::Evaluation> {
                ::cnn::evaluate(self, data, batch_size)
            }

            /// Every layer's output, in layer order (inference mode).
            pub fn layer_outputs(&self, images: &[f32]) -> ::cnn::Result<::std::vec::Vec<::std::vec::Vec<f32>>> {
                ::cnn::__rt::layer_outputs::<Self>(&self.params, images)
            }

            /// Writes the weights as safetensors, `{layer}.kernel` and
            /// `{layer}.bias` in Keras's layouts.
            pub fn save(&self, path: impl ::std::convert::AsRef<::std::path::Path>) -> ::cnn::Result<()> {
                let mut metadata = ::std::collections::HashMap::new();
                metadata.insert(::std::string::String::from("network"), ::std::string::String::from(#name));
                ::cnn::__rt::write(path.as_ref(), &::cnn::__rt::named_params(Self::TENSORS, &self.params), metadata)
            }

            /// Reads weights written by [`Self::save`], by Keras or by
            /// PyTorch under the same names and layouts. A missing tensor, a
            /// wrong shape or dtype, or a truncated file is an error that
            /// names the file and the tensor.
            pub fn load(path: impl ::std::convert::AsRef<::std::path::Path>) -> ::cnn::Result<Self> {
                let file = ::cnn::__rt::TensorFile::open(path)?;
                let params = file.params(Self::TENSORS, Self::TOTAL_PARAMS)?;
                Ok(#ident { params, engine: ::cnn::__rt::Engine::new(0) })
            }
        }

        impl ::std::clone::Clone for #ident {
            fn clone(&self) -> Self {
                #ident { params: self.params.clone(), engine: self.engine.clone() }
            }
        }

        impl ::std::fmt::Debug for #ident {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(#name).field("params", &self.params.len()).field("engine", &self.engine).finish()
            }
        }

        impl ::cnn::Network for #ident {
            type Input = #shapes_mod::Input;
            type Output = #shapes_mod::Output;

            fn forward(&self, x: &Self::Input) -> Self::Output {
                ::cnn::Batch::from_vec(self.predict(x.as_slice())).expect("the output holds whole outputs")
            }
        }
    }
}
