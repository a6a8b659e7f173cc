//! The encoder's blocks prepared for prediction (`TrnetModel::prepare_inference`): in eval mode each
//! BatchNorm is a fixed per-channel affine map, so it folds into the conv before it, and with one conv per
//! block the shortcut folds into that conv too. Training never uses this; it is a snapshot of the weights
//! taken when a model is loaded for prediction.
//!
//! ```text
//!   BN_eval(conv(x, W)) = conv(x, W·s) + (β − μ·s),   s = γ / √(σ² + ε)        (per output channel)
//!   conv_k×k,stride s(x, A) + conv_1×1,stride s(x, B) = conv_k×k,stride s(x, A + B at the centre tap)
//! ```
//!
//! The second line holds because the k×k conv is padded by k/2: its centre tap reads input pixel (s·t', s·f'),
//! exactly the pixel the unpadded 1×1 conv reads for output (t', f'); an identity shortcut is the 1×1 conv
//! with the identity matrix. So a one-conv block (the default) is `ReLU(conv(x, W', b'))`: one conv with a
//! bias and an in-place ReLU instead of two convs, two BatchNorms, a sum and a ReLU. The results equal the
//! eval forward pass up to float rounding (the fold is computed in f64; the sums run in another order).
//!
//! On one libtorch intra-op thread, f32 on a CPU with AVX-512F, an encoder of one-conv blocks (the paper's) runs
//! these folded convs on trnet's own kernel (`direct_conv`: weights packed here once, channels-last activations,
//! bias and ReLU fused, ≈ 95 % of the core's FMA peak) instead of libtorch's, which reorders every weight for
//! oneDNN on every call: ≈ 20 % less time for the paper-size forward pass. With more threads (the kernel is
//! single-threaded), bf16, CUDA or two-conv blocks, and with TRNET_DIRECT_CONV=0, libtorch runs them.
//!
//! `Precision::Bf16` stores the folded weights in bfloat16 and runs the blocks on bfloat16 activations
//! (oneDNN accumulates in f32); the input is rounded to bfloat16 on the way in and the last block's output
//! goes back to f32 before the pooling, so the SNR-aware module, the pooling, the bridge and the classifier
//! stay f32. On a CPU it needs the AVX-512 BF16 instructions (`check_precision`): without them oneDNN would
//! emulate bfloat16, slower than f32, which defeats the point.

use crate::direct_conv::{self, DirectEncoder, PackedConv};
use crate::encoder::{Encoder, EncoderOutput};
use crate::layers::{BatchNorm2d, Conv2d};
use crate::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Number format of the encoder's convolutions at prediction time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// f32 throughout (the default; what training and evaluation compute, up to the fold's rounding).
    #[default]
    Fp32,
    /// bfloat16 weights and activations in the encoder's convolutions, f32 elsewhere.
    Bf16,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "fp32" => Ok(Precision::Fp32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(Error::invalid("precision", "\"fp32\" or \"bf16\"", format!("{other:?}"), "Pass \"fp32\" (the default) or \"bf16\".")),
        }
    }

    fn kind(self) -> Kind {
        match self {
            Precision::Fp32 => Kind::Float,
            Precision::Bf16 => Kind::BFloat16,
        }
    }
}

/// Whether `precision` runs natively on `device`: bf16 on a CPU needs AVX-512 BF16 (`vdpbf16ps`). CUDA devices
/// are left to libtorch.
pub fn check_precision(precision: Precision, device: Device) -> Result<()> {
    if precision != Precision::Bf16 || device != Device::Cpu {
        return Ok(());
    }
    if cpu_has_bf16() {
        return Ok(());
    }
    Err(Error::PrecisionUnavailable {
        precision: precision.name().into(),
        reason: "this CPU lacks the AVX-512 BF16 instructions (cpu flag avx512_bf16; AMD Zen 4 and Intel Cooper Lake / Sapphire Rapids or later have them), and emulated bfloat16 is slower than f32".into(),
    })
}

