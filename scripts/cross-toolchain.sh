# Sourced by scripts/cross.sh and scripts/platform-tests.sh: installs (once, cached under
# ~/.cache/wgkit-cross) what building for another target needs, and puts it on PATH.
#   cross_toolchain TRIPLE   the Rust target, zig and cargo-zigbuild
#   cross_apt PACKAGE...     Debian packages not yet installed

WGKIT_CROSS_HOME="${WGKIT_CROSS_HOME:-$HOME/.cache/wgkit-cross}"
# Versions seen to work; pinned so CI builds what was tested.
WGKIT_ZIGLANG_VERSION=0.17.1
WGKIT_CARGO_ZIGBUILD_VERSION=0.24.1

cross_apt() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "cross: installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cross_toolchain() {
  local triple="$1"
  mkdir -p "$WGKIT_CROSS_HOME"
  if ! rustup target list --installed | grep -qx "$triple"; then
    rustup target add "$triple"
  fi
  local venv="$WGKIT_CROSS_HOME/venv"
  if [ ! -x "$venv/bin/cargo-zigbuild" ] || ! "$venv/bin/pip" show ziglang 2>/dev/null | grep -qx "Version: $WGKIT_ZIGLANG_VERSION"; then
    command -v python3 >/dev/null || cross_apt python3 python3-venv
    python3 -m venv "$venv" 2>/dev/null || { cross_apt python3-venv; python3 -m venv "$venv"; }
    "$venv/bin/pip" install -q "ziglang==$WGKIT_ZIGLANG_VERSION" "cargo-zigbuild==$WGKIT_CARGO_ZIGBUILD_VERSION"
  fi
  export PATH="$venv/bin:$PATH"
  # An empty archive standing in for a MinGW Node's import library (see cross.sh).
  local none="$WGKIT_CROSS_HOME/libnode-none"
  if [ ! -f "$none/libnode.a" ]; then
    mkdir -p "$none"
    printf '!<arch>\n' >"$none/libnode.a"
    : >"$none/libnode.dll"
  fi
}
