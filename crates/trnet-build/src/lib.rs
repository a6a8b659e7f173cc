//! Build-script helpers for the crates whose artifacts link libtorch (the addon and crates with tch tests).

/// Emits the link arguments a final artifact needs to load libtorch without LD_LIBRARY_PATH and with CUDA.
///
/// The calling package must depend directly on `torch-sys`, so that cargo hands its build script
/// `DEP_TCH_LIBTORCH_LIB`. `--no-as-needed -ltorch` keeps libtorch.so (which pulls libtorch_cuda.so) in
/// DT_NEEDED even though no symbol of it is referenced; without it `Cuda::is_available()` is false on a GPU
/// (tch-rs#177). The rpath makes the artifact find libtorch where it was built; LD_LIBRARY_PATH still
/// overrides it (RUNPATH), which is how the GPU machine points at its own copy.
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib =
        std::env::var("DEP_TCH_LIBTORCH_LIB").expect("DEP_TCH_LIBTORCH_LIB is not set: the package calling link_libtorch() must depend on torch-sys directly");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--as-needed");
}

/// Sets `TRNET_LIBTORCH_VERSION` for the crate being built: the version of the libtorch it compiles against,
/// read from the wheel's `torch/version.py` or a libtorch zip's `build-version` ("unknown" if neither).
pub fn export_libtorch_version() {
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").unwrap_or_default();
    let root = std::path::Path::new(&lib).parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let from_py = std::fs::read_to_string(root.join("version.py")).ok().and_then(|text| {
        let line = text.lines().find(|l| l.starts_with("__version__"))?.to_string();
        Some(line.split(['\'', '"']).nth(1)?.to_string())
    });
    let from_zip = || std::fs::read_to_string(root.join("build-version")).ok().map(|s| s.trim().to_string());
    let version = from_py.or_else(from_zip).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=TRNET_LIBTORCH_VERSION={version}");
}
