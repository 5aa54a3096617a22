/**
 * wg's base64 key grammar, checked in JavaScript: 44 characters, the last `=`, and a canonical
 * encoding (the character before the `=` carries no padding bits). It accepts exactly what
 * `Key.fromBase64` accepts, without making a native key object, so validating thousands of
 * peers costs no addon calls and no garbage. Not constant-time: only for public keys; private
 * and preshared keys go through `Key.fromBase64`.
 */
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function isPublicKeyBase64(text: string): boolean {
  return KEY_BASE64.test(text);
}
