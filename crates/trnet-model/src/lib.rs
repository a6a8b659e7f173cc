//! TRNet on libtorch (tch). This crate knows nothing of Node; the addon converts and dispatches.
//!
//! - `config`: the validated, JSON-serialisable `ModelConfig` (paper values as defaults) and `Variant`.
//! - `encoder`: the SER encoder (residual conv blocks, frequency average pooling, attention pooling → h).
//! - `snr_aware`: d (per-bin cosine similarity), c (one coefficient per utterance), X~ mixing.
//! - `film`: the bridge h~ = FC1(c)·h + FC2(c).
//! - `losses`: CE, L_low, L_high and their weighted total.
//! - `trnet`: the six compared models as one `TrnetModel` (see its table of what each variant computes).
//! - `inference`: the encoder prepared for prediction (BatchNorm and shortcut folded into the convs; f32 or bf16).
//! - `checkpoint`: safetensors weights + JSON config, written atomically, loaded strictly.
//! - `onnx`: export of the eval-mode forward pass as one ONNX graph (hand-written protobuf, opset 17).
//! - `device`, `ops`: device selection, and tensor ops on caller-owned memory (softmax for the addon).
//!
//! Process-level concerns (libtorch facts, malloc tuning, the matmul smoke job) live in `trnet-runtime`.

mod check;
pub mod checkpoint;
pub mod config;
pub mod device;
mod direct_conv;
pub mod encoder;
pub mod error;
pub mod film;
pub mod inference;
mod layers;
pub mod losses;
pub mod onnx;
pub mod ops;
pub mod rng;
pub mod snr_aware;
pub mod trnet;

pub use checkpoint::Checkpoint;
pub use config::{ClassifierInput, HeadInit, ModelConfig, NoLowInput, SnrClamp, Variant};
pub use device::{DeviceSpec, parse_device};
pub use encoder::{Encoder, EncoderOutput};
pub use error::Error;
pub use inference::{Precision, check_precision};
pub use losses::Losses;
pub use trnet::{CleanReference, Inputs, Outputs, TrnetModel, clean_embedding};
pub type Result<T, E = Error> = std::result::Result<T, E>;