#[cfg(target_arch = "x86_64")]
fn cpu_has_bf16() -> bool {
    std::arch::is_x86_feature_detected!("avx512bf16")
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_has_bf16() -> bool {
    false
}

/// A conv with its BatchNorm (and perhaps its shortcut) folded in: weight and bias in the precision's kind.
#[derive(Debug)]
struct FoldedConv {
    weight: Tensor,
    bias: Tensor,
    stride: i64,
    padding: i64,
}

impl FoldedConv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.f_conv2d(&self.weight, Some(&self.bias), [self.stride, self.stride], [self.padding, self.padding], [1, 1], 1)
            .map_err(Error::torch("applying a folded convolution"))
    }
}

/// What a folded block adds to its last conv's output before the ReLU.
#[derive(Debug)]
enum Shortcut {
    /// Folded into the (only) conv's centre tap.
    Fused,
    /// The input itself (stride 1, width unchanged, two convs).
    Identity,
    /// A 1×1 conv with its BatchNorm folded in (two convs).
    Conv(FoldedConv),
}

#[derive(Debug)]
struct FoldedBlock {
    convs: Vec<FoldedConv>,
    shortcut: Shortcut,
}

impl FoldedBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let last = self.convs.len() - 1;
        let mut y = x.shallow_clone();
        for (j, conv) in self.convs.iter().enumerate() {
            y = conv.forward(&y)?;
            if j < last {
                y = y.f_relu_().map_err(Error::torch("applying ReLU"))?;
            }
        }
        let y = match &self.shortcut {
            Shortcut::Fused => y,
            Shortcut::Identity => y.f_add_(x).map_err(Error::torch("adding the residual"))?,
            Shortcut::Conv(c) => y.f_add_(&c.forward(x)?).map_err(Error::torch("adding the residual"))?,
        };
        let mut y = y;
        y.f_relu_().map_err(Error::torch("applying ReLU"))
    }
}

/// (W·s, β − μ·s) in f64, s = γ / √(σ² + ε): the eval-mode BatchNorm after a bias-free conv, as the conv's own
/// weight and bias.
fn fold_bn(conv: &Conv2d, bn: &BatchNorm2d) -> Result<(Tensor, Tensor)> {
    let run = || -> Result<(Tensor, Tensor), tch::TchError> {
        let d = |t: &Tensor| t.f_to_kind(Kind::Double);
        let s = d(&bn.weight)?.f_div(&d(&bn.running_var)?.f_add_scalar(bn.eps)?.f_sqrt()?)?;
        let w = d(&conv.weight)?.f_mul(&s.f_view([-1, 1, 1, 1])?)?;
        let b = d(&bn.bias)?.f_sub(&d(&bn.running_mean)?.f_mul(&s)?)?;
        Ok((w, b))
    };
    run().map_err(Error::torch("folding a BatchNorm into its convolution"))
}

/// The encoder's residual blocks with every BatchNorm folded into its conv, in `precision`.
#[derive(Debug)]
pub(crate) struct FoldedEncoder {
    blocks: Vec<FoldedBlock>,
    precision: Precision,
    /// The same convs for `direct_conv`'s kernel, where it can run them (see `pack_direct`).
    direct: Option<DirectEncoder>,
}

