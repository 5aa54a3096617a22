//! `NativeKey`: key material held in Rust (zeroized on drop), wrapped by `lib/keys.ts`.

use super::error::IntoJs;
use crate::keys::Key;
use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi_derive::napi;

#[napi]
pub struct NativeKey {
    pub(crate) inner: Key,
}

#[napi]
impl NativeKey {
    #[napi(factory)]
    pub fn from_base64(text: String) -> napi::Result<NativeKey, String> {
        Key::from_base64(&text).map(|inner| NativeKey { inner }).into_js()
    }

    #[napi(factory)]
    pub fn from_hex(text: String) -> napi::Result<NativeKey, String> {
        Key::from_hex(&text).map(|inner| NativeKey { inner }).into_js()
    }

    #[napi(factory)]
    pub fn from_bytes(bytes: Uint8Array) -> napi::Result<NativeKey, String> {
        Key::from_slice(&bytes).map(|inner| NativeKey { inner }).into_js()
    }

    #[napi(factory)]
    pub fn from_key_file(contents: Uint8Array) -> napi::Result<NativeKey, String> {
        Key::from_key_file(&contents).map(|inner| NativeKey { inner }).into_js()
    }

    #[napi(factory)]
    pub fn from_pubkey_input(input: Uint8Array) -> napi::Result<NativeKey, String> {
        Key::from_pubkey_input(&input)
            .map(|inner| NativeKey { inner })
            .into_js()
    }

    #[napi(factory)]
    pub fn generate_private() -> NativeKey {
        NativeKey {
            inner: Key::generate_private(),
        }
    }

    #[napi(factory)]
    pub fn generate_preshared() -> NativeKey {
        NativeKey {
            inner: Key::generate_preshared(),
        }
    }

    #[napi(factory)]
    pub fn zero() -> NativeKey {
        NativeKey { inner: Key::zero() }
    }

    #[napi]
    pub fn public_key(&self) -> NativeKey {
        NativeKey {
            inner: self.inner.public_key(),
        }
    }

    #[napi]
    pub fn to_base64(&self) -> String {
        self.inner.to_base64()
    }

    #[napi]
    pub fn to_hex(&self) -> String {
        self.inner.to_hex()
    }

    #[napi]
    pub fn to_bytes(&self) -> Buffer {
        Buffer::from(self.inner.as_bytes().to_vec())
    }

    #[napi]
    pub fn equals(&self, other: &NativeKey) -> bool {
        self.inner.ct_eq(&other.inner)
    }

    #[napi]
    pub fn is_zero(&self) -> bool {
        self.inner.is_zero()
    }
}
