//! The checked network: each call bound to its signature, named, given its
//! input and output shape, its parameters and their place in the flat
//! parameter vector. Every check that can refuse a layer list lives here or
//! in `args.rs`; after `Model::build` succeeds, expansion cannot fail.

use crate::args::{Activation, Initializer, Signature};
use crate::ast::{Arg, Block, BlockKind, Item, LayerCall, Loc, NetDef, Value, ValueKind};
use cnn_core::{checked_len, conv2d_params, dense_params, Padding, Pool, Window};

/// A Conv2D's or Dense's kernel options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kernel {
    pub initializer: Initializer,
    /// `kernel_regularizer = l2(x)`; 0 without one.
    pub l2: f64,
    pub trainable: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv2D {
        window: Window,
        filters: usize,
        activation: Activation,
        use_bias: bool,
        kernel: Kernel,
    },
    Dense {
        inputs: usize,
        units: usize,
        activation: Activation,
        use_bias: bool,
        kernel: Kernel,
    },
    Pool {
        kind: Pool,
        window: Window,
    },
    GlobalPool {
        kind: Pool,
        positions: usize,
        channels: usize,
    },
    Activation(Activation),
    Dropout(f64),
    Flatten,
    BatchNorm {
        channels: usize,
        momentum: f64,
        epsilon: f64,
        center: bool,
        scale: bool,
    },
    Rescaling {
        scale: f64,
        offset: f64,
    },
    Add,
    /// Joined on channels: each input's channels, in input order.
    Concatenate {
        positions: usize,
        channels: Vec<usize>,
    },
}

/// How a tensor starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Kernel { initializer: Initializer, fan_in: usize, fan_out: usize },
    Zeros,
    Ones,
}

/// A weight tensor and its place in the network's flat parameter vector.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// `{layer}.kernel`, `.bias`, `.gamma`, `.beta`, `.moving_mean` or
    /// `.moving_variance`, as Keras and safetensors name it.
    pub name: String,
    /// What it is to its layer: `kernel`, `bias`, `gamma`, ...
    pub role: &'static str,
    /// Keras's layout: `[kh, kw, in, out]`, `[in, out]` or `[out]`.
    pub shape: Vec<usize>,
    /// Set once every layer is known: trainable tensors come first.
    pub offset: usize,
    pub len: usize,
    pub init: Init,
    pub trainable: bool,
    pub l2: f64,
}

pub struct Layer {
    pub name: String,
    /// The name of the layer's output type: `conv2d_1` -> `Conv2d1`.
    pub type_name: String,
    /// The Keras class name, e.g. `MaxPooling2D`.
    pub class: &'static str,
    pub op: Op,
    /// The layers whose outputs this one reads (`None`: the network's
    /// input): one, or a merge's branches in order.
    pub inputs: Vec<Option<usize>>,
    /// The shape of the (first) input.
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub params: usize,
    /// In Keras's order: kernel, bias; or gamma, beta, moving mean and variance.
    pub tensors: Vec<Tensor>,
}

impl Layer {
    /// The tensor with this role (`"kernel"`, `"gamma"`, ...), if the layer has it.
    pub fn tensor(&self, role: &str) -> Option<&Tensor> {
        self.tensors.iter().find(|t| t.role == role)
    }
}

pub struct Model {
    pub input: [usize; 3],
    pub layers: Vec<Layer>,
    pub total_params: usize,
    pub trainable_params: usize,
}

