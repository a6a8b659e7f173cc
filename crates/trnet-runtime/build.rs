fn main() {
    trnet_build::link_libtorch();
    trnet_build::export_libtorch_version();
}
