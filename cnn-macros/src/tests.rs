//! Property tests of the whole pipeline (parse -> check -> expand), on
//! `proc_macro2` tokens: it never panics, whatever the layer list, and its
//! shapes agree with TensorFlow's documented formula, stated independently:
//! "valid": `ceil((in - k + 1) / s)`, "same": `ceil(in / s)`.

use crate::model::{Model, Op};
use proptest::prelude::*;

fn arg_value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-3i64..70).prop_map(|i| i.to_string()),
        prop::sample::select(vec!["65536", "4294967295", "4294967296", "100000"]).prop_map(str::to_string),
        ((-1i64..6), (-1i64..6)).prop_map(|(a, b)| format!("({a}, {b})")),
        Just("(4294967295, 4294967295)".to_string()),
        Just("(4294967295, 4294967295, 4294967295)".to_string()),
        ((0i64..5), (0i64..5), (0i64..5)).prop_map(|(a, b, c)| format!("({a}, {b}, {c})")),
        prop::sample::select(vec![
            "\"same\"",
            "\"valid\"",
            "\"relu\"",
            "\"softmax\"",
            "\"tanh\"",
            "\"bogus\"",
            "\"\"",
            "0.5",
            "1.0",
            "-0.25",
            "true",
            "false",
            "None",
            "x",
            "\"a_b\"",
            "(1,)",
            "()",
            "99999999999999999999999999",
            "-1",
            "0.99",
            "1e-3",
            "\"gelu\"",
            "\"he_normal\"",
            "\"zeros\"",
            "l2(0.01)",
            "l2(-1)",
            "l2()",
            "l1(0.1)",
            "1.0 / 255",
            "1 / 0",
            "\"a\" / 2",
        ])
        .prop_map(str::to_string),
    ]
}

fn arg() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "activation",
        "use_bias",
        "units",
        "pool_size",
        "rate",
        "name",
        "input_shape",
        "kernel_initializer",
        "kernel_regularizer",
        "trainable",
        "axis",
        "momentum",
        "epsilon",
        "center",
        "scale",
        "offset",
        "bogus",
    ]);
    prop_oneof![arg_value(), (key, arg_value()).prop_map(|(k, v)| format!("{k} = {v}"))]
}

fn layer() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec![
        "Conv2D",
        "Dense",
        "MaxPooling2D",
        "AveragePooling2D",
        "Activation",
        "Dropout",
        "Flatten",
        "BatchNormalization",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling2D",
        "Rescaling",
        "Conv3D",
    ]);
    (kind, prop::collection::vec(arg(), 0..5), any::<bool>()).prop_map(|(kind, args, parens)| {
        if parens || !args.is_empty() {
            format!("{kind}({})", args.join(", "))
        } else {
            kind.to_string()
        }
    })
}

/// A layer or a block (`Add`, `Concatenate`, `Repeat`, with any count and
/// any number of branches, empty ones included), nested up to 3 deep.
fn item() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => layer(),
        1 => Just("Conv2D(4, 3, padding = \"same\")".to_string()),
        1 => Just("Conv2D(4, 1, strides = 2)".to_string()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let list = prop::collection::vec(inner, 0..3).prop_map(|items| items.join(", "));
        let branches = prop::collection::vec(list.clone(), 0..4);
        prop_oneof![
            branches.clone().prop_map(|b| format!(
                "Add {{ {} }}",
                b.iter().map(|l| format!("[{l}]")).collect::<Vec<_>>().join(", ")
            )),
            branches.prop_map(|b| format!(
                "Concatenate {{ {} }}",
                b.iter().map(|l| format!("[{l}]")).collect::<Vec<_>>().join(", ")
            )),
            ((-1i64..4), list).prop_map(|(n, l)| format!("Repeat({n}) {{ {l} }}")),
        ]
    })
}

/// A list whose first layer has an input shape, so that many lists get deep.
fn layer_list() -> impl Strategy<Value = String> {
    ((1usize..40, 1usize..40, 1usize..5), prop::collection::vec(layer(), 0..8)).prop_map(|((h, w, c), layers)| {
        format!(
            "struct Net {{ Conv2D(4, (3, 3), padding = \"same\", input_shape = ({h}, {w}, {c})), {} }}",
            layers.join(", ")
        )
    })
}

fn run(source: &str) -> syn::Result<proc_macro2::TokenStream> {
    let tokens: proc_macro2::TokenStream = source.parse().expect("generated sources tokenize");
    crate::expand(tokens)
}