impl Model {
    pub fn build(def: &NetDef) -> syn::Result<Model> {
        let Some(first) = def.layers.first() else {
            return Err(syn::Error::new(
                def.brace_span,
                "a network needs at least one layer, e.g. `Conv2D(32, (3, 3), input_shape = (32, 32, 3))`",
            ));
        };
        let Item::Layer(first) = first else {
            return Err(block_keyword(first).error(
                "the first layer needs `input_shape = (height, width, channels)`, so a network cannot start \
                 with a block; put a layer with `input_shape` first, e.g. `Conv2D(16, 3, input_shape = (32, 32, 3))`",
            ));
        };
        let mut builder = Builder { counters: Vec::new(), layers: Vec::new(), input: None };
        let start = Point { from: None, shape: Vec::new() };
        builder.layer(first, &start, true)?;
        let after = Point { from: Some(0), shape: builder.layers[0].output.clone() };
        builder.items(&def.layers[1..], after)?;
        let Builder { mut layers, input, .. } = builder;
        let input = input.expect("the first layer was checked for input_shape");
        // Trainable tensors first, so that the optimizer and the gradient
        // cover one slice; each group in Keras's order.
        let mut offset = 0;
        let mut trainable_params = 0;
        for trainable in [true, false] {
            for t in layers.iter_mut().flat_map(|l| &mut l.tensors).filter(|t| t.trainable == trainable) {
                t.offset = offset;
                offset += t.len;
            }
            if trainable {
                trainable_params = offset;
            }
        }
        if checked_len(&[offset]).is_none() {
            return Err(syn::Error::new(def.brace_span, "the network has too many weights; cnn! supports up to 2^31"));
        }
        Ok(Model { input, layers, total_params: offset, trainable_params })
    }

    /// Whether any layer reads more than one input or shares its output:
    /// such a network prints Keras's functional summary.
    pub fn has_branches(&self) -> bool {
        self.layers.iter().any(|l| matches!(l.op, Op::Add | Op::Concatenate { .. }))
    }

    pub fn output(&self) -> &[usize] {
        &self.layers.last().expect("a model has at least one layer").output
    }
}

/// A place in the network being built: the output of a layer (`None`:
/// the network's input) and its shape.
#[derive(Clone)]
struct Point {
    from: Option<usize>,
    shape: Vec<usize>,
}

