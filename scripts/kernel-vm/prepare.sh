#!/usr/bin/env bash
# Prepares the kernel guest: Debian's current kernel (which ships wireguard.ko), a module tree for
# it, an uncompressed vmlinux (PVH boot, much faster under TCG than the bzImage) and an initramfs
# with busybox and scripts/kernel-vm/guest-init.sh as /init.
#
# Usage: bash scripts/kernel-vm/prepare.sh
# Prints exactly one line on stdout, the ready directory (vmlinux, initrd.gz, modules/); progress
# goes to stderr and only when something has to be (re)built. Idempotent, safe to run concurrently
# (a lock serialises builders), needs apt-get download plus kmod, cpio, xz-utils
# (installed by scripts/setup.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${WGKIT_KERNEL_VM_CACHE:-$root/.cache/kernel-vm}"

die() { echo "kernel-vm prepare: $*" >&2; exit 1; }
say() { echo "kernel-vm prepare: $*" >&2; }

for tool in apt-get apt-cache dpkg-deb depmod modprobe cpio gzip xz grep flock; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run scripts/setup.sh first"
done
mkdir -p "$cache"

# The modules the guest can load (wireguard and its crypto, 9p/overlay/virtio for the guest
# itself, and the usual networking modules a test may want: veth, tun, dummy, netfilter, ...).
MODULE_PATTERNS=(
  'kernel/drivers/net/*.ko' 'kernel/drivers/net/wireguard/*' 'kernel/drivers/net/ipvlan/*'
  'kernel/drivers/net/vxlan/*' 'kernel/drivers/virtio/*' 'kernel/drivers/char/virtio_console.ko'
  'kernel/lib/*' 'kernel/crypto/*' 'kernel/arch/x86/crypto/*'
  'kernel/net/core/*' 'kernel/net/ipv4/*' 'kernel/net/ipv6/*' 'kernel/net/netfilter/*'
  'kernel/net/sched/*' 'kernel/net/bridge/*' 'kernel/net/802/*' 'kernel/net/llc/*'
  'kernel/net/9p/*' 'kernel/net/xfrm/*' 'kernel/net/packet/*' 'kernel/net/key/*'
  'kernel/fs/9p/*' 'kernel/fs/netfs/*' 'kernel/fs/fscache/*' 'kernel/fs/overlayfs/*'
)
# Loaded by /init in this order's dependency closure before the root file system is mounted.
INITRAMFS_MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_net)

# A stamp of everything the build depends on besides the kernel package itself.
recipe_hash="$(cat "$here/prepare.sh" "$here/guest-init.sh" | sha256sum | cut -c1-16)"

# --- Resolve the kernel package (cached against the apt lists' modification time). ---
lists_mtime="$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)"
resolved_file="$cache/resolved"
pkg=""
if [ -f "$resolved_file" ]; then
  read -r cached_mtime cached_pkg <"$resolved_file" || true
  [ "${cached_mtime:-}" = "$lists_mtime" ] && pkg="${cached_pkg:-}"
fi
resolve() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1
}
if [ -z "$pkg" ]; then
  pkg="$(resolve || true)"
  if [ -z "$pkg" ]; then
    say "apt-cache does not know linux-image-amd64; running apt-get update"
    apt-get update -qq >&2 || die "apt-get update failed"
    lists_mtime="$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)"
    pkg="$(resolve || true)"
    [ -n "$pkg" ] || die "cannot resolve the kernel package behind linux-image-amd64"
  fi
  echo "$lists_mtime $pkg" >"$resolved_file.$$" && mv -f "$resolved_file.$$" "$resolved_file"
fi
kver="${pkg#linux-image-}"
out="$cache/$kver"

ready() { [ -f "$out/ready" ] && [ "$(cat "$out/ready")" = "$recipe_hash" ]; }
if ready; then echo "$out"; exit 0; fi

exec 9>"$cache/lock"
flock 9
if ready; then echo "$out"; exit 0; fi

