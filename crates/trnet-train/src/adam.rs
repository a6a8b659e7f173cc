//! Adam over a var store's trainable variables, with state that can be saved and restored.
//!
//! tch's `nn::Optimizer` wraps libtorch's C++ optimizer and offers no way to read or write its moment
//! buffers, so a resumed run could not continue where it stopped. This one keeps (m, v, step) itself and
//! follows PyTorch's single-tensor Adam (`torch/optim/adam.py`, the path PyTorch takes on CPU) op for op,
//! with the same libtorch kernels, so a step gives the same bits as `torch.optim.Adam`:
//!
//! ```text
//!   g ← g + wd·θ                                   (only when weight_decay ≠ 0)
//!   m ← lerp(m, g, 1 − β1)
//!   v ← β2·v + (1 − β2)·g²                          (mul_, then addcmul_)
//!   θ ← θ − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
//! ```
//!
//! tch 0.24 does not expose the `value` argument of addcmul_/addcdiv_, so the scalar is applied to the
//! first factor beforehand; the kernels round `value·t1` to float32 first either way, so the bits agree.
//! Weight decay is `g + θ·wd` here where PyTorch fuses `add(θ, alpha=wd)` into one rounding: with a
//! non-zero weight decay the two agree to float32 rounding, not always bit for bit.
//!
//! **Flat update** (`flatten`, the train config's `adamUpdate: "flat"`): libtorch's multi-tensor kernels
//! (`_foreach_*`, `_fused_adam_`) are not in tch 0.24's API, so instead the parameters and both moments are moved
//! into one contiguous buffer each (every variable becomes a view of its slice, as apex's flat master weights
//! do), the gradients are concatenated into one, and the update above runs once over the whole buffer: about
//! ten kernels per step instead of about seven per parameter tensor (33 tensors in the paper's model). The
//! arithmetic per element is the same; vectorised and scalar kernels may round `lerp`/`addcmul` differently,
//! so the two paths agree to float32 rounding (checked to 1e-6), not always bit for bit.
//!
//! Gradient clipping follows `torch.nn.utils.clip_grad_norm_` (norm of per-tensor norms, coefficient
//! `max/(total + 1e-6)` clamped at 1, always applied). Parameters are visited in name order.

use crate::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;
use tch::nn::VarStore;

#[derive(Debug)]
struct Param {
    name: String,
    /// This variable's rate is `lr · lr_scale` (1 unless `scale_lr` changed it).
    lr_scale: f64,
    var: Tensor,
    m: Tensor,
    v: Tensor,
}

/// The flat buffers once `flatten` has run: every variable and moment is a view of its slice.
#[derive(Debug)]
struct Flat {
    var: Tensor,
    m: Tensor,
    v: Tensor,
}

#[derive(Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    step: i64,
    params: Vec<Param>,
    flat: Option<Flat>,
}

fn torch(during: &str) -> impl FnOnce(tch::TchError) -> Error + '_ {
    move |source| Error::Torch { during: during.to_string(), source }
}

