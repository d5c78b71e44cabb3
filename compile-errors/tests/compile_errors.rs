//! Every way a layer list can be wrong is a compile error at the layer or
//! argument at fault; typed batches make shape mismatches at the API
//! compile errors too. Each case in `tests/ui/` has
//! its expected message beside it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