start=$(date +%s.%N)
# Under the lock, leftovers of killed builds and trees of superseded kernels can go.
for d in "$cache"/build.* "$cache"/*-amd64; do
  [ -e "$d" ] && [ "$d" != "$out" ] && rm -rf "$d"
done
work="$(mktemp -d "$cache/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# --- Kernel and modules (skipped when only the initramfs recipe changed). ---
if [ ! -f "$out/vmlinux" ] || [ ! -f "$out/modules/$kver/modules.dep" ]; then
  say "downloading $pkg and busybox-static"
  (cd "$work" && chmod 755 . && apt-get download -qq "$pkg" busybox-static 2>&1 |
    grep -v 'Download is performed unsandboxed' >&2 || true)
  deb="$(ls "$work"/linux-image-*.deb 2>/dev/null | head -n1)"
  [ -n "$deb" ] || die "apt-get download $pkg failed"
  say "unpacking the kernel and the modules the guest needs"
  patterns=("./boot/vmlinuz-$kver" "./lib/modules/$kver/modules.*")
  for p in "${MODULE_PATTERNS[@]}"; do patterns+=("./lib/modules/$kver/$p"); done
  mkdir -p "$work/k"
  dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$work/k" --wildcards --no-wildcards-match-slash "${patterns[@]}"
  [ -f "$work/k/lib/modules/$kver/kernel/drivers/net/wireguard/wireguard.ko" ] ||
    die "$pkg has no wireguard.ko"
  depmod -b "$work/k" "$kver"

  # The bzImage holds an xz stream; its payload is the ELF vmlinux with a PVH entry point.
  img="$work/k/boot/vmlinuz-$kver"
  off="$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | head -n1 | cut -d: -f1)"
  [ -n "$off" ] || die "no xz stream in $img"
  tail -c +$((off + 1)) "$img" | xz -dcq >"$work/vmlinux" 2>/dev/null || true
  [ "$(head -c4 "$work/vmlinux" | od -An -c | tr -d ' ')" = '177ELF' ] ||
    die "could not extract vmlinux from $img"

  rm -rf "$out"
  mkdir -p "$out"
  mv "$work/vmlinux" "$out/vmlinux"
  mv "$work/k/lib/modules" "$out/modules"
  busybox_deb="$(ls "$work"/busybox-static_*.deb 2>/dev/null | head -n1)"
  [ -n "$busybox_deb" ] || die "apt-get download busybox-static failed"
  dpkg-deb -x "$busybox_deb" "$work/bb"
  cp "$work/bb/bin/busybox" "$out/busybox"
fi

# --- initramfs: busybox, the early modules, /init. ---
say "building the initramfs"
ir="$work/initramfs"
mkdir -p "$ir/bin" "$ir/sbin" "$ir/mods"
cp "$out/busybox" "$ir/bin/busybox"
cp "$here/guest-init.sh" "$ir/init"
chmod 755 "$ir/init" "$ir/bin/busybox"
: >"$ir/mods/order"
# modprobe -d expects DIR/lib/modules/KVER: give it that layout through a symlink.
mkdir -p "$work/mp/lib"
ln -s "$out/modules" "$work/mp/lib/modules"
for m in "${INITRAMFS_MODULES[@]}"; do
  modprobe -d "$work/mp" -S "$kver" --show-depends "$m" ||
    die "modprobe --show-depends $m failed"
done | while read -r kind path _; do
  [ "$kind" = insmod ] || continue
  name="$(basename "$path")"
  grep -qxF "$name" "$ir/mods/order" && continue
  cp "$path" "$ir/mods/$name"
  echo "$name" >>"$ir/mods/order"
done
[ -s "$ir/mods/order" ] || die "no early modules found"
(cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.gz.tmp"
mv -f "$out/initrd.gz.tmp" "$out/initrd.gz"
echo "$recipe_hash" >"$out/ready"
say "ready in $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}') s: $out"
echo "$out"
