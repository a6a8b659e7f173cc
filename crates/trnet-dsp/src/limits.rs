//! Size guards for buffers whose length a caller chooses (a target frame count, an FFT size, an output
//! length). A request beyond these bounds is an argument error, and an allocation the system cannot satisfy
//! is an error too, instead of the abort a failed `vec!` would cause in the process that loaded trnet.

use crate::{Error, Result};

/// Most f32 values one caller-sized result may hold: 2²⁸ values (1 GiB), far above any utterance's
/// features or spectrogram (two hours of 16 kHz audio are 1.2·10⁸ samples).
pub const MAX_VALUES: usize = 1 << 28;

/// Largest STFT frame (n_fft) accepted: far beyond any speech front end (GTCRN 512, CMGAN 400).
pub const MAX_N_FFT: usize = 1 << 16;

/// A zeroed buffer of `count` values (`None`: the size overflowed while it was computed), refused when it
/// exceeds [`MAX_VALUES`] or cannot be allocated. `what` names the result, `fix` says how to ask for less.
pub fn zeros(what: &str, count: Option<usize>, fix: &str) -> Result<Vec<f32>> {
    let count = match count {
        Some(n) if n <= MAX_VALUES => n,
        Some(n) => return Err(Error::invalid(what, format!("at most {MAX_VALUES} values"), format!("{n} values"), fix)),
        None => return Err(Error::invalid(what, format!("at most {MAX_VALUES} values"), "a size that overflows", fix)),
    };
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| Error::invalid(what, "a size this machine can allocate", format!("{count} values"), fix))?;
    v.resize(count, 0.0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_sizes_past_the_bound_or_overflowing() {
        assert_eq!(zeros("x", Some(3), "").unwrap(), [0.0; 3]);
        assert!(zeros("x", Some(MAX_VALUES + 1), "").unwrap_err().to_string().contains("at most"));
        assert_eq!(zeros("x", None, "").unwrap_err().code(), "TRNET_INVALID_ARGUMENT");
    }
}