impl Adam {
    /// An optimizer for every variable of `vs` that requires a gradient (BatchNorm running statistics do
    /// not), with zero moments.
    pub fn new(vs: &VarStore, lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Result<Self> {
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let params = named
            .into_iter()
            .map(|(name, var)| {
                let zeros = || var.f_zeros_like().map_err(torch("allocating Adam moments"));
                Ok(Param { m: zeros()?, v: zeros()?, name, var, lr_scale: 1.0 })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Adam { lr, beta1, beta2, eps, weight_decay, step: 0, params, flat: None })
    }

    /// Moves the variables and moments into one flat buffer each (values unchanged), so that `step` updates all
    /// of them with a few kernels (see the module comment). Every variable must have the same kind and device.
    /// Call it once, after the var store has reached its device (a later `set_device` would undo the views).
    pub fn flatten(&mut self) -> Result<()> {
        if self.flat.is_some() || self.params.is_empty() {
            return Ok(());
        }
        let (kind, device) = (self.params[0].var.kind(), self.params[0].var.device());
        if let Some(p) = self.params.iter().find(|p| p.var.kind() != kind || p.var.device() != device) {
            return Err(Error::invalid(
                "adamUpdate \"flat\"",
                format!("every trained variable as {kind:?} on {device:?}"),
                format!("{} as {:?} on {:?}", p.name, p.var.kind(), p.var.device()),
                "Use adamUpdate \"per-tensor\".",
            ));
        }
        tch::no_grad(|| -> Result<()> {
            let run = |params: &mut [Param]| -> std::result::Result<Flat, tch::TchError> {
                let cat = |pick: &dyn Fn(&Param) -> &Tensor| -> std::result::Result<Tensor, tch::TchError> {
                    let flat: Vec<Tensor> = params.iter().map(|p| pick(p).f_reshape([-1])).collect::<std::result::Result<_, _>>()?;
                    Tensor::f_cat(&flat, 0)
                };
                let flat = Flat { var: cat(&|p| &p.var)?, m: cat(&|p| &p.m)?, v: cat(&|p| &p.v)? };
                let mut offset = 0i64;
                for p in params.iter_mut() {
                    let (n, shape) = (p.var.numel() as i64, p.var.size());
                    let slice = |t: &Tensor| t.f_narrow(0, offset, n).and_then(|s| s.f_view(shape.as_slice()));
                    // set_data keeps the variable (the var store's, autograd's leaf) and swaps its storage.
                    p.var.f_set_data(&slice(&flat.var)?)?;
                    p.m = slice(&flat.m)?;
                    p.v = slice(&flat.v)?;
                    offset += n;
                }
                Ok(flat)
            };
            self.flat = Some(run(&mut self.params).map_err(torch("flattening the parameters for Adam"))?);
            Ok(())
        })
    }

    /// Whether `flatten` has run.
    pub fn is_flat(&self) -> bool {
        self.flat.is_some()
    }

    /// Multiplies the rate of every variable whose name starts with `prefix` (e.g. "snr." for the
    /// SNR-aware module), like a PyTorch parameter group whose lr is a multiple of the base rate; returns how
    /// many variables it applies to. The rate stays relative when `lr` changes (a plateau schedule).
    pub fn scale_lr(&mut self, prefix: &str, factor: f64) -> usize {
        let mut n = 0;
        for p in self.params.iter_mut().filter(|p| p.name.starts_with(prefix)) {
            p.lr_scale = factor;
            n += 1;
        }
        n
    }

    /// Steps taken so far (PyTorch's `state["step"]`).
    pub fn step_count(&self) -> i64 {
        self.step
    }

    /// Names of the optimised variables, in the order they are updated.
    pub fn names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// Zeroes every gradient in place (the same numbers as PyTorch's set-to-None before a fresh backward).
    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.var.zero_grad();
        }
    }

    fn grads(&self) -> Vec<Tensor> {
        self.params.iter().map(|p| p.var.grad()).filter(Tensor::defined).collect()
    }

    /// Counts one more step and returns its bias-corrected step size and √(1 − β₂ᵗ), shared by both update paths.
    fn advance(&mut self) -> (f64, f64) {
        self.step += 1;
        let t = self.step as f64;
        // Python floats: `beta ** step` and `x ** 0.5` are libm's pow, which powf calls too.
        let bias1 = 1.0 - self.beta1.powf(t);
        let bias2 = 1.0 - self.beta2.powf(t);
        (self.lr / bias1, bias2.powf(0.5))
    }