/// Builds layers in Keras's order: a block's branches first, then its merge.
struct Builder {
    counters: Vec<(&'static str, usize)>,
    layers: Vec<Layer>,
    input: Option<[usize; 3]>,
}

/// Where errors about a block (or the first item) point.
fn block_keyword(item: &Item) -> Loc {
    match item {
        Item::Layer(call) => call.loc.clone(),
        Item::Block(block) => Loc(quote::ToTokens::to_token_stream(&block.keyword)),
    }
}

impl Builder {
    /// The next Keras name for a class: `conv2d_3`.
    fn next_name(&mut self, class: &'static str) -> String {
        let prefix = snake_prefix(class);
        let count = match self.counters.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, n)) => n,
            None => {
                self.counters.push((prefix, 0));
                &mut self.counters.last_mut().expect("just pushed").1
            }
        };
        *count += 1;
        format!("{prefix}_{count}")
    }

    /// "conv2d_1", or "the input".
    fn describe(&self, at: &Point) -> String {
        describe_output(at.from.map(|i| &self.layers[i]))
    }

    /// A list of items from `at`, each reading the one before.
    fn items(&mut self, items: &[Item], mut at: Point) -> syn::Result<Point> {
        for item in items {
            at = match item {
                Item::Layer(call) => self.layer(call, &at, false)?,
                Item::Block(block) => self.block(block, &at)?,
            };
        }
        Ok(at)
    }

    fn block(&mut self, block: &Block, at: &Point) -> syn::Result<Point> {
        let keyword = Loc(quote::ToTokens::to_token_stream(&block.keyword));
        if let BlockKind::Repeat(count) = &block.kind {
            let n = match count.kind {
                ValueKind::Int(n) if n >= 1 => n as usize,
                ValueKind::Int(_) => {
                    return Err(count.loc.error("`Repeat` needs a count of at least 1, e.g. `Repeat(3) { .. }`"))
                }
                _ => {
                    return Err(count
                        .loc
                        .error(format!("`Repeat` needs a whole number of copies, got {}", count.describe())))
                }
            };
            let body = &block.branches[0].0;
            if body.is_empty() {
                return Err(syn::Error::new(block.brace_span, "an empty `Repeat` block: give it the layers to repeat"));
            }
            let mut at = at.clone();
            for _ in 0..n {
                at = self.items(body, at)?;
            }
            return Ok(at);
        }
        let (class, what) = match block.kind {
            BlockKind::Add => ("Add", "added"),
            _ => ("Concatenate", "joined on channels"),
        };
        if block.branches.len() < 2 {
            let got = if block.branches.is_empty() { "none" } else { "one" };
            let article = if class == "Add" { "an" } else { "a" };
            return Err(syn::Error::new(
                block.brace_span,
                format!(
                    "{article} `{class}` block needs at least two branches to be {what}, got {got}: \
                     e.g. `{class} {{ [Conv2D(16, 3, padding = \"same\")], [] }}`, where `[]` is the identity"
                ),
            ));
        }
        let mut ends = Vec::new();
        for (items, _) in &block.branches {
            ends.push(self.items(items, at.clone())?);
        }
        let name = self.next_name(class);
        let describe = |k: usize, end: &Point| {
            let identity = if block.branches[k].0.is_empty() { "the identity, " } else { "" };
            format!("branch {} ({identity}{}) outputs {}", k + 1, self.describe(end), dims(&end.shape))
        };
        let all = || ends.iter().enumerate().map(|(k, e)| describe(k, e)).collect::<Vec<_>>().join(", ");
        let output = match block.kind {
            BlockKind::Add => {
                let main = &ends[0].shape;
                if let Some(k) = ends.iter().position(|e| &e.shape != main) {
                    let hint = match (&main[..], &ends[k].shape[..]) {
                        (&[h, w, c], &[h2, w2, _]) if h2 % h == 0 && w2 % w == 0 && h2 / h == w2 / w => {
                            let s = h2 / h;
                            let strides = if s > 1 { format!(", strides = {s}") } else { String::new() };
                            format!("; give the shortcut `Conv2D({c}, (1, 1){strides})`")
                        }
                        _ => String::new(),
                    };
                    return Err(block.branches[k]
                        .1
                        .error(format!("{name}: Add needs branches of one shape, but {}{hint}", all())));
                }
                (Op::Add, main.clone())
            }
            _ => {
                let rank = ends[0].shape.len();
                let hw = |e: &Point| e.shape[..e.shape.len() - 1].to_vec();
                if let Some(k) = ends.iter().position(|e| e.shape.len() != rank || hw(e) != hw(&ends[0])) {
                    return Err(block.branches[k].1.error(format!(
                        "{name}: Concatenate joins on channels, so its branches must agree in height and width, but {}",
                        all()
                    )));
                }
                let channels: Vec<usize> = ends.iter().map(|e| *e.shape.last().expect("shapes have an axis")).collect();
                let positions = hw(&ends[0]).iter().product();
                let mut output = hw(&ends[0]);
                output.push(channels.iter().sum());
                (Op::Concatenate { positions, channels }, output)
            }
        };
        let (op, output) = output;
        if checked_len(&output).is_none() {
            return Err(keyword.error(format!("{name}: the output, {}, is too large", dims(&output))));
        }
        let type_name = self.check_name(&name, &keyword)?;
        self.layers.push(Layer {
            name,
            type_name,
            class,
            op,
            inputs: ends.iter().map(|e| e.from).collect(),
            input: ends[0].shape.clone(),
            output: output.clone(),
            params: 0,
            tensors: Vec::new(),
        });
        Ok(Point { from: Some(self.layers.len() - 1), shape: output })
    }

    /// The output type's name for a new layer, after checking that the
    /// layer's name is free and not reserved.
    fn check_name(&self, name: &str, loc: &Loc) -> syn::Result<String> {
        if let Some(other) = self.layers.iter().position(|l| l.name == name) {
            return Err(loc.error(format!(
                "two layers are named `{name}`: layer {} and layer {}; layer names must be unique",
                other + 1,
                self.layers.len() + 1
            )));
        }
        let type_name = camel_case(name);
        if let Some(other) = self.layers.iter().find(|l| l.type_name == type_name) {
            return Err(loc.error(format!(
                "layers `{}` and `{name}` would both name their output type `{type_name}`; rename one",
                other.name
            )));
        }
        if type_name == "Input" || type_name == "Output" || type_name == "Self" {
            return Err(loc.error(format!(
                "`{name}` is reserved: the network's `{type_name}` type has that name; choose another layer name"
            )));
        }
        Ok(type_name)
    }

    /// One layer reading `at`; `first` for the network's first layer, the
    /// one that takes `input_shape`.
    fn layer(&mut self, call: &LayerCall, at: &Point, first: bool) -> syn::Result<Point> {
        let sig = signature(call)?;
        // Keras numbers only the layers it names itself.
        let name = match explicit_name(call) {
            Some(name) => name,
            None => self.next_name(sig.class),
        };
        let args = sig.bind(call, &name)?;
        args.name()?;
        match (first, args.input_shape()?) {
            (true, shape) => self.input = shape,
            (false, Some(_)) => {
                return Err(args.loc("input_shape").error(format!(
                    "{name}: only the first layer takes `input_shape`; this layer's input is the output of {}",
                    self.describe(at)
                )))
            }
            (false, None) => {}
        }
        if let (true, Some(shape)) = (first, self.input) {
            if checked_len(&shape).is_none() {
                return Err(args.loc("input_shape").error(format!(
                    "{name}: an input of {} is too large; cnn! supports up to 2^31 values per image",
                    dims(&shape)
                )));
            }
        }
        let Some(input_3) = self.input else {
            return Err(call.loc.error(format!(
                "{name}: the first layer needs `input_shape = (height, width, channels)`, \
                 e.g. `Conv2D(32, (3, 3), input_shape = (32, 32, 3))`"
            )));
        };
        let name_loc = args.loc("name").clone();
        let type_name = self.check_name(&name, &name_loc)?;
        let input = if first { input_3.to_vec() } else { at.shape.clone() };
        let previous = at.from.map(|i| &self.layers[i]);
        let ctx = Context { name: &name, previous, input: &input, call };
        let (op, output) = match sig.class {
            "Conv2D" => {
                let filters = args.positive("filters", None)?;
                let kernel = args.pair("kernel_size", None)?;
                let strides = args.pair("strides", Some((1, 1)))?;
                let padding = args.padding()?;
                let activation = args.activation("activation")?;
                let use_bias = args.boolean("use_bias", true)?;
                let options = kernel_options(&args)?;
                let window = ctx.window("kernel", kernel, strides, padding)?;
                let op = Op::Conv2D { window, filters, activation, use_bias, kernel: options };
                (op, vec![window.out_h, window.out_w, filters])
            }
            "Dense" => {
                let units = args.positive("units", None)?;
                let activation = args.activation("activation")?;
                let use_bias = args.boolean("use_bias", true)?;
                let options = kernel_options(&args)?;
                let [inputs] = input[..] else {
                    return Err(call.loc.error(format!(
                        "{name}: Dense needs a flat input, but {}{}; add `Flatten()` before it",
                        describe_output(ctx.previous),
                        ctx.outputs_phrase()
                    )));
                };
                (Op::Dense { inputs, units, activation, use_bias, kernel: options }, vec![units])
            }
            "MaxPooling2D" | "AveragePooling2D" => {
                let pool = args.pair("pool_size", Some((2, 2)))?;
                let strides = args.pair("strides", Some(pool))?;
                let padding = args.padding()?;
                let window = ctx.window("pool", pool, strides, padding)?;
                let kind = if sig.class == "MaxPooling2D" { Pool::Max } else { Pool::Average };
                (Op::Pool { kind, window }, vec![window.out_h, window.out_w, window.channels])
            }
            "GlobalMaxPooling2D" | "GlobalAveragePooling2D" => {
                let [h, w, channels] = input[..] else {
                    return Err(call.loc.error(format!(
                        "{name}: {} pools over height and width, but {}{}; it must come before `Flatten()` and `Dense`",
                        sig.class,
                        describe_output(ctx.previous),
                        ctx.outputs_phrase()
                    )));
                };
                let kind = if sig.class == "GlobalMaxPooling2D" { Pool::Max } else { Pool::Average };
                (Op::GlobalPool { kind, positions: h * w, channels }, vec![channels])
            }
            "BatchNormalization" => {
                if let Some(value) = args.get("axis") {
                    if !matches!(value.kind, ValueKind::Int(-1)) {
                        return Err(value.loc.error(format!(
                            "{name}: cnn! normalizes over the channels only: `axis` must be -1 (Keras's default)"
                        )));
                    }
                }
                let momentum = args.float_in("momentum", 0.99, 0.0..1.0, "in [0, 1)")?;
                let epsilon = args.float_in("epsilon", 0.001, f64::MIN_POSITIVE.., "greater than 0")?;
                let center = args.boolean("center", true)?;
                let scale = args.boolean("scale", true)?;
                let channels = *input.last().expect("shapes have at least one axis");
                (Op::BatchNorm { channels, momentum, epsilon, center, scale }, input.clone())
            }
            "Rescaling" => {
                let scale = args.float("scale", None)?;
                let offset = args.float("offset", Some(0.0))?;
                (Op::Rescaling { scale, offset }, input.clone())
            }
            "Activation" => (Op::Activation(args.activation("activation")?), input.clone()),
            "Dropout" => (Op::Dropout(args.rate()?), input.clone()),
            // The input's size was checked when the previous layer was built.
            "Flatten" => (Op::Flatten, vec![input.iter().product()]),
            _ => unreachable!("signature() only returns known classes"),
        };
        let too_large = |what: String| {
            call.loc.error(format!(
                "{name}: {what} is too large; cnn! supports up to 2^31 values per image and weights per layer"
            ))
        };
        if checked_len(&output).is_none() {
            return Err(too_large(format!("the output, {}", dims(&output))));
        }
        if let Op::Conv2D { window: w, .. } = op {
            if checked_len(&[w.out_h, w.out_w, w.k_h, w.k_w, w.channels]).is_none() {
                return Err(too_large("the im2col matrix of one image".to_string()));
            }
        }
        let params = params_of(&op).ok_or_else(|| too_large("the number of weights".to_string()))?;
        let tensors = tensors_of(&name, &op);
        debug_assert_eq!(params, tensors.iter().map(|t| t.len).sum::<usize>());
        let from = at.from.filter(|_| !first);
        self.layers.push(Layer {
            params,
            type_name,
            name,
            class: sig.class,
            op,
            inputs: vec![from],
            input,
            output: output.clone(),
            tensors,
        });
        Ok(Point { from: Some(self.layers.len() - 1), shape: output })
    }
}

