//! Times `TrnetModel::infer` for the paper-size model (80 bins, 500 frames, channels 32/64/128/256, random
//! weights) on one thread: the folded encoder on trnet's direct conv kernel against the same folded encoder on
//! libtorch (TRNET_DIRECT_CONV=0), interleaved so that the machine's load hits both alike, and how far apart
//! their outputs are.
//!
//!   scripts/with-env.sh cargo run --release -p trnet-model --target x86_64-unknown-linux-gnu \
//!     --example forward_profile [-- repeats rounds]
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use trnet_model::{Inputs, ModelConfig, Precision, TrnetModel};

fn median_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..repeats)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("repeats and rounds are counts"));
    let (repeats, rounds) = (args.next().unwrap_or(50), args.next().unwrap_or(5));
    tch::set_num_threads(1);
    let config = ModelConfig::default();
    let model = || {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let mut m = TrnetModel::new(&vs.root(), &config).unwrap();
        m.prepare_inference(Precision::Fp32).unwrap();
        (vs, m)
    };
    let (_vs, direct) = model();
    // SAFETY: no other thread runs yet.
    unsafe { std::env::set_var("TRNET_DIRECT_CONV", "0") };
    let (_vs2, libtorch) = model();
    println!("direct kernel: {}, libtorch model: {}", direct.has_direct_conv(), libtorch.has_direct_conv());

    let x = Tensor::randn([1, 500, 80], (Kind::Float, Device::Cpu)) - 4.0;
    let xe = &x + Tensor::randn([1, 500, 80], (Kind::Float, Device::Cpu)) * 0.3;
    let input = Inputs::new(&x).enhanced(&xe);
    let (a, b) = (direct.infer(&input).unwrap(), libtorch.infer(&input).unwrap());
    let diff = |p: &Tensor, q: &Tensor| (p - q).abs().max().double_value(&[]);
    println!("max |direct − libtorch|: h {:e} (scale {:e}), logits {:e}", diff(&a.h, &b.h), b.h.abs().max().double_value(&[]), diff(&a.logits, &b.logits));

    let (mut ds, mut ls) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ds.push(median_ms(repeats, || {
            direct.infer(&input).unwrap();
        }));
        ls.push(median_ms(repeats, || {
            libtorch.infer(&input).unwrap();
        }));
        println!("infer: direct {:.3} ms, libtorch {:.3} ms", ds.last().unwrap(), ls.last().unwrap());
    }
    ds.sort_by(f64::total_cmp);
    ls.sort_by(f64::total_cmp);
    println!("best of rounds: direct {:.3} ms, libtorch {:.3} ms", ds[0], ls[0]);
}
