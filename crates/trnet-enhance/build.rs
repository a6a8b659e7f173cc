// Bakes the ONNX Runtime library found at build time (scripts/env.sh sets ORT_DYLIB_PATH) in as the default,
// so a built addon finds it without any environment; ORT_DYLIB_PATH at run time still wins.
fn main() {
    println!("cargo:rerun-if-env-changed=ORT_DYLIB_PATH");
    if let Ok(path) = std::env::var("ORT_DYLIB_PATH") {
        println!("cargo:rustc-env=TRNET_DEFAULT_ORT_DYLIB={path}");
    }
}
