//! The parsed input of `cnn!` as plain types: a struct header and a list of
//! items, each a layer call whose arguments are literal values with their
//! spans, or a block (`Add`, `Concatenate`, `Repeat`) of further lists.
//! Nothing here knows what a layer means; `model.rs` gives them meaning.

use proc_macro2::{Group, Span, TokenStream};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Lit, Token, Visibility};

/// The tokens that a piece of input came from, kept so that an error can
/// underline exactly them (`syn::Error::new_spanned` spans first to last
/// token, which works on stable Rust where `Span::join` does not).
#[derive(Clone)]
pub struct Loc(pub TokenStream);

impl Loc {
    pub fn error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.0, message)
    }
}

/// `#[attrs] vis struct Name { Layer(args), ... }`
pub struct NetDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub ident: Ident,
    pub layers: Vec<Item>,
    /// The closing brace, where errors about the whole list point.
    pub brace_span: Span,
}

/// One entry of a layer list.
pub enum Item {
    Layer(LayerCall),
    Block(Block),
}

/// `Add { [..], [..] }`, `Concatenate { [..], .. }` or `Repeat(n) { .. }`.
pub struct Block {
    pub kind: BlockKind,
    /// The block's keyword (`Add`), where errors about the whole block point.
    pub keyword: Ident,
    /// Each bracketed branch with its brackets' tokens; `Repeat`'s body is
    /// its one branch.
    pub branches: Vec<(Vec<Item>, Loc)>,
    /// The braces, for an empty block.
    pub brace_span: Span,
}

pub enum BlockKind {
    Add,
    Concatenate,
    /// The count as written.
    Repeat(Value),
}

/// One layer call, e.g. `Conv2D(32, (3, 3), padding = "same")`.
pub struct LayerCall {
    pub kind: Ident,
    pub args: Vec<Arg>,
    /// The whole call, so that errors about the layer underline it.
    pub loc: Loc,
}

pub enum Arg {
    Positional(Value),
    Keyword(Ident, Value),
}

/// A literal argument value and the span of its tokens.
#[derive(Clone)]
pub struct Value {
    pub kind: ValueKind,
    pub loc: Loc,
}

#[derive(Clone)]
pub enum ValueKind {
    Int(i128),
    Float(f64),
    Str(String),
    Bool(bool),
    /// Python's `None` (Keras's "no activation").
    None,
    Tuple(Vec<Value>),
    /// A call such as `l2(1e-4)`.
    Call(String, Vec<Value>),
}

impl Value {
    /// What the value is, in words, for error messages.
    pub fn describe(&self) -> &'static str {
        match self.kind {
            ValueKind::Int(_) => "an integer",
            ValueKind::Float(_) => "a number",
            ValueKind::Str(_) => "a string",
            ValueKind::Bool(_) => "a boolean",
            ValueKind::None => "None",
            ValueKind::Tuple(_) => "a tuple",
            ValueKind::Call(..) => "a call",
        }
    }
}

impl Parse for NetDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        input.parse::<Token![struct]>()?;
        let ident: Ident = input.parse()?;
        if input.peek(Token![<]) {
            return Err(input.error("a cnn! network takes no generic parameters"));
        }
        let content;
        let brace = syn::braced!(content in input);
        let calls = Punctuated::<Item, Token![,]>::parse_terminated(&content)?;
        if !input.is_empty() {
            return Err(
                input.error("expected nothing after the network's closing brace; declare one network per cnn! call")
            );
        }
        Ok(NetDef { attrs, vis, ident, layers: calls.into_iter().collect(), brace_span: brace.span.close() })
    }
}

impl Parse for Item {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let is_block = |word: &str| input.peek(syn::Ident) && input.fork().parse::<Ident>().is_ok_and(|i| i == word);
        let kind = if is_block("Add") && input.peek2(syn::token::Brace) {
            BlockKind::Add
        } else if is_block("Concatenate") && input.peek2(syn::token::Brace) {
            BlockKind::Concatenate
        } else if is_block("Repeat") {
            let keyword: Ident = input.parse()?;
            let group: Group =
                input.parse().map_err(|e| syn::Error::new(e.span(), "expected `Repeat(n) { layers }`"))?;
            let count = Value::from_expr(
                &syn::parse2::<Expr>(group.stream())
                    .map_err(|e| syn::Error::new(e.span(), "expected a count: `Repeat(3) { layers }`"))?,
            )?;
            return Block::parse_body(input, BlockKind::Repeat(count), keyword).map(Item::Block);
        } else {
            return input.parse().map(Item::Layer);
        };
        let keyword: Ident = input.parse()?;
        Block::parse_body(input, kind, keyword).map(Item::Block)
    }
}

impl Block {
    /// The braces after the keyword: bracketed branches for `Add` and
    /// `Concatenate`, one layer list for `Repeat`.
    fn parse_body(input: ParseStream, kind: BlockKind, keyword: Ident) -> syn::Result<Block> {
        let content;
        let brace = syn::braced!(content in input);
        let branches = match kind {
            BlockKind::Repeat(_) => {
                let items = Punctuated::<Item, Token![,]>::parse_terminated(&content)?;
                let loc = Loc(keyword.to_token_stream());
                vec![(items.into_iter().collect(), loc)]
            }
            _ => {
                let mut branches = Vec::new();
                while !content.is_empty() {
                    if !content.peek(syn::token::Bracket) {
                        return Err(content.error(format!(
                            "expected a branch in brackets, e.g. `{keyword} {{ [Conv2D(16, 3)], [] }}`; `[]` is the identity"
                        )));
                    }
                    let group: Group = content.parse()?;
                    let items = Punctuated::<Item, Token![,]>::parse_terminated.parse2(group.stream())?;
                    branches.push((items.into_iter().collect(), Loc(group.to_token_stream())));
                    if !content.is_empty() {
                        content.parse::<Token![,]>()?;
                    }
                }
                branches
            }
        };
        Ok(Block { kind, keyword, branches, brace_span: brace.span.join() })
    }
}

