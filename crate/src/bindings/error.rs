//! Conversion of crate errors into JS errors.
//!
//! The JS error's `code` is the stable `ERR_WGKIT_…` code; when an OS call failed, the errno
//! name follows after a colon (`ERR_WGKIT_PERMISSION_DENIED:EPERM`). The TypeScript facade
//! splits the two and builds the public error classes.

use crate::error::Error;

pub type JsResult<T> = napi::Result<T, String>;

pub fn to_js(err: Error) -> napi::Error<String> {
    let code = match err.errno_name() {
        Some(name) => format!("{}:{}", err.code.as_str(), name),
        None => err.code.as_str().to_string(),
    };
    napi::Error::new(code, err.message)
}

pub trait IntoJs<T> {
    fn into_js(self) -> JsResult<T>;
}

impl<T> IntoJs<T> for crate::error::Result<T> {
    fn into_js(self) -> JsResult<T> {
        self.map_err(to_js)
    }
}
