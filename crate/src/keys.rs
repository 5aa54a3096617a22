//! WireGuard keys: Curve25519 private and public keys and preshared keys.
//!
//! Encoding and decoding follow wireguard-tools `encoding.c` exactly: base64 must be 44
//! characters with `=` at position 43 and zero padding bits (canonical), hex is 64 characters
//! in either case, and both decoders run in constant time. Key material is zeroized on drop.

use crate::error::{Error, ErrorCode, Result};
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub const KEY_LEN: usize = 32;
pub const KEY_LEN_BASE64: usize = 44;
pub const KEY_LEN_HEX: usize = 64;

/// wg's message for any malformed key.
pub const KEY_FORMAT_MESSAGE: &str = "Key is not the correct length or format";

/// 32 bytes of key material. Which kind of key it is (private, public, preshared) is the
/// caller's knowledge; the type only guarantees encoding rules, constant-time comparison and
/// zeroization.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; KEY_LEN]);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material: a Debug derive on a containing struct must not leak secrets.
        f.write_str("Key(..)")
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for Key {}

impl Key {
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    pub fn from_slice(bytes: &[u8]) -> Result<Key> {
        let arr: [u8; KEY_LEN] = bytes.try_into().map_err(|_| {
            Error::new(
                ErrorCode::InvalidKey,
                format!("{KEY_FORMAT_MESSAGE}: a key is {KEY_LEN} bytes, got {}", bytes.len()),
            )
        })?;
        Ok(Key(arr))
    }