impl FoldedEncoder {
    pub(crate) fn new(encoder: &Encoder, precision: Precision) -> Result<Self> {
        check_precision(precision, encoder.device())?;
        let kind = precision.kind();
        // Conv weights channels-last (NHWC strides; tch has no memory-format argument, so permute, copy,
        // permute back): libtorch then runs oneDNN's convolutions on NHWC activations, which spares the reorders
        // to and from its blocked layout around each conv that NCHW costs (measured on one Zen 4 thread:
        // f32 forward pass ≈ 15% faster; bf16 unchanged).
        let cast = |t: Tensor| {
            let t = t.f_to_kind(kind)?;
            if t.dim() == 4 { t.f_permute([0, 2, 3, 1])?.f_contiguous()?.f_permute([0, 3, 1, 2]) } else { Ok(t) }
        };
        let cast = |t: Tensor| cast(t).map_err(Error::torch("converting folded weights"));
        let mut blocks = Vec::with_capacity(encoder.blocks.len());
        for block in &encoder.blocks {
            let mut folded: Vec<(Tensor, Tensor, &Conv2d)> = Vec::with_capacity(block.main.len());
            for (conv, bn) in &block.main {
                let (w, b) = fold_bn(conv, bn)?;
                folded.push((w, b, conv));
            }
            let shortcut = match (&block.shortcut, folded.len()) {
                (Some((conv, bn)), 1) => {
                    let (ws, bs) = fold_bn(conv, bn)?;
                    add_at_centre(&mut folded[0], &ws, &bs)?;
                    None
                }
                (None, 1) => {
                    let (w, _, _) = &folded[0];
                    let channels = w.size()[0];
                    let eye = Tensor::f_eye(channels, (Kind::Double, w.device()))
                        .and_then(|e| e.f_view([channels, channels, 1, 1]))
                        .map_err(Error::torch("building an identity shortcut"))?;
                    let zeros = Tensor::f_zeros([channels], (Kind::Double, w.device())).map_err(Error::torch("building an identity shortcut"))?;
                    add_at_centre(&mut folded[0], &eye, &zeros)?;
                    None
                }
                (Some((conv, bn)), _) => {
                    let (w, b) = fold_bn(conv, bn)?;
                    Some(Shortcut::Conv(FoldedConv { weight: cast(w)?, bias: cast(b)?, stride: conv.stride, padding: conv.padding }))
                }
                (None, _) => Some(Shortcut::Identity),
            };
            let convs = folded
                .into_iter()
                .map(|(w, b, conv)| Ok(FoldedConv { weight: cast(w)?, bias: cast(b)?, stride: conv.stride, padding: conv.padding }))
                .collect::<Result<Vec<_>>>()?;
            blocks.push(FoldedBlock { convs, shortcut: shortcut.unwrap_or(Shortcut::Fused) });
        }
        let direct = pack_direct(&blocks, precision, encoder.device(), encoder.n_mels())?;
        Ok(FoldedEncoder { blocks, precision, direct })
    }

    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    /// Whether `forward` on a thread with one libtorch intra-op thread runs `direct_conv`'s kernel.
    pub(crate) fn has_direct_kernel(&self) -> bool {
        self.direct.is_some()
    }

    /// `Encoder::forward_checked` in eval mode with the folded blocks; the pooling is `encoder`'s own.
    pub(crate) fn forward(&self, encoder: &Encoder, x: &Tensor, mask: Option<&Tensor>) -> Result<EncoderOutput> {
        let mut mask = mask.map(Tensor::shallow_clone);
        for _ in &self.blocks {
            if let Some(m) = &mask {
                mask = Some(m.f_slice(1, 0, None, encoder.stride).map_err(Error::torch("downsampling the frame mask"))?);
            }
        }
        // The kernel is single-threaded: with more libtorch threads allowed, libtorch's parallel convs win. An
        // empty batch goes to libtorch, which knows what to make of it.
        let seq = match &self.direct {
            Some(direct) if tch::get_num_threads() == 1 && x.device() == Device::Cpu && x.kind() == Kind::Float && x.numel() > 0 => direct_forward(direct, x)?,
            _ => self.blocks_forward(x)?,
        };
        let (h, attention) = encoder.attention.forward_checked(&seq, mask.as_ref())?;
        Ok(EncoderOutput { h, attention })
    }

