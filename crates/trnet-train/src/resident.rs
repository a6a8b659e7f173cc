//! Training items resident on the device (`residentFeatures`): a run's training items are read from their
//! dataset (memory or feature store) once, stacked into device tensors, and each step's batch is gathered on the
//! device by row index, instead of being read, stacked on the CPU and copied to the device every step.
//!
//! The rows hold exactly the values `batcher::assemble` stacks (the same reads, the same float32 copies), and
//! the batches follow the same seeded plan, so training is bit for bit the store path's on the CPU. The cost is
//! device memory: N items × T frames × F bins × 4 bytes per stacked spectrogram (X, and Xe, Xs for the TRNet
//! variants): an IEMOCAP fold's 8850 TRNet items at 500 × 80 take 4.2 GB.

use crate::batcher::{Batch, Fields, assemble};
use crate::dataset::Dataset;
use crate::{Error, Result};
use std::collections::HashMap;
use tch::{Device, Kind, Tensor};

/// Items read per chunk while loading (bounds the host memory the load needs).
const LOAD_CHUNK: usize = 256;

/// The training items' batch fields on the device.
pub struct Resident {
    x: Tensor,
    xe: Option<Tensor>,
    xs: Option<Tensor>,
    mask: Tensor,
    labels: Tensor,
    /// Dataset index → row.
    rows: HashMap<usize, i64>,
    device: Device,
}

impl Resident {
    /// Loads `items` of `ds` (the fields `fields` names) onto `device`; `cancelled` is polled between chunks and
    /// stops the load with `Error::Cancelled`.
    pub fn load(ds: &Dataset, items: &[usize], fields: Fields, device: Device, cancelled: &dyn Fn() -> bool) -> Result<Resident> {
        let (n, t, f) = (items.len() as i64, ds.frames() as i64, ds.bins() as i64);
        let alloc = |shape: &[i64], kind: Kind| Tensor::f_zeros(shape, (kind, device)).map_err(Error::torch("allocating the resident training features"));
        let mut resident = Resident {
            x: alloc(&[n, t, f], Kind::Float)?,
            xe: if fields.enhanced { Some(alloc(&[n, t, f], Kind::Float)?) } else { None },
            xs: if fields.clean { Some(alloc(&[n, t, f], Kind::Float)?) } else { None },
            mask: alloc(&[n, t], Kind::Bool)?,
            labels: alloc(&[n], Kind::Int64)?,
            rows: items.iter().enumerate().map(|(row, &i)| (i, row as i64)).collect(),
            device,
        };
        let mut start = 0i64;
        for chunk in items.chunks(LOAD_CHUNK) {
            if cancelled() {
                return Err(Error::Cancelled { checkpoint: None });
            }
            let batch = assemble(ds, chunk, fields)?;
            let len = chunk.len() as i64;
            let put = |dst: &Tensor, src: &Tensor| -> Result<()> {
                let mut slice = dst.f_narrow(0, start, len).map_err(Error::torch("loading the resident training features"))?;
                slice.f_copy_(src).map_err(Error::torch("loading the resident training features"))
            };
            put(&resident.x, &batch.x)?;
            if let (Some(dst), Some(src)) = (&resident.xe, &batch.xe) {
                put(dst, src)?;
            }
            if let (Some(dst), Some(src)) = (&resident.xs, &batch.xs) {
                put(dst, src)?;
            }
            put(&resident.mask, &batch.mask)?;
            put(&resident.labels, &batch.labels)?;
            start += len;
        }
        // The same item twice in `items` would map to its last row; rows are identical, so either is right.
        resident.rows.shrink_to_fit();
        Ok(resident)
    }

    /// The batch of the dataset items `indices` (in that order), gathered on the device.
    pub fn batch(&self, indices: &[usize]) -> Result<Batch> {
        let rows: Vec<i64> = indices
            .iter()
            .map(|i| {
                self.rows.get(i).copied().ok_or_else(|| {
                    Error::invalid(
                        "resident batch item",
                        "an item loaded onto the device",
                        i,
                        "This is a bug in trnet-train (the plan names an item outside the training selection).",
                    )
                })
            })
            .collect::<Result<_>>()?;
        let gather = |t: &Tensor, index: &Tensor| t.f_index_select(0, index).map_err(Error::torch("gathering a resident batch"));
        let index = Tensor::f_from_slice(&rows).and_then(|r| r.f_to_device(self.device)).map_err(Error::torch("gathering a resident batch"))?;
        Ok(Batch {
            x: gather(&self.x, &index)?,
            xe: self.xe.as_ref().map(|t| gather(t, &index)).transpose()?,
            xs: self.xs.as_ref().map(|t| gather(t, &index)).transpose()?,
            mask: gather(&self.mask, &index)?,
            labels: gather(&self.labels, &index)?,
            items: indices.to_vec(),
        })
    }
}
