//! Builds the runtime with its `upgrade-test` feature to wasm and embeds it.
fn main() {
    menara_wasm_builder::build(&["upgrade-test"]);
}