    /// The blocks on libtorch, then the mean over frequency: (B, T, F) → (B, T', C).
    fn blocks_forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.f_unsqueeze(1).and_then(|y| y.f_to_kind(self.precision.kind())).map_err(Error::torch("reshaping the encoder input"))?;
        for block in &self.blocks {
            y = block.forward(&y)?;
        }
        y.f_to_kind(Kind::Float)
            .and_then(|y| y.f_mean_dim(3, false, None::<Kind>))
            .and_then(|s| s.f_transpose(1, 2))
            .map_err(Error::torch("pooling over frequency"))
    }
}

/// The folded convs packed for `direct_conv`, where its kernel applies: f32 on a CPU with AVX-512F, every block
/// one conv with its shortcut folded in (the paper's encoder; two-conv blocks stay on libtorch), and not turned
/// off with TRNET_DIRECT_CONV=0 (for comparing the two in one benchmark run).
fn pack_direct(blocks: &[FoldedBlock], precision: Precision, device: Device, bins: usize) -> Result<Option<DirectEncoder>> {
    let off = std::env::var("TRNET_DIRECT_CONV").is_ok_and(|v| v == "0");
    let fused = blocks.iter().all(|b| matches!(b.shortcut, Shortcut::Fused) && b.convs.len() == 1);
    if off || !fused || precision != Precision::Fp32 || device != Device::Cpu || !direct_conv::available() {
        return Ok(None);
    }
    let values = |t: &Tensor| -> Result<Vec<f32>> {
        let flat = t.f_contiguous().and_then(|t| t.f_flatten(0, -1)).map_err(Error::torch("packing folded weights"))?;
        Vec::<f32>::try_from(&flat).map_err(Error::torch("packing folded weights"))
    };
    let mut convs = Vec::with_capacity(blocks.len());
    let (mut cin, mut cols) = (1, bins);
    for block in blocks {
        let conv = &block.convs[0];
        let size = conv.weight.size();
        let (in_channels, k) = (size[1] as usize, size[2] as usize);
        cols = (cols + 2 * (k / 2) - k) / conv.stride as usize + 1;
        let packed = PackedConv::new(&values(&conv.weight)?, &values(&conv.bias)?, in_channels, cin, k, conv.stride as usize, cols);
        cin = packed.out_channels();
        convs.push(packed);
    }
    let channels = blocks.last().map_or(0, |b| b.convs[0].weight.size()[0] as usize);
    Ok(DirectEncoder::new(convs, channels))
}

/// `DirectEncoder::forward` on a (B, T, F) f32 CPU tensor: (B, T', C).
fn direct_forward(direct: &DirectEncoder, x: &Tensor) -> Result<Tensor> {
    let size = x.size();
    let (batch, frames, bins) = (size[0] as usize, size[1] as usize, size[2] as usize);
    let flat = x.f_contiguous().and_then(|t| t.f_flatten(0, -1)).map_err(Error::torch("reading the encoder input"))?;
    let values = Vec::<f32>::try_from(&flat).map_err(Error::torch("reading the encoder input"))?;
    let (seq, rows) = direct.forward(&values, batch, frames, bins);
    let channels = seq.len() / (batch * rows).max(1);
    Tensor::f_from_slice(&seq).and_then(|t| t.f_view([batch as i64, rows as i64, channels as i64])).map_err(Error::torch("pooling over frequency"))
}

/// Adds a folded 1×1 conv (`w1`: (C_out, C_in, 1, 1), `b1`) to a folded k×k conv at its centre tap.
fn add_at_centre(target: &mut (Tensor, Tensor, &Conv2d), w1: &Tensor, b1: &Tensor) -> Result<()> {
    let (w, b, conv) = target;
    let centre = conv.padding;
    let mut run = || -> Result<(), tch::TchError> {
        let mut tap = w.f_narrow(2, centre, 1)?.f_narrow(3, centre, 1)?;
        let _ = tap.f_add_(w1)?;
        let _ = b.f_add_(b1)?;
        Ok(())
    };
    run().map_err(Error::torch("folding the shortcut into the convolution"))
}