/// What the layer being checked knows of its neighbourhood, for messages.
struct Context<'a> {
    name: &'a str,
    previous: Option<&'a Layer>,
    input: &'a [usize],
    call: &'a LayerCall,
}

impl Context<'_> {
    /// "max_pooling2d_2 outputs 2x2x64" or "the input is 32x32x3".
    fn outputs_phrase(&self) -> String {
        match self.previous {
            Some(p) => format!(" outputs {}", dims(&p.output)),
            None => format!(" is {}", dims(self.input)),
        }
    }

    fn window(
        &self,
        what: &str,
        size: (usize, usize),
        strides: (usize, usize),
        padding: Padding,
    ) -> syn::Result<Window> {
        let [in_h, in_w, channels] = self.input[..] else {
            return Err(self.call.loc.error(format!(
                "{}: this layer needs an input of shape (height, width, channels), but {}{}; \
                 2-D layers must come before `Flatten()` and `Dense`",
                self.name,
                describe_output(self.previous),
                self.outputs_phrase()
            )));
        };
        let Some(window) = Window::keras((in_h, in_w, channels), size, strides, padding) else {
            return Err(self.call.loc.error(format!(
                "{}: a {}x{} {what} with padding \"{}\" needs an input of at least {}x{}, but {}{}; \
                 use padding = \"same\" or a smaller {what}",
                self.name,
                size.0,
                size.1,
                padding.keras_name(),
                size.0,
                size.1,
                describe_output(self.previous),
                self.outputs_phrase()
            )));
        };
        Ok(window)
    }
}

