fn main() {
    trnet_build::link_libtorch();
}