    pub const fn zero() -> Key {
        Key([0u8; KEY_LEN])
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A new private key: 32 bytes from the OS CSPRNG, clamped as Curve25519 requires.
    pub fn generate_private() -> Key {
        let mut key = Key::generate_preshared();
        key.clamp();
        key
    }

    /// A new preshared key: 32 bytes from the OS CSPRNG, not clamped.
    pub fn generate_preshared() -> Key {
        let mut key = Key::zero();
        OsRng.fill_bytes(&mut key.0);
        key
    }

    /// Clamps the scalar: `k[0] &= 248; k[31] &= 127; k[31] |= 64`.
    pub fn clamp(&mut self) {
        self.0[0] &= 248;
        self.0[31] &= 127;
        self.0[31] |= 64;
    }

    /// The Curve25519 public key of this private key (X25519 with the base point).
    pub fn public_key(&self) -> Key {
        let secret = StaticSecret::from(self.0);
        Key(PublicKey::from(&secret).to_bytes())
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &Key) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    /// Constant-time test for the all-zero key (which means "no key" in every WireGuard API).
    pub fn is_zero(&self) -> bool {
        self.0.ct_eq(&[0u8; KEY_LEN]).into()
    }

    pub fn to_base64(&self) -> String {
        let mut out = [0u8; KEY_LEN_BASE64];
        for i in 0..KEY_LEN / 3 {
            encode_base64(
                &mut out[i * 4..i * 4 + 4],
                [self.0[i * 3], self.0[i * 3 + 1], self.0[i * 3 + 2]],
            );
        }
        let i = KEY_LEN / 3;
        encode_base64(&mut out[i * 4..i * 4 + 4], [self.0[i * 3], self.0[i * 3 + 1], 0]);
        out[KEY_LEN_BASE64 - 1] = b'=';
        let s = String::from_utf8(out.to_vec()).expect("base64 alphabet is ASCII");
        out.zeroize();
        s
    }

    /// Decodes base64 exactly as wg does; anything else is `ERR_WGKIT_INVALID_KEY`.
    pub fn from_base64(text: &str) -> Result<Key> {
        let bytes = text.as_bytes();
        if bytes.len() != KEY_LEN_BASE64 || bytes[KEY_LEN_BASE64 - 1] != b'=' {
            return Err(key_format_error());
        }
        let mut key = Key::zero();
        let mut bad: u32 = 0;
        for i in 0..KEY_LEN / 3 {
            let val = decode_base64([bytes[i * 4], bytes[i * 4 + 1], bytes[i * 4 + 2], bytes[i * 4 + 3]]);
            bad |= (val as u32) >> 31;
            key.0[i * 3] = (val >> 16) as u8;
            key.0[i * 3 + 1] = (val >> 8) as u8;
            key.0[i * 3 + 2] = val as u8;
        }
        let i = KEY_LEN / 3;
        let val = decode_base64([bytes[i * 4], bytes[i * 4 + 1], bytes[i * 4 + 2], b'A']);
        // The low byte holds the padding bits, which must be zero for a canonical encoding.
        bad |= ((val as u32) >> 31) | (val as u32 & 0xff);
        key.0[i * 3] = (val >> 16) as u8;
        key.0[i * 3 + 1] = (val >> 8) as u8;
        if bad != 0 {
            return Err(key_format_error());
        }
        Ok(key)
    }

    /// Lower-case hex, as the UAPI protocol writes keys.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(KEY_LEN_HEX);
        for b in self.0 {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        out
    }

    /// Decodes 64 hex characters of either case, in constant time.
    pub fn from_hex(text: &str) -> Result<Key> {
        let bytes = text.as_bytes();
        if bytes.len() != KEY_LEN_HEX {
            return Err(key_format_error());
        }
        let mut key = Key::zero();
        let mut bad: u32 = 0;
        for i in 0..KEY_LEN {
            let (hi, hi_bad) = decode_hex_nibble(bytes[i * 2]);
            let (lo, lo_bad) = decode_hex_nibble(bytes[i * 2 + 1]);
            bad |= hi_bad | lo_bad;
            key.0[i] = (hi << 4) | lo;
        }
        if bad != 0 {
            return Err(key_format_error());
        }
        Ok(key)
    }

    /// Parses a key file the way `wg set … private-key FILE` reads it: the first 44 bytes are
    /// the base64 key, anything after them must be whitespace, and an empty file is the zero
    /// key (which removes a key). Messages follow wg; the key's value is never quoted.
    pub fn from_key_file(contents: &[u8]) -> Result<Key> {
        if contents.is_empty() {
            return Ok(Key::zero());
        }
        if contents.len() < KEY_LEN_BASE64 {
            return Err(Error::new(ErrorCode::InvalidKeyFile, "Invalid length key in key file"));
        }
        let (head, rest) = contents.split_at(KEY_LEN_BASE64);
        if let Some(&c) = rest.iter().find(|&&c| !is_c_space(c)) {
            return Err(Error::new(
                ErrorCode::InvalidKeyFile,
                format!("Found trailing character in key file: `{}'", c as char),
            ));
        }
        // wg NUL-terminates the 44 bytes it read, so an embedded NUL shortens the key.
        let head = &head[..head.iter().position(|&c| c == 0).unwrap_or(head.len())];
        let text = std::str::from_utf8(head).map_err(|_| key_format_error())?;
        Key::from_base64(text)
    }

    /// Parses what `wg pubkey` reads on standard input: 44 bytes of base64, then only
    /// whitespace or NUL bytes. Errors carry wg's two messages.
    pub fn from_pubkey_input(input: &[u8]) -> Result<Key> {
        if input.len() < KEY_LEN_BASE64 {
            return Err(key_format_error());
        }
        let (head, rest) = input.split_at(KEY_LEN_BASE64);
        if rest.iter().any(|&c| c != 0 && !is_c_space(c)) {
            return Err(Error::new(ErrorCode::InvalidKey, "Trailing characters found after key"));
        }
        let head = &head[..head.iter().position(|&c| c == 0).unwrap_or(head.len())];
        let text = std::str::from_utf8(head).map_err(|_| key_format_error())?;
        Key::from_base64(text)
    }
}

fn key_format_error() -> Error {
    Error::new(ErrorCode::InvalidKey, KEY_FORMAT_MESSAGE)
}

/// `isspace` in the C locale.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Constant-time base64 encoding of three bytes (wireguard-tools `encode_base64`).
fn encode_base64(dest: &mut [u8], src: [u8; 3]) {
    let input = [
        (src[0] >> 2) & 63,
        ((src[0] << 4) | (src[1] >> 4)) & 63,
        ((src[1] << 2) | (src[2] >> 6)) & 63,
        src[2] & 63,
    ];
    for i in 0..4 {
        let v = input[i] as i32;
        let c = v + b'A' as i32 + (((25 - v) >> 8) & 6) - (((51 - v) >> 8) & 75) - (((61 - v) >> 8) & 15)
            + (((62 - v) >> 8) & 3);
        dest[i] = c as u8;
    }
}

/// Constant-time decoding of four base64 characters into 24 bits; negative on a bad character
/// (wireguard-tools `decode_base64`, with C's signed `char`).
fn decode_base64(src: [u8; 4]) -> i32 {
    let mut val: i32 = 0;
    for (i, &byte) in src.iter().enumerate() {
        let c = byte as i8 as i32;
        let digit = -1
            + (((((b'A' as i32 - 1) - c) & (c - (b'Z' as i32 + 1))) >> 8) & (c - 64))
            + (((((b'a' as i32 - 1) - c) & (c - (b'z' as i32 + 1))) >> 8) & (c - 70))
            + (((((b'0' as i32 - 1) - c) & (c - (b'9' as i32 + 1))) >> 8) & (c + 5))
            + (((((b'+' as i32 - 1) - c) & (c - (b'+' as i32 + 1))) >> 8) & 63)
            + (((((b'/' as i32 - 1) - c) & (c - (b'/' as i32 + 1))) >> 8) & 64);
        val |= digit << (18 - 6 * i as i32);
    }
    val
}

/// Constant-time hex digit decoding: (value, nonzero when invalid).
fn decode_hex_nibble(c: u8) -> (u8, u32) {
    let c = c as u32;
    let num = c ^ 48;
    let num_ok = (num.wrapping_sub(10) >> 8) & 0xff; // 0xff when 0..9
    let alpha = (c & !32).wrapping_sub(55);
    let alpha_ok = ((alpha.wrapping_sub(10) ^ alpha.wrapping_sub(16)) >> 8) & 0xff; // 0xff when A..F
    let bad = ((num_ok | alpha_ok).wrapping_sub(1) >> 8) & 1;
    let val = (num_ok & num) | (alpha_ok & alpha);
    ((val & 0xf) as u8, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIV: &str = "GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=";
    const PUB: &str = "aPxGwq8zERHQ3Q1cOZFdJ+cvJX5Ka4mLN38AyYKYF10=";

    #[test]
    fn known_vector() {
        let k = Key::from_base64(PRIV).unwrap();
        assert_eq!(k.public_key().to_base64(), PUB);
    }

    #[test]
    fn base64_round_trip_random() {
        for _ in 0..1000 {
            let k = Key::generate_preshared();
            let s = k.to_base64();
            assert_eq!(s.len(), 44);
            assert_eq!(Key::from_base64(&s).unwrap(), k);
            assert_eq!(Key::from_hex(&k.to_hex()).unwrap(), k);
            assert_eq!(Key::from_hex(&k.to_hex().to_uppercase()).unwrap(), k);
        }
    }

    #[test]
    fn base64_matches_standard_encoder() {
        use base64::Engine;
        for _ in 0..200 {
            let k = Key::generate_preshared();
            assert_eq!(
                k.to_base64(),
                base64::engine::general_purpose::STANDARD.encode(k.as_bytes())
            );
        }
    }

    #[test]
    fn rejects_non_canonical_and_malformed_base64() {
        // Same key, but nonzero padding bits in the last character ('k' vs 'l').
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3l=").is_err());
        assert!(Key::from_base64(&PRIV[..43]).is_err());
        assert!(Key::from_base64(&format!("{PRIV}=")).is_err());
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3kA").is_err());
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3!=").is_err());
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHf-K23zME8VNvC5B37S3k=").is_err());
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHf_K23zME8VNvC5B37S3k=").is_err());
        assert!(Key::from_base64(" HuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S3k=").is_err());
        assert!(Key::from_base64("GHuMwljFfqd2a7cs6BaUOmHflK23zME8VNvC5B37S\u{e9}=").is_err());
        let e = Key::from_base64("nope").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidKey);
        assert_eq!(e.message, KEY_FORMAT_MESSAGE);
    }

    #[test]
    fn every_last_character_checked() {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (idx, &c) in alphabet.iter().enumerate() {
            let mut s = PRIV.as_bytes().to_vec();
            s[42] = c;
            let ok = Key::from_base64(std::str::from_utf8(&s).unwrap()).is_ok();
            assert_eq!(ok, idx % 4 == 0, "char {}", c as char);
        }
    }

    #[test]
    fn hex_rejects_bad() {
        assert!(Key::from_hex(&"g".repeat(64)).is_err());
        assert!(Key::from_hex(&"0".repeat(63)).is_err());
        assert!(Key::from_hex(&"0".repeat(65)).is_err());
        assert!(Key::from_hex(&format!("{}:", "0".repeat(63))).is_err());
        assert!(Key::from_hex(&format!("{}@", "0".repeat(63))).is_err());
        assert!(Key::from_hex(&format!("{}G", "0".repeat(63))).is_err());
        assert!(Key::from_hex(&"0".repeat(64)).unwrap().is_zero());
        assert_eq!(Key::from_hex(&"aB".repeat(32)).unwrap().as_bytes(), &[0xab; 32]);
    }

    #[test]
    fn generated_private_keys_are_clamped() {
        for _ in 0..100 {
            let k = Key::generate_private();
            assert_eq!(k.as_bytes()[0] & 7, 0);
            assert_eq!(k.as_bytes()[31] & 0xc0, 0x40);
        }
    }

    #[test]
    fn zero_and_equality() {
        assert!(Key::zero().is_zero());
        assert!(!Key::from_base64(PRIV).unwrap().is_zero());
        assert_eq!(Key::from_base64(PRIV).unwrap(), Key::from_base64(PRIV).unwrap());
        assert_ne!(Key::from_base64(PRIV).unwrap(), Key::from_base64(PUB).unwrap());
    }

    #[test]
    fn key_files() {
        assert!(Key::from_key_file(b"").unwrap().is_zero());
        assert_eq!(
            Key::from_key_file(format!("{PRIV}\n").as_bytes()).unwrap().to_base64(),
            PRIV
        );
        assert_eq!(
            Key::from_key_file(format!("{PRIV} \t\r\n\n").as_bytes())
                .unwrap()
                .to_base64(),
            PRIV
        );
        let e = Key::from_key_file(b"short\n").unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::InvalidKeyFile, "Invalid length key in key file")
        );
        let e = Key::from_key_file(format!("{PRIV}\nx").as_bytes()).unwrap_err();
        assert_eq!(e.message, "Found trailing character in key file: `x'");
        let e = Key::from_key_file(format!("{}==", &PRIV[..42]).as_bytes()).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ErrorCode::InvalidKey, KEY_FORMAT_MESSAGE)
        );
    }

    #[test]
    fn pubkey_input() {
        assert_eq!(
            Key::from_pubkey_input(format!("{PRIV}\n").as_bytes())
                .unwrap()
                .to_base64(),
            PRIV
        );
        assert_eq!(
            Key::from_pubkey_input(format!("{PRIV}\0\0 \n").as_bytes())
                .unwrap()
                .to_base64(),
            PRIV
        );
        assert_eq!(Key::from_pubkey_input(b"abc").unwrap_err().message, KEY_FORMAT_MESSAGE);
        assert_eq!(
            Key::from_pubkey_input(format!("{PRIV}\nextra").as_bytes())
                .unwrap_err()
                .message,
            "Trailing characters found after key"
        );
    }

    #[test]
    fn debug_never_shows_material() {
        assert_eq!(format!("{:?}", Key::from_base64(PRIV).unwrap()), "Key(..)");
    }
}