/// "conv2d_1" for a layer, "the input" before the first one.
fn describe_output(previous: Option<&Layer>) -> String {
    previous.map(|p| p.name.clone()).unwrap_or_else(|| "the input".to_string())
}

/// `32x32x3`, or `(2304,)` for a flat shape.
pub fn dims(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x"),
    }
}

/// `kernel_initializer`, `kernel_regularizer` and `trainable` of a Conv2D or Dense.
fn kernel_options(args: &crate::args::Bound) -> syn::Result<Kernel> {
    Ok(Kernel { initializer: args.initializer()?, l2: args.l2()?, trainable: args.boolean("trainable", true)? })
}

fn params_of(op: &Op) -> Option<usize> {
    match *op {
        Op::Conv2D { window: w, filters, use_bias, .. } => conv2d_params((w.k_h, w.k_w), w.channels, filters, use_bias),
        Op::Dense { inputs, units, use_bias, .. } => dense_params(inputs, units, use_bias),
        Op::BatchNorm { channels, center, scale, .. } => checked_len(&[channels, 2 + center as usize + scale as usize]),
        _ => Some(0),
    }
}

/// The layer's weight tensors in Keras's order and layout (offsets are
/// set once the whole network is known).
fn tensors_of(layer: &str, op: &Op) -> Vec<Tensor> {
    let tensor = |role: &'static str, shape: Vec<usize>, init, trainable, l2| Tensor {
        name: format!("{layer}.{role}"),
        role,
        len: shape.iter().product(),
        shape,
        offset: 0,
        init,
        trainable,
        l2,
    };
    let mut tensors = Vec::new();
    match *op {
        Op::Conv2D { window: w, filters: out, use_bias, kernel: k, .. } => {
            let receptive = w.k_h * w.k_w;
            let init =
                Init::Kernel { initializer: k.initializer, fan_in: receptive * w.channels, fan_out: receptive * out };
            tensors.push(tensor("kernel", vec![w.k_h, w.k_w, w.channels, out], init, k.trainable, k.l2));
            if use_bias {
                tensors.push(tensor("bias", vec![out], Init::Zeros, k.trainable, 0.0));
            }
        }
        Op::Dense { inputs, units, use_bias, kernel: k, .. } => {
            let init = Init::Kernel { initializer: k.initializer, fan_in: inputs, fan_out: units };
            tensors.push(tensor("kernel", vec![inputs, units], init, k.trainable, k.l2));
            if use_bias {
                tensors.push(tensor("bias", vec![units], Init::Zeros, k.trainable, 0.0));
            }
        }
        Op::BatchNorm { channels: c, center, scale, .. } => {
            if scale {
                tensors.push(tensor("gamma", vec![c], Init::Ones, true, 0.0));
            }
            if center {
                tensors.push(tensor("beta", vec![c], Init::Zeros, true, 0.0));
            }
            tensors.push(tensor("moving_mean", vec![c], Init::Zeros, false, 0.0));
            tensors.push(tensor("moving_variance", vec![c], Init::Ones, false, 0.0));
        }
        _ => {}
    }
    tensors
}

