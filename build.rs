fn main() {
    napi_build::setup();
    // The addon is a final artifact that loads libtorch: it needs its own rpath and CUDA link args.
    trnet_build::link_libtorch();
}
