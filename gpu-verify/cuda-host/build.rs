//! Compiles `layers.cu` (through `host.cpp`) with the host's C++ compiler.
fn main() {
    println!("cargo:rerun-if-changed=host.cpp");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=../src/cuda/layers.cu");
    // Undefined behaviour (signed overflow, shifts of negative values, out-of-range shifts)
    // in the kernels aborts the tests: on the GPU it would give other bytes silently.
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .file("host.cpp")
        .warnings(true)
        .extra_warnings(true)
        .flag("-fsanitize=undefined")
        .flag("-fno-sanitize-recover=all")
        .compile("gv_layers_host");
    println!("cargo:rustc-link-lib=ubsan");
}
