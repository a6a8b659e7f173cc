//! The dtype CUDA autocast computes in: float16 (libtorch's default, with dynamic loss scaling in the trainer) or
//! bfloat16 (float32's exponent range, so no loss scaling; Hopper's natural format).
//!
//! tch 0.24 turns autocast on and off (`tch::autocast`) but cannot choose its dtype, so this looks up libtorch's
//! `at::autocast::set_autocast_dtype(DeviceType, ScalarType)` / `get_autocast_dtype(DeviceType)` at run time
//! in the libtorch_cpu library the process has loaded (dlopen with RTLD_NOLOAD, then dlsym: no link-time
//! dependency, and a libtorch without them gives a coded error instead of a failed load). Both take and return
//! one-byte enums, passed like `i8` in the C calling convention on Linux x86-64 and aarch64. The setting is
//! thread-local in libtorch (autocast_mode.cpp), so it is set on the training thread and restored when the
//! guard drops.

use crate::{Error, Result};
use std::ffi::{CStr, c_void};

/// c10::DeviceType::CUDA.
const DEVICE_CUDA: i8 = 1;
/// c10::ScalarType values (c10/core/ScalarType.h; stable across versions).
pub const SCALAR_HALF: i8 = 5;
pub const SCALAR_BFLOAT16: i8 = 15;

const SET: &CStr = c"_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE";
const GET: &CStr = c"_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE";
const LIBRARY: &CStr = c"libtorch_cpu.so";

type SetFn = unsafe extern "C" fn(i8, i8);
type GetFn = unsafe extern "C" fn(i8) -> i8;

fn unavailable(what: &str) -> Error {
    Error::invalid(
        "mixedPrecisionDtype \"bfloat16\"",
        "libtorch's at::autocast::set_autocast_dtype (libtorch 2.4 or later)",
        what,
        "Use mixedPrecisionDtype \"float16\", or a libtorch that has it.",
    )
}

fn lookup() -> Result<(SetFn, GetFn)> {
    // SAFETY: dlopen with RTLD_NOLOAD only returns a handle to a library already loaded (libtorch, which this
    // crate links); dlsym returns the address of the named functions, whose C++ signatures the types above
    // state. The handle is not closed: the library stays loaded for the process anyway.
    unsafe {
        let handle = libc::dlopen(LIBRARY.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY);
        if handle.is_null() {
            return Err(unavailable("no libtorch_cpu.so loaded in this process"));
        }
        let (set, get): (*mut c_void, *mut c_void) = (libc::dlsym(handle, SET.as_ptr()), libc::dlsym(handle, GET.as_ptr()));
        if set.is_null() || get.is_null() {
            return Err(unavailable("a libtorch_cpu.so without it"));
        }
        Ok((std::mem::transmute::<*mut c_void, SetFn>(set), std::mem::transmute::<*mut c_void, GetFn>(get)))
    }
}

/// The CUDA autocast dtype of this thread (a c10::ScalarType value).
pub fn cuda_autocast_dtype() -> Result<i8> {
    let (_, get) = lookup()?;
    // SAFETY: see `lookup`; the function reads a thread-local array.
    Ok(unsafe { get(DEVICE_CUDA) })
}

/// Sets this thread's CUDA autocast dtype until the guard drops (then the previous one is restored).
pub struct AutocastDtype {
    previous: i8,
    set: SetFn,
}

impl AutocastDtype {
    pub fn set(scalar: i8) -> Result<AutocastDtype> {
        let (set, get) = lookup()?;
        // SAFETY: see `lookup`; both functions touch a thread-local array only.
        let previous = unsafe { get(DEVICE_CUDA) };
        unsafe { set(DEVICE_CUDA, scalar) };
        Ok(AutocastDtype { previous, set })
    }
}

impl Drop for AutocastDtype {
    fn drop(&mut self) {
        // SAFETY: see `lookup`.
        unsafe { (self.set)(DEVICE_CUDA, self.previous) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs without a GPU: the setting is libtorch's thread-local data, read back through the other function.
    #[test]
    fn sets_and_restores_the_cuda_autocast_dtype_of_this_thread() {
        let before = cuda_autocast_dtype().unwrap();
        assert_eq!(before, SCALAR_HALF, "libtorch's default CUDA autocast dtype is float16");
        {
            let _guard = AutocastDtype::set(SCALAR_BFLOAT16).unwrap();
            assert_eq!(cuda_autocast_dtype().unwrap(), SCALAR_BFLOAT16);
            // Thread-local: another thread still sees the default.
            assert_eq!(std::thread::spawn(|| cuda_autocast_dtype().unwrap()).join().unwrap(), SCALAR_HALF);
        }
        assert_eq!(cuda_autocast_dtype().unwrap(), SCALAR_HALF);
    }
}
