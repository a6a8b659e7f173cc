//! The few layers the model needs, with fallible forwards. tch's `nn` layers panic on a bad input shape;
//! these return `Error::Torch` instead, so a wrong-shaped batch from JavaScript becomes a coded error.
//! Parameter names match PyTorch's `state_dict` (`weight`, `bias`, `running_mean`, `running_var`), so
//! weights move between the two by name.

use crate::{Error, Result};
use tch::Tensor;
use tch::nn::{Init, Path};

/// PyTorch's default for nn.Linear / nn.Conv2d: U(±1/√fan_in).
pub(crate) fn torch_default_uniform(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// He (Kaiming) uniform for weights followed by a ReLU: U(±√(6/fan_in)).
pub(crate) fn kaiming_relu_uniform(fan_in: usize) -> Init {
    let bound = (6.0 / fan_in.max(1) as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

fn var(p: &Path, name: &str, dims: &[i64], init: Init) -> Result<Tensor> {
    p.f_var(name, dims, init).map_err(Error::torch(format!("creating parameter {}", p.path(name))))
}

#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    pub(crate) fn new(p: Path, in_dim: usize, out_dim: usize, bias: bool, weight_init: Init, bias_init: Init) -> Result<Self> {
        let weight = var(&p, "weight", &[out_dim as i64, in_dim as i64], weight_init)?;
        let bias = if bias { Some(var(&p, "bias", &[out_dim as i64], bias_init)?) } else { None };
        Ok(Linear { weight, bias })
    }

    /// nn.Linear with PyTorch's default initialisation.
    pub(crate) fn torch_default(p: Path, in_dim: usize, out_dim: usize, bias: bool) -> Result<Self> {
        Self::new(p, in_dim, out_dim, bias, torch_default_uniform(in_dim), torch_default_uniform(in_dim))
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.f_linear(&self.weight, self.bias.as_ref()).map_err(Error::torch("applying a linear layer"))
    }
}

/// A square 2-D convolution without bias: every conv here feeds a BatchNorm, whose shift makes a conv bias
/// redundant.
#[derive(Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub(crate) stride: i64,
    pub(crate) padding: i64,
}

impl Conv2d {
    pub(crate) fn new(p: Path, in_ch: usize, out_ch: usize, kernel: usize, stride: usize) -> Result<Self> {
        let fan_in = in_ch * kernel * kernel;
        let weight = var(&p, "weight", &[out_ch as i64, in_ch as i64, kernel as i64, kernel as i64], kaiming_relu_uniform(fan_in))?;
        // "same"-style padding: with an odd kernel, output frame t' is centred on input frame stride·t'.
        Ok(Conv2d { weight, stride: stride as i64, padding: (kernel / 2) as i64 })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.f_conv2d::<Tensor>(&self.weight, None, [self.stride, self.stride], [self.padding, self.padding], [1, 1], 1)
            .map_err(Error::torch("applying a convolution"))
    }
}

/// BatchNorm2d with PyTorch's semantics: affine weight 1 / bias 0 at the start, running stats updated with
/// `momentum` in training mode (unbiased variance) and used in eval mode.
#[derive(Debug)]
pub struct BatchNorm2d {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    pub(crate) eps: f64,
    momentum: f64,
}

impl BatchNorm2d {
    pub(crate) fn new(p: Path, channels: usize, eps: f64, momentum: f64) -> Result<Self> {
        let c = [channels as i64];
        let weight = var(&p, "weight", &c, Init::Const(1.0))?;
        let bias = var(&p, "bias", &c, Init::Const(0.0))?;
        let stat = |name: &str, v: f64| -> Result<Tensor> {
            let t = if v == 0.0 { p.f_zeros_no_train(name, &c) } else { p.f_ones_no_train(name, &c) };
            t.map_err(Error::torch(format!("creating buffer {}", p.path(name))))
        };
        Ok(BatchNorm2d { weight, bias, running_mean: stat("running_mean", 0.0)?, running_var: stat("running_var", 1.0)?, eps, momentum })
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        x.f_batch_norm(Some(&self.weight), Some(&self.bias), Some(&self.running_mean), Some(&self.running_var), train, self.momentum, self.eps, true)
            .map_err(Error::torch(if train { "applying batch norm (training mode needs more than one value per channel)" } else { "applying batch norm" }))
    }
}