/// `name = "..."` as written, before any checking (`Bound::name` checks it).
fn explicit_name(call: &LayerCall) -> Option<String> {
    call.args.iter().find_map(|arg| match arg {
        Arg::Keyword(key, Value { kind: ValueKind::Str(s), .. }) if key == "name" => Some(s.clone()),
        _ => None,
    })
}

/// The arguments Conv2D and Dense take by keyword only.
const KERNEL_KEYWORDS: &[&str] = &["kernel_initializer", "kernel_regularizer", "trainable"];

fn signature(call: &LayerCall) -> syn::Result<Signature> {
    let sig =
        |class, positional, required, keywords, example| Signature { class, positional, required, keywords, example };
    let pool = &["pool_size", "strides", "padding"][..];
    Ok(match call.kind.to_string().as_str() {
        "Conv2D" => sig(
            "Conv2D",
            &["filters", "kernel_size", "strides", "padding", "activation", "use_bias"][..],
            2,
            KERNEL_KEYWORDS,
            "Conv2D(32, (3, 3))",
        ),
        "Dense" => sig("Dense", &["units", "activation", "use_bias"][..], 1, KERNEL_KEYWORDS, "Dense(10)"),
        "MaxPooling2D" => sig("MaxPooling2D", pool, 0, &[], "MaxPooling2D((2, 2))"),
        "AveragePooling2D" => sig("AveragePooling2D", pool, 0, &[], "AveragePooling2D((2, 2))"),
        "GlobalMaxPooling2D" => sig("GlobalMaxPooling2D", &[], 0, &[], "GlobalMaxPooling2D()"),
        "GlobalAveragePooling2D" => sig("GlobalAveragePooling2D", &[], 0, &[], "GlobalAveragePooling2D()"),
        "BatchNormalization" => sig(
            "BatchNormalization",
            &["axis", "momentum", "epsilon", "center", "scale"][..],
            0,
            &[],
            "BatchNormalization()",
        ),
        "Rescaling" => sig("Rescaling", &["scale", "offset"][..], 1, &[], "Rescaling(1.0 / 255)"),
        "Activation" => sig("Activation", &["activation"][..], 1, &[], "Activation(\"relu\")"),
        "Dropout" => sig("Dropout", &["rate"][..], 1, &[], "Dropout(0.25)"),
        "Flatten" => sig("Flatten", &[][..], 0, &[], "Flatten()"),
        other => {
            return Err(syn::Error::new(
                call.kind.span(),
                format!(
                    "unknown layer `{other}`; cnn! knows Conv2D, Dense, MaxPooling2D, AveragePooling2D, \
                     GlobalMaxPooling2D, GlobalAveragePooling2D, BatchNormalization, Rescaling, Activation, \
                     Dropout and Flatten"
                ),
            ))
        }
    })
}

/// Keras 2's name prefix for a class: `MaxPooling2D` -> `max_pooling2d`.
fn snake_prefix(class: &'static str) -> &'static str {
    match class {
        "Conv2D" => "conv2d",
        "Dense" => "dense",
        "MaxPooling2D" => "max_pooling2d",
        "AveragePooling2D" => "average_pooling2d",
        "GlobalMaxPooling2D" => "global_max_pooling2d",
        "GlobalAveragePooling2D" => "global_average_pooling2d",
        "BatchNormalization" => "batch_normalization",
        "Rescaling" => "rescaling",
        "Activation" => "activation",
        "Dropout" => "dropout",
        "Add" => "add",
        "Concatenate" => "concatenate",
        _ => "flatten",
    }
}

/// `max_pooling2d_1` -> `MaxPooling2d1`.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = true;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `Cifar10Net` -> `cifar10_net`, `MLPNet` -> `mlp_net`.
pub fn snake_case(camel: &str) -> String {
    let chars: Vec<char> = camel.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}