fn formula(input: usize, k: usize, s: usize, same: bool) -> Option<usize> {
    if same {
        Some(input.div_ceil(s))
    } else if input + 1 > k {
        Some((input + 1 - k).div_ceil(s))
    } else {
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_random_layer_lists(source in layer_list()) {
        let _ = run(&source);
        let _ = crate::pipeline(source.parse().expect("generated sources tokenize"));
    }

    #[test]
    fn never_panics_on_random_nested_blocks_and_merges_only_matching_shapes(
        (h, w) in (1usize..12, 1usize..12),
        items in prop::collection::vec(item(), 0..5),
    ) {
        let source = format!(
            "struct Net {{ Conv2D(4, 3, padding = \"same\", input_shape = ({h}, {w}, 2)), {} }}",
            items.join(", ")
        );
        let _ = crate::pipeline(source.parse().expect("generated sources tokenize"));
        let def: Result<crate::ast::NetDef, _> = syn::parse2(source.parse().unwrap());
        if let Ok(model) = def.map(|d| Model::build(&d)) {
            let Ok(model) = model else { return Ok(()) };
            let shape = |at: &Option<usize>| at.map_or(vec![h, w, 2], |j| model.layers[j].output.clone());
            for (i, layer) in model.layers.iter().enumerate() {
                // Inputs come before the layer that reads them.
                prop_assert!(layer.inputs.iter().all(|at| at.is_none_or(|j| j < i)));
                match &layer.op {
                    Op::Add => {
                        prop_assert!(layer.inputs.len() >= 2);
                        prop_assert!(layer.inputs.iter().all(|at| shape(at) == layer.output), "{}", source);
                    }
                    Op::Concatenate { channels, .. } => {
                        prop_assert_eq!(channels.iter().sum::<usize>(), *layer.output.last().unwrap());
                        for at in &layer.inputs {
                            let s = shape(at);
                            prop_assert_eq!(&s[..s.len() - 1], &layer.output[..layer.output.len() - 1]);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn never_panics_on_arbitrary_layers_anywhere(layers in prop::collection::vec(layer(), 0..6)) {
        let _ = run(&format!("pub struct Net {{ {} }}", layers.join(", ")));
    }

    #[test]
    fn shapes_agree_with_the_formula(
        h in 1usize..64,
        w in 1usize..64,
        layers in prop::collection::vec((any::<bool>(), 1usize..6, 1usize..6, 1usize..4, 1usize..4, any::<bool>()), 1..6),
    ) {
        let mut source = String::new();
        let (mut eh, mut ew, mut fits) = (Some(h), Some(w), true);
        for (i, &(conv, kh, kw, sh, sw, same)) in layers.iter().enumerate() {
            let padding = if same { "same" } else { "valid" };
            let shape = if i == 0 { format!(", input_shape = ({h}, {w}, 2)") } else { String::new() };
            source += &if conv {
                format!("Conv2D(3, ({kh}, {kw}), strides = ({sh}, {sw}), padding = \"{padding}\"{shape}), ")
            } else {
                format!("MaxPooling2D(({kh}, {kw}), strides = ({sh}, {sw}), padding = \"{padding}\"{shape}), ")
            };
            eh = eh.and_then(|x| formula(x, kh, sh, same));
            ew = ew.and_then(|x| formula(x, kw, sw, same));
            fits &= eh.is_some() && ew.is_some();
        }
        let tokens: proc_macro2::TokenStream = format!("struct Net {{ {source} }}").parse().unwrap();
        let def: crate::ast::NetDef = syn::parse2(tokens).unwrap();
        match Model::build(&def) {
            Ok(model) => {
                prop_assert!(fits, "accepted a list the formula refuses: {}", source);
                let out = model.output();
                prop_assert_eq!(out[0], eh.unwrap());
                prop_assert_eq!(out[1], ew.unwrap());
                for layer in &model.layers {
                    if let Op::Conv2D { window, .. } | Op::Pool { window, .. } = layer.op {
                        // "same" pads at most k - 1 in total, half (rounded down) before.
                        prop_assert!(window.pad_top < window.k_h && window.pad_left < window.k_w);
                    }
                }
            }
            Err(e) => {
                prop_assert!(!fits, "refused a list that fits: {} ({})", source, e);
                prop_assert!(e.to_string().contains("needs an input of at least"), "{}", e);
            }
        }
    }
}

#[test]
fn huge_sizes_are_errors_not_overflows() {
    let max = u32::MAX;
    for source in [
        format!(
            "struct Net {{ Conv2D({max}, ({max}, {max}), padding = \"same\", input_shape = ({max}, {max}, {max})) }}"
        ),
        format!("struct Net {{ Flatten(input_shape = ({max}, {max}, {max})), Dense({max}) }}"),
        "struct Net { Conv2D(65536, (65536, 65536), padding = \"same\", input_shape = (8, 8, 65536)) }".to_string(),
        "struct Net { MaxPooling2D(input_shape = (65536, 65536, 65536)) }".to_string(),
    ] {
        let err = run(&source).err().unwrap_or_else(|| panic!("accepted: {source}"));
        assert!(err.to_string().contains("too large"), "{err}");
    }
}
