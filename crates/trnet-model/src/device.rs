//! Device selection from the config string: `auto` | `cpu` | `cuda` | `cuda:N`.

use crate::{Error, Result};
use tch::{Cuda, Device};

/// A parsed device request; `resolve()` turns it into a tch device on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    Cuda(usize),
}

pub fn parse_device(text: &str) -> Result<DeviceSpec> {
    let t = text.trim().to_ascii_lowercase();
    match t.as_str() {
        "auto" => Ok(DeviceSpec::Auto),
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" => Ok(DeviceSpec::Cuda(0)),
        _ => t.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()).map(DeviceSpec::Cuda).ok_or_else(|| {
            Error::invalid("device", "\"auto\", \"cpu\", \"cuda\" or \"cuda:N\"", format!("{text:?}"), "Pick one of those forms, e.g. \"cuda:0\".")
        }),
    }
}

impl DeviceSpec {
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Auto => Ok(Device::cuda_if_available()),
            DeviceSpec::Cuda(i) => {
                let count = Cuda::device_count().max(0) as usize;
                if i < count {
                    Ok(Device::Cuda(i))
                } else {
                    Err(Error::DeviceUnavailable {
                        requested: format!("cuda:{i}"),
                        reason: if count == 0 {
                            "libtorch sees no CUDA device on this machine".into()
                        } else {
                            format!("libtorch sees {count} CUDA device(s), numbered 0..{}", count - 1)
                        },
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        assert_eq!(parse_device("auto").unwrap(), DeviceSpec::Auto);
        assert_eq!(parse_device(" CPU ").unwrap(), DeviceSpec::Cpu);
        assert_eq!(parse_device("cuda").unwrap(), DeviceSpec::Cuda(0));
        assert_eq!(parse_device("cuda:3").unwrap(), DeviceSpec::Cuda(3));
    }

    #[test]
    fn rejects_other_forms_with_a_coded_error() {
        for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
            let err = parse_device(bad).unwrap_err();
            assert_eq!(err.code(), "TRNET_INVALID_ARGUMENT", "{bad}");
            assert!(err.to_string().contains("cuda:N"), "{err}");
        }
    }

    #[test]
    fn a_cuda_index_past_the_device_count_is_unavailable() {
        let past = Cuda::device_count().max(0) as usize;
        let err = DeviceSpec::Cuda(past).resolve().unwrap_err();
        assert_eq!(err.code(), "TRNET_DEVICE_UNAVAILABLE");
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), Device::Cpu);
    }
}
