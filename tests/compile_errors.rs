//! Every way a layer list can be wrong is a compile error at the layer or
//! argument at fault; typed batches make shape mismatches at the API
//! compile errors too. Each case has its expected message in `tests/ui/`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