    /// One Adam update from the current gradients; variables without a gradient are skipped.
    pub fn step(&mut self) -> Result<()> {
        if self.flat.is_some() && self.params.iter().all(|p| p.var.grad().defined()) {
            return self.step_flat();
        }
        let (step_size, bias2_sqrt) = self.advance();
        let (beta1, beta2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        tch::no_grad(|| -> Result<()> {
            for p in &mut self.params {
                let grad = p.var.grad();
                if !grad.defined() {
                    continue;
                }
                // Shapes match by construction (m, v are zeros_like(var); grad has var's shape), which the
                // Scalar-taking ops below need: in tch 0.24 they panic instead of erring on bad input.
                let mut run = || -> std::result::Result<(), tch::TchError> {
                    let grad = if wd != 0.0 { grad.f_add(&p.var.f_mul_scalar(wd)?)? } else { grad.shallow_clone() };
                    let _ = p.m.f_lerp_(&grad, 1.0 - beta1)?;
                    let _ = p.v.f_mul_scalar_(beta2)?;
                    let _ = p.v.f_addcmul_(&grad.f_mul_scalar(1.0 - beta2)?, &grad)?;
                    let mut denom = p.v.f_sqrt()?.f_div_scalar(bias2_sqrt)?;
                    let _ = denom.f_add_scalar_(eps)?;
                    let _ = p.var.f_addcdiv_(&p.m.f_mul_scalar(-step_size * p.lr_scale)?, &denom)?;
                    Ok(())
                };
                run().map_err(|source| Error::Torch { during: format!("updating {} with Adam", p.name), source })?;
            }
            Ok(())
        })
    }

    /// `step` over the flat buffers: the gradients concatenated in parameter order, then the update once; the last
    /// operation runs once per run of variables with the same rate (one run unless `scale_lr` made more).
    fn step_flat(&mut self) -> Result<()> {
        let (step_size, bias2_sqrt) = self.advance();
        let (beta1, beta2, eps, wd) = (self.beta1, self.beta2, self.eps, self.weight_decay);
        let Some(flat) = &mut self.flat else { return Ok(()) };
        let params = &self.params;
        tch::no_grad(|| {
            let mut run = || -> std::result::Result<(), tch::TchError> {
                let grads: Vec<Tensor> = params.iter().map(|p| p.var.grad().f_reshape([-1])).collect::<std::result::Result<_, _>>()?;
                let grad = Tensor::f_cat(&grads, 0)?;
                let grad = if wd != 0.0 { grad.f_add(&flat.var.f_mul_scalar(wd)?)? } else { grad };
                let _ = flat.m.f_lerp_(&grad, 1.0 - beta1)?;
                let _ = flat.v.f_mul_scalar_(beta2)?;
                let _ = flat.v.f_addcmul_(&grad.f_mul_scalar(1.0 - beta2)?, &grad)?;
                let mut denom = flat.v.f_sqrt()?.f_div_scalar(bias2_sqrt)?;
                let _ = denom.f_add_scalar_(eps)?;
                // Runs of consecutive variables with one rate (names sorted: a prefix's variables are adjacent).
                let (mut start, mut offset) = (0i64, 0i64);
                for (i, p) in params.iter().enumerate() {
                    offset += p.var.numel() as i64;
                    if params.get(i + 1).is_none_or(|next| next.lr_scale != p.lr_scale) {
                        let len = offset - start;
                        let mut slice = flat.var.f_narrow(0, start, len)?;
                        let _ = slice.f_addcdiv_(&flat.m.f_narrow(0, start, len)?.f_mul_scalar(-step_size * p.lr_scale)?, &denom.f_narrow(0, start, len)?)?;
                        start = offset;
                    }
                }
                Ok(())
            };
            run().map_err(torch("updating the parameters with Adam (flat)"))
        })
    }

    /// Scales every gradient by `max_norm / (total_norm + 1e-6)` when that is below 1 (PyTorch's
    /// clip_grad_norm_); returns the total norm before clipping.
    pub fn clip_grad_norm(&self, max_norm: f64) -> Result<f64> {
        let grads = self.grads();
        if grads.is_empty() {
            return Ok(0.0);
        }
        tch::no_grad(|| {
            let run = || -> std::result::Result<f64, tch::TchError> {
                // tch 0.24 has no linalg_vector_norm; norm() (p = 2 over all elements) gives the same bits.
                let norms = grads.iter().map(Tensor::f_norm).collect::<std::result::Result<Vec<_>, _>>()?;
                let total = Tensor::f_stack(&norms, 0)?.f_norm()?;
                // 0-dim tensors on the grads' device: the Scalar ops below cannot meet a shape error.
                let coef = total.f_add_scalar(1e-6)?.f_reciprocal()?.f_mul_scalar(max_norm)?.f_clamp_max(1.0)?;
                for g in &grads {
                    let mut g = g.shallow_clone();
                    let _ = g.f_mul_(&coef)?;
                }
                total.f_double_value(&[])
            };
            run().map_err(torch("clipping gradients"))
        })
    }

    /// Multiplies every gradient by `factor` and reports whether all of them are finite afterwards (loss
    /// scaling: unscale, then skip the step on overflow).
    pub fn scale_grads_and_check(&self, factor: f64) -> Result<bool> {
        tch::no_grad(|| {
            let mut finite = true;
            for g in self.grads() {
                let mut g = g.shallow_clone();
                let _ = g.f_mul_scalar_(factor).map_err(torch("unscaling gradients"))?;
                let ok = g.f_isfinite().and_then(|t| t.f_all()).and_then(|t| t.f_int64_value(&[])).map_err(torch("checking gradients"))?;
                finite &= ok == 1;
            }
            Ok(finite)
        })
    }

    /// The moments as named tensors (`m.<var>`, `v.<var>`), for a safetensors file.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for p in &self.params {
            out.push((format!("m.{}", p.name), p.m.shallow_clone()));
            out.push((format!("v.{}", p.name), p.v.shallow_clone()));
        }
        out
    }

    /// Writes the moments to `path` (safetensors). The step count and hyper-parameters belong to the
    /// caller's state file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let named = self.state_tensors();
        let refs: Vec<(&str, &Tensor)> = named.iter().map(|(n, t)| (n.as_str(), t)).collect();
        Tensor::write_safetensors(&refs, path).map_err(|source| Error::Torch { during: format!("writing {}", path.display()), source })
    }

    /// Restores moments written by `save` and the step count. Every moment must be present with its
    /// variable's shape; nothing is changed unless all are.
    pub fn load(&mut self, path: &Path, step: i64) -> Result<()> {
        if !path.is_file() {
            return Err(Error::NotFound {
                path: path.to_path_buf(),
                fix: "Resume from the folder a training run wrote; its last/ holds optimizer.safetensors.".into(),
            });
        }
        // Checked against the SHA-256 the run recorded beside it (checksums.json); unreadable is corrupt.
        let file: HashMap<String, Tensor> = trnet_model::checkpoint::read_safetensors_verified(path)?.into_iter().collect();
        let corrupt = |problem: String| Error::Corrupt {
            path: path.to_path_buf(),
            problem,
            fix: "The checkpoint does not belong to this model; resume with the model config the run used.".into(),
        };
        if file.len() != self.params.len() * 2 {
            return Err(corrupt(format!("{} tensors where this model's optimizer has {}", file.len(), self.params.len() * 2)));
        }
        for p in &self.params {
            for (prefix, own) in [("m", &p.m), ("v", &p.v)] {
                let key = format!("{prefix}.{}", p.name);
                let t = file.get(&key).ok_or_else(|| corrupt(format!("no tensor {key:?}")))?;
                if t.size() != own.size() || t.kind() != own.kind() {
                    return Err(corrupt(format!("{key}: {:?} {:?} where {:?} {:?} was expected", t.kind(), t.size(), own.kind(), own.size())));
                }
            }
        }
        tch::no_grad(|| -> Result<()> {
            for p in &mut self.params {
                p.m.f_copy_(&file[&format!("m.{}", p.name)]).map_err(torch("restoring Adam moments"))?;
                p.v.f_copy_(&file[&format!("v.{}", p.name)]).map_err(torch("restoring Adam moments"))?;
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// One scalar parameter, hand-computed: after step 1 Adam moves every weight by lr·sign(g) (up to ε).
    #[test]
    fn first_steps_match_the_formula() {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut adam = Adam::new(&vs, 0.1, 0.9, 0.999, 1e-8, 0.0).unwrap();
        let (mut m, mut v, mut theta) = ([0.0f64; 2], [0.0f64; 2], [1.0f64, -2.0]);
        for t in 1..=3 {
            adam.zero_grad();
            // loss = Σ θ³ → g = 3θ²
            (&w * &w * &w).sum(Kind::Float).backward();
            adam.step().unwrap();
            for i in 0..2 {
                let g = 3.0 * theta[i] * theta[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let mhat = m[i] / (1.0 - 0.9f64.powi(t));
                let vhat = v[i] / (1.0 - 0.999f64.powi(t));
                theta[i] -= 0.1 * mhat / (vhat.sqrt() + 1e-8);
            }
            let got: Vec<f32> = Vec::try_from(&w).unwrap();
            for i in 0..2 {
                assert!((got[i] as f64 - theta[i]).abs() < 1e-5, "step {t}: {got:?} vs {theta:?}");
            }
        }
        assert_eq!(adam.step_count(), 3);
    }

    /// The SNR head's rate multiplier: the same gradients, ten times the first update for the scaled
    /// variables (Adam's first step is lr·g/|g|), the others untouched, and a later change of `lr` (a
    /// plateau schedule) keeps the ratio.
    #[test]
    fn scale_lr_multiplies_the_update_of_the_named_variables() {
        let vs = VarStore::new(Device::Cpu);
        let head = vs.root().sub("snr").sub("fc").var_copy("weight", &Tensor::from_slice(&[1.0f32, -1.0]));
        let enc = vs.root().sub("encoder").var_copy("weight", &Tensor::from_slice(&[1.0f32, -1.0]));
        let mut adam = Adam::new(&vs, 0.01, 0.9, 0.999, 1e-8, 0.0).unwrap();
        assert_eq!(adam.scale_lr("snr.", 10.0), 1, "{:?}", adam.names());
        for step in 0..2 {
            if step == 1 {
                adam.lr = 0.001;
            }
            let (h0, e0): (Vec<f32>, Vec<f32>) = (Vec::try_from(&head).unwrap(), Vec::try_from(&enc).unwrap());
            adam.zero_grad();
            ((&head * 2.0).sum(Kind::Float) + (&enc * 2.0).sum(Kind::Float)).backward();
            adam.step().unwrap();
            let (h1, e1): (Vec<f32>, Vec<f32>) = (Vec::try_from(&head).unwrap(), Vec::try_from(&enc).unwrap());
            for i in 0..2 {
                let (dh, de) = ((h0[i] - h1[i]) as f64, (e0[i] - e1[i]) as f64);
                assert!(de > 0.0 && (dh / de - 10.0).abs() < 1e-3, "step {step}: head moved {dh}, encoder {de}");
            }
        }
        let first = Tensor::from_slice(&[1.0f32, -1.0]) - &enc;
        assert!((first.double_value(&[0]) - 0.011).abs() < 1e-5, "the unscaled variable moved lr per step: {first}");
    }

    /// A small model's worth of variables (matrices, vectors, an `snr.` group at 10× the rate), a loss that
    /// mixes them, and weight decay: the flat update stays within 1e-6 of the per-tensor one over several steps,
    /// through the var store's own variables, and its moments save and load like the per-tensor ones.
    #[test]
    fn flat_update_matches_the_per_tensor_update() {
        let build = || {
            let vs = VarStore::new(Device::Cpu);
            let root = vs.root();
            let init = |n: i64, seed: f64| Tensor::arange(n, (Kind::Float, Device::Cpu)).f_mul_scalar(0.37).unwrap().sin().f_add_scalar(seed).unwrap();
            let a = root.sub("encoder").var_copy("weight", &init(24, 0.1).view([4, 6]));
            let b = root.sub("encoder").var_copy("bias", &init(6, -0.2));
            let c = root.sub("snr").var_copy("weight", &init(5, 0.3));
            let d = root.sub("zz").var_copy("weight", &init(3, 0.05));
            let mut adam = Adam::new(&vs, 0.01, 0.9, 0.999, 1e-8, 1e-3).unwrap();
            adam.scale_lr("snr.", 10.0);
            (vs, [a, b, c, d], adam)
        };
        let loss = |[a, b, c, d]: &[Tensor; 4]| {
            let h = (a.matmul(&b.view([6, 1])).tanh() * 2.0).sum(Kind::Float);
            h + (c * c * c).sum(Kind::Float) + (d.exp() * b.narrow(0, 0, 3)).sum(Kind::Float)
        };
        let (_vs1, w1, mut per_tensor) = build();
        let (vs2, w2, mut flat) = build();
        flat.flatten().unwrap();
        assert!(flat.is_flat() && !per_tensor.is_flat());
        for step in 1..=6 {
            for (w, adam) in [(&w1, &mut per_tensor), (&w2, &mut flat)] {
                adam.zero_grad();
                loss(w).backward();
                adam.step().unwrap();
            }
            let vars2 = vs2.variables();
            for (i, name) in ["encoder.weight", "encoder.bias", "snr.weight", "zz.weight"].iter().enumerate() {
                let diff = (&w1[i] - &vars2[*name]).abs().max().double_value(&[]);
                assert!(diff < 1e-6, "step {step}: {name} differs by {diff}");
                // The variable itself moved (not a copy of the buffer).
                assert!(w2[i].equal(&vars2[*name]));
            }
        }
        for ((n1, t1), (n2, t2)) in per_tensor.state_tensors().iter().zip(flat.state_tensors().iter()) {
            assert_eq!(n1, n2);
            assert!((t1 - t2).abs().max().double_value(&[]) < 1e-6, "{n1}");
        }
        // Save and load through the views: the moments come back into the flat buffers.
        let dir = std::env::temp_dir().join(format!("trnet-adam-flat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("opt.safetensors");
        flat.save(&path).unwrap();
        let (_vs3, w3, mut again) = build();
        again.flatten().unwrap();
        trnet_model::checkpoint::record_checksums(&dir, &["opt.safetensors"]).unwrap();
        again.load(&path, flat.step_count()).unwrap();
        for ((n1, t1), (_, t2)) in flat.state_tensors().iter().zip(again.state_tensors().iter()) {
            assert!(t1.equal(t2), "{n1}");
        }
        // One more step from the loaded moments (and the same weights) equals the original's next step.
        tch::no_grad(|| {
            for (a, b) in w3.iter().zip(w2.iter()) {
                let mut a = a.shallow_clone();
                a.copy_(b);
            }
        });
        for (w, adam) in [(&w2, &mut flat), (&w3, &mut again)] {
            adam.zero_grad();
            loss(w).backward();
            adam.step().unwrap();
        }
        for (a, b) in w2.iter().zip(w3.iter()) {
            assert!(a.equal(b));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().var_copy("a", &Tensor::from_slice(&[3.0f32]));
        let b = vs.root().var_copy("b", &Tensor::from_slice(&[4.0f32]));
        let adam = Adam::new(&vs, 0.1, 0.9, 0.999, 1e-8, 0.0).unwrap();
        // grads 3 and 4: total norm 5
        ((&a * &a + &b * &b).sum(Kind::Float) * 0.5).backward();
        let total = adam.clip_grad_norm(1.0).unwrap();
        assert!((total - 5.0).abs() < 1e-6);
        let ga = a.grad().double_value(&[0]);
        let gb = b.grad().double_value(&[0]);
        assert!((ga - 0.6).abs() < 1e-6 && (gb - 0.8).abs() < 1e-6, "{ga} {gb}");
        // Below the maximum: unchanged.
        assert!((adam.clip_grad_norm(10.0).unwrap() - 1.0).abs() < 1e-6);
        assert!((a.grad().double_value(&[0]) - 0.6).abs() < 1e-6);
    }

    #[test]
    fn state_round_trips_and_mismatches_are_refused() {
        let dir = std::env::temp_dir().join(format!("trnet-adam-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("opt.safetensors");
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var_copy("w", &Tensor::from_slice(&[1.0f32, 2.0, 3.0]));
        let mut adam = Adam::new(&vs, 0.01, 0.9, 0.999, 1e-8, 0.0).unwrap();
        (&w * &w).sum(Kind::Float).backward();
        adam.step().unwrap();
        adam.save(&path).unwrap();

        let vs2 = VarStore::new(Device::Cpu);
        let _ = vs2.root().var_copy("w", &Tensor::from_slice(&[0.0f32; 3]));
        let mut adam2 = Adam::new(&vs2, 0.01, 0.9, 0.999, 1e-8, 0.0).unwrap();
        adam2.load(&path, adam.step_count()).unwrap();
        for ((n1, t1), (n2, t2)) in adam.state_tensors().iter().zip(adam2.state_tensors().iter()) {
            assert_eq!(n1, n2);
            assert!(t1.equal(t2), "{n1}");
        }
        assert_eq!(adam2.step_count(), 1);

        let vs3 = VarStore::new(Device::Cpu);
        let _ = vs3.root().var_copy("w", &Tensor::from_slice(&[0.0f32; 4]));
        let err = Adam::new(&vs3, 0.01, 0.9, 0.999, 1e-8, 0.0).unwrap().load(&path, 1).unwrap_err();
        assert_eq!(err.code(), "TRNET_CHECKPOINT_CORRUPT");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
