//! `cargo run --release --example cuda_check [-- --device cuda:N]`: proves this build drives CUDA.
//!
//! Runs a seeded matmul on the GPU and on the CPU and compares them, and prints the libtorch runtime facts.
//! Small enough to carry to a GPU machine that has libtorch but no Node (README, "GPU").

use std::ops::ControlFlow;
use std::process::ExitCode;
use trnet_model::parse_device;
use trnet_runtime::torch::torch_info;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let device_arg = args.iter().position(|a| a == "--device").and_then(|i| args.get(i + 1)).map_or("cuda:0", String::as_str);
    let info = torch_info();
    println!("libtorch {} from {}", info.version, info.library_dir.as_ref().map_or("?".into(), |p| p.display().to_string()));
    println!(
        "CUDA available: {} ({} device(s)), cuDNN: {}, CUDA runtime {}",
        info.cuda_available, info.cuda_device_count, info.cudnn_available, info.cuda_runtime_version
    );
    let device = match parse_device(device_arg).and_then(|d| d.resolve()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cuda_check: {e} [{}]", e.code());
            return ExitCode::FAILURE;
        }
    };
    let run = |d| trnet_runtime::burn::matmul_burn(1024, 50, d, 42, |_| ControlFlow::Continue(()));
    let (gpu, cpu) = match (run(device), run(tch::Device::Cpu)) {
        (Ok(g), Ok(c)) => (g, c),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cuda_check: {e} [{}]", e.code());
            return ExitCode::FAILURE;
        }
    };
    // Same seed → same matrices on both devices only if the RNGs agree; they do not (CPU vs CUDA generators),
    // so compare a product of identical inputs instead.
    let a = tch::Tensor::arange(1024 * 1024, (tch::Kind::Float, tch::Device::Cpu)).reshape([1024, 1024]).sin();
    let on_cpu = a.matmul(&a);
    let on_dev = a.to_device(device).matmul(&a.to_device(device)).to_device(tch::Device::Cpu);
    let max_diff = (on_cpu - on_dev).abs().max().double_value(&[]);
    println!("{device:?}: {:.1} GFLOP/s; CPU: {:.1} GFLOP/s; ratio {:.1}×", gpu.gflops, cpu.gflops, gpu.gflops / cpu.gflops.max(1e-9));
    println!("max |CPU − {device:?}| on a 1024² product: {max_diff:.3e}");
    // TF32 may be on for CUDA matmuls; 1e-1 absolute on entries of size ~500 is still a correct product.
    if max_diff.is_finite() && max_diff < 1e-1 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
