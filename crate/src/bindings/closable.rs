//! A native object that JavaScript closes: the binding holds it until `close()`/`destroy()`,
//! after which every call on the binding fails with one clear message (a poisoned lock is
//! taken over: the slot holds no invariant a panic could break).

use crate::bindings::error::to_js;
use crate::error::Error;
use std::sync::{Arc, Mutex};

pub(crate) struct Closable<T> {
    slot: Mutex<Option<Arc<T>>>,
    /// What a call after the close says (`ERR_WGKIT_INVALID_ARGUMENT`).
    closed: &'static str,
}

impl<T> Closable<T> {
    pub(crate) fn new(value: T, closed: &'static str) -> Closable<T> {
        Closable {
            slot: Mutex::new(Some(Arc::new(value))),
            closed,
        }
    }

    /// The object, or the closed error.
    pub(crate) fn get(&self) -> napi::Result<Arc<T>, String> {
        self.slot
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| to_js(Error::invalid_argument(self.closed)))
    }

    /// Closes the slot, handing back the object if it was still open (calls in flight keep
    /// their own reference until they return).
    pub(crate) fn take(&self) -> Option<Arc<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}
