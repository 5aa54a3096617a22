//! Blocking work run on the libuv pool as a Promise, cancellable through an AbortSignal
//! before it starts.
//!
//! `napi::Task` can only reject with a Node-API status, so a crate error travels in the
//! reason as `[ERR_WGKIT_X:ERRNO] message`; the facade (`lib/errors.ts`) decodes it.

use crate::error::{Error, ErrorCode};
use napi::bindgen_prelude::{AbortSignal, AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Status, Task};

type Work<T> = Box<dyn FnOnce() -> crate::error::Result<T> + Send>;

pub struct Blocking<T: Send + 'static, J> {
    work: Option<Work<T>>,
    convert: fn(T) -> J,
}

impl<T: Send + 'static, J: ToNapiValue + TypeName> Task for Blocking<T, J> {
    type Output = T;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<T> {
        let work = self
            .work
            .take()
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "task ran twice"))?;
        // A panic must not unwind into Node-API (that aborts the process): it rejects the
        // Promise instead. Work that changes state prepares aside and commits infallibly
        // (`device/config.rs`), so a panic leaves nothing half-done.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)) {
            Ok(result) => result.map_err(encode),
            Err(payload) => Err(encode(Error::new(
                ErrorCode::System,
                format!("Internal error: {}", crate::thread_guard::panic_message(&*payload)),
            ))),
        }
    }

    fn resolve(&mut self, _env: Env, output: T) -> napi::Result<J> {
        Ok((self.convert)(output))
    }
}

/// Runs `work` on the libuv pool; `convert` turns its output into the JS value.
pub fn spawn<T, J, F>(work: F, convert: fn(T) -> J, signal: Option<AbortSignal>) -> AsyncTask<Blocking<T, J>>
where
    T: Send + 'static,
    J: ToNapiValue + TypeName,
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
{
    AsyncTask::with_optional_signal(
        Blocking {
            work: Some(Box::new(work)),
            convert,
        },
        signal,
    )
}

fn encode(err: Error) -> napi::Error {
    let code = match err.errno_name() {
        Some(name) => format!("{}:{}", err.code.as_str(), name),
        None => err.code.as_str().to_string(),
    };
    napi::Error::new(Status::GenericFailure, format!("[{code}] {}", err.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_task_rejects_with_a_system_error() {
        let mut task: Blocking<u32, u32> = Blocking {
            work: Some(Box::new(|| panic!("half-way"))),
            convert: |x| x,
        };
        let e = task.compute().unwrap_err();
        assert_eq!(e.reason, "[ERR_WGKIT_SYSTEM] Internal error: half-way");
        let mut ok: Blocking<u32, u32> = Blocking {
            work: Some(Box::new(|| Ok(7))),
            convert: |x| x,
        };
        assert_eq!(ok.compute().unwrap(), 7);
    }
}