impl Parse for LayerCall {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let kind: Ident = input.parse().map_err(|e| {
            syn::Error::new(e.span(), "expected a layer such as `Conv2D(32, (3, 3))`, `Dense(10)` or `Flatten()`")
        })?;
        let mut tokens = kind.to_token_stream();
        let mut args = Vec::new();
        if input.peek(syn::token::Paren) {
            let group: Group = input.parse()?;
            let exprs = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(group.stream())?;
            for expr in exprs {
                args.push(Arg::from_expr(expr)?);
            }
            group.to_tokens(&mut tokens);
        }
        Ok(LayerCall { kind, args, loc: Loc(tokens) })
    }
}

impl Arg {
    fn from_expr(expr: Expr) -> syn::Result<Self> {
        match expr {
            Expr::Assign(assign) => {
                let key = match &*assign.left {
                    Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => {
                        p.path.get_ident().cloned().expect("checked by the guard")
                    }
                    other => {
                        return Err(syn::Error::new_spanned(
                            other,
                            "expected an argument name such as `padding` before `=`",
                        ))
                    }
                };
                Ok(Arg::Keyword(key, Value::from_expr(&assign.right)?))
            }
            other => Ok(Arg::Positional(Value::from_expr(&other)?)),
        }
    }
}

impl Value {
    fn from_expr(expr: &Expr) -> syn::Result<Self> {
        let loc = Loc(expr.to_token_stream());
        let kind = match expr {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Int(i) => ValueKind::Int(
                    i.base10_parse::<i128>().map_err(|_| syn::Error::new_spanned(i, "this integer is too large"))?,
                ),
                Lit::Float(f) => ValueKind::Float(f.base10_parse::<f64>()?),
                Lit::Str(s) => ValueKind::Str(s.value()),
                Lit::Bool(b) => ValueKind::Bool(b.value),
                other => {
                    return Err(syn::Error::new_spanned(other, "expected a number, a string, a boolean or a tuple"))
                }
            },
            Expr::Unary(syn::ExprUnary { op: syn::UnOp::Neg(_), expr: inner, .. }) => {
                match Value::from_expr(inner)?.kind {
                    ValueKind::Int(i) => ValueKind::Int(-i),
                    ValueKind::Float(f) => ValueKind::Float(-f),
                    _ => return Err(syn::Error::new_spanned(expr, "only a number can be negated")),
                }
            }
            // Arithmetic on numbers, as Keras users write `Rescaling(1.0 / 255)`.
            Expr::Binary(b) => {
                let (l, r) = (Value::from_expr(&b.left)?, Value::from_expr(&b.right)?);
                let number = |v: &Value| match v.kind {
                    ValueKind::Int(i) => Some(i as f64),
                    ValueKind::Float(f) => Some(f),
                    _ => None,
                };
                let (Some(a), Some(c)) = (number(&l), number(&r)) else {
                    return Err(syn::Error::new_spanned(expr, "only numbers can be combined with + - * /"));
                };
                ValueKind::Float(match b.op {
                    syn::BinOp::Add(_) => a + c,
                    syn::BinOp::Sub(_) => a - c,
                    syn::BinOp::Mul(_) => a * c,
                    syn::BinOp::Div(_) => a / c,
                    _ => return Err(syn::Error::new_spanned(expr, "expected a number, or + - * / of numbers")),
                })
            }
            Expr::Paren(p) => return Value::from_expr(&p.expr).map(|v| Value { loc, ..v }),
            Expr::Group(g) => return Value::from_expr(&g.expr),
            Expr::Call(call) => match &*call.func {
                Expr::Path(p) if p.qself.is_none() && p.path.get_ident().is_some() => ValueKind::Call(
                    p.path.get_ident().map(|i| i.to_string()).unwrap_or_default(),
                    call.args.iter().map(Value::from_expr).collect::<syn::Result<_>>()?,
                ),
                other => return Err(syn::Error::new_spanned(other, "expected a function name such as `l2`")),
            },
            Expr::Tuple(t) => ValueKind::Tuple(t.elems.iter().map(Value::from_expr).collect::<syn::Result<_>>()?),
            Expr::Path(p) if p.qself.is_none() => {
                match p.path.get_ident().map(|i| i.to_string()).as_deref() {
                    Some("None") => ValueKind::None,
                    Some("True") => ValueKind::Bool(true),
                    Some("False") => ValueKind::Bool(false),
                    _ => return Err(syn::Error::new_spanned(
                        expr,
                        "expected a literal value (a number, a string such as \"same\", true/false, None or a tuple); \
                         cnn! works out shapes at compile time, so arguments cannot be variables",
                    )),
                }
            }
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "expected a literal value: a number, a string such as \"same\", true/false, None or a tuple",
                ))
            }
        };
        Ok(Value { kind, loc })
    }
}
