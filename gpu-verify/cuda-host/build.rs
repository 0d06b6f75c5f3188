//! Compiles `layers.cu` (through `host.cpp`) with the host's C++ compiler.
fn main() {
    println!("cargo:rerun-if-changed=host.cpp");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=../src/cuda/layers.cu");
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("host.cpp")
        .warnings(true)
        .compile("gv_layers_host");
}
