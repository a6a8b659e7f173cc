//! One way for every failure to reach JavaScript: an `Error` whose `code` is stable (TRNET_*), whose message
//! says what was expected, what was found and how to fix it, and whose `cause` chain keeps the Rust sources.
//! Panics are caught at the boundary and become `TRNET_PANIC` errors; they never unwind into Node.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::ToNapiValue;
use napi::{Env, JsValue, Unknown};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// The `code` a JavaScript error carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

pub const PANIC: Code = Code("TRNET_PANIC");
pub const ABORTED: Code = Code("ABORT_ERR");

/// A failure on its way to JavaScript.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: Code,
    pub message: String,
    /// The error's sources, outermost first.
    pub causes: Vec<String>,
}

impl Failure {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Failure { code, message: message.into(), causes: Vec::new() }
    }

    fn from_error(code: &'static str, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut causes = Vec::new();
        let mut next = err.source();
        while let Some(e) = next {
            causes.push(e.to_string());
            next = e.source();
        }
        Failure { code: Code(code), message: err.to_string(), causes }
    }

    fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic payload".into());
        Failure::new(
            PANIC,
            format!("trnet's native code panicked: {what}. This is a bug in trnet; please report it with the call that caused it. The process is unaffected."),
        )
    }

    pub fn into_napi(self) -> napi::Error<Code> {
        let mut err = napi::Error::new(self.code, self.message);
        // napi keeps one `cause` per error, so the chain is nested innermost-last.
        let mut cause: Option<napi::Error> = None;
        for text in self.causes.into_iter().rev() {
            let mut e = napi::Error::from_reason(text);
            if let Some(inner) = cause.take() {
                e.set_cause(inner);
            }
            cause = Some(e);
        }
        if let Some(c) = cause {
            err.set_cause(c);
        }
        err
    }

    /// Builds the JavaScript error object (for async rejections, which cannot carry a custom code type).
    pub fn to_js<'env>(&self, env: &Env) -> napi::Result<Unknown<'env>> {
        let raw = unsafe { ToNapiValue::to_napi_value(env.raw(), self.clone().into_napi())? };
        let value = unsafe { Unknown::from_raw_unchecked(env.raw(), raw) };
        if self.code == ABORTED {
            // The name fetch() and Node's own APIs use, so callers can test `err.name === "AbortError"`.
            let mut object = value.coerce_to_object()?;
            object.set_named_property("name", "AbortError")?;
        }
        Ok(value)
    }
}

impl From<trnet_model::Error> for Failure {
    fn from(e: trnet_model::Error) -> Self {
        Failure::from_error(e.code(), &e)
    }
}

impl From<trnet_dsp::Error> for Failure {
    fn from(e: trnet_dsp::Error) -> Self {
        Failure::from_error(e.code(), &e)
    }
}

impl From<trnet_train::Error> for Failure {
    fn from(e: trnet_train::Error) -> Self {
        Failure::from_error(e.code(), &e)
    }
}

impl From<trnet_runtime::Error> for Failure {
    fn from(e: trnet_runtime::Error) -> Self {
        Failure::from_error(e.code(), &e)
    }
}

impl From<trnet_enhance::Error> for Failure {
    fn from(e: trnet_enhance::Error) -> Self {
        Failure::from_error(e.code(), &e)
    }
}

pub type Outcome<T> = Result<T, Failure>;

/// Runs native work with panics caught; every synchronous export goes through here.
pub fn guard<T>(work: impl FnOnce() -> Outcome<T>) -> napi::Result<T, Code> {
    catch(work).map_err(Failure::into_napi)
}

/// Like `guard`, but keeps the failure as a value (for async tasks).
pub fn catch<T>(work: impl FnOnce() -> Outcome<T>) -> Outcome<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| Err(Failure::from_panic(payload)))
}

/// Replaces the default panic report (a backtrace whenever RUST_BACKTRACE is set) with one line: every panic
/// in the addon is caught at the boundary and reported to JavaScript as an Error, so stderr needs only a note.
#[napi_derive::module_init]
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        if info.payload().downcast_ref::<String>().is_some_and(|m| m.starts_with(DIAGNOSTIC_PANIC)) {
            return; // expected by whoever asked for it
        }
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("trnet: native panic{at}; it was caught and reported to JavaScript as a TRNET_PANIC Error");
    }));
}

const DIAGNOSTIC_PANIC: &str = "diagnostic panic: ";

/// Deliberately panics inside native code. `trnet doctor` and the tests use it to prove that a panic turns
/// into a `TRNET_PANIC` Error and leaves the process running.
#[napi_derive::napi]
pub fn panic_for_diagnostics(message: String) -> napi::Result<(), Code> {
    guard(|| panic!("{DIAGNOSTIC_PANIC}{message}"))
}
