//! Builds this crate for `wasm32-unknown-unknown` and embeds the result as `WASM_BINARY`
//! (see `menara-wasm-builder`; `MENARA_SKIP_WASM_BUILD=1` skips it).
fn main() {
    menara_wasm_builder::build(&[]);
}
