//! utun interface names. The kernel names a utun interface `utun<unit - 1>` after the unit the
//! control socket connects to, so a name is a request for a unit: `utunN` asks for unit N + 1,
//! and an empty name (or plain `utun`, as wireguard-go takes it) for unit 0, the kernel's
//! choice of the first free one. Anything else is refused before any socket is opened.

use crate::error::{Error, Result};

/// `IFNAMSIZ` on macOS: a name and its NUL.
pub(crate) const IFNAMSIZ: usize = 16;

/// The `sc_unit` to connect the control socket with for `name`: N + 1 for `utunN`, 0 (the
/// kernel's choice) for an empty name or `utun`.
pub(crate) fn control_unit(name: &str) -> Result<u32> {
    if name.is_empty() || name == "utun" {
        return Ok(0);
    }
    let invalid = || Error::invalid_argument(format!("Interface name must be utun[0-9]*, not `{name}'"));
    let digits = name.strip_prefix("utun").ok_or_else(invalid)?;
    // The kernel prints the unit with %d: `utun05` would become `utun5`, so only the
    // canonical spelling of a number is taken.
    if name.len() >= IFNAMSIZ
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return Err(invalid());
    }
    let n: u32 = digits.parse().map_err(|_| invalid())?;
    n.checked_add(1).ok_or_else(invalid)
}

/// The name as error messages show it: the requested one, or `utun` for the kernel's choice.
pub(crate) fn display(name: &str) -> &str {
    if name.is_empty() {
        "utun"
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn kernel_choice() {
        assert_eq!(control_unit("").unwrap(), 0);
        assert_eq!(control_unit("utun").unwrap(), 0);
        assert_eq!(display(""), "utun");
        assert_eq!(display("utun7"), "utun7");
    }

    #[test]
    fn numbered_units() {
        assert_eq!(control_unit("utun0").unwrap(), 1);
        assert_eq!(control_unit("utun9").unwrap(), 10);
        assert_eq!(control_unit("utun123").unwrap(), 124);
        assert_eq!(control_unit("utun4294967294").unwrap(), u32::MAX);
    }

    #[test]
    fn refuses_other_names() {
        for name in [
            "wg0",
            "tun0",
            "utun-1",
            "utun+1",
            "utun 1",
            "utun1a",
            "utun01",
            "utun00",
            "Utun1",
            "utun١",
            "utun4294967295",
            "utun99999999999",
            "xutun1",
        ] {
            let e = control_unit(name).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{name}");
            assert_eq!(
                e.message,
                format!("Interface name must be utun[0-9]*, not `{name}'"),
                "{name}"
            );
        }
    }
}
