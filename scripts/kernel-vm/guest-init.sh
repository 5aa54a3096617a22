#!/bin/busybox sh
# /init of the kernel guest (packed into the initramfs by prepare.sh; runs as PID 1 in the guest).
#
# Mounts the host's root file system (9p, read-only) under a tmpfs overlay so host binaries run
# unchanged, the guest's module tree, the run's transfer directory (run.sh's temp dir) at
# /run/kernel-vm and the host's working directory read-write at the same path, then runs
# /run/kernel-vm/cmd.sh with bash with stdout/stderr going to files in the transfer directory
# (run.sh streams them to the host). Its exit code goes to /run/kernel-vm/rc, then the guest
# powers off. Kernel messages stay on the serial console (a log file on the host).
export PATH=/bin:/sbin
/bin/busybox mkdir -p /proc /sys /dev /sbin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

fail() {
  echo "kernel-vm init: $*" >/dev/console
  sync
  poweroff -f
}

for m in $(cat /mods/order); do
  insmod "/mods/$m" || fail "insmod $m failed"
done

O=trans=virtio,version=9p2000.L,msize=512000
R=/newroot
mkdir -p /lower /rw $R
mount -t 9p -o $O,ro,cache=loose hostroot /lower || fail "mounting the host root failed"
mount -t tmpfs -o size=4g,mode=755 tmpfs /rw
mkdir -p /rw/u /rw/w
mount -t overlay -o lowerdir=/lower,upperdir=/rw/u,workdir=/rw/w overlay $R ||
  fail "mounting the overlay failed"

# The kernel runs request_module()'s /sbin/modprobe in PID 1's root (this initramfs): forward it
# to the host's modprobe inside the new root, which sees the guest's module tree.
printf '#!/bin/sh\nexec chroot /newroot /sbin/modprobe "$@"\n' >/sbin/modprobe
chmod 755 /sbin/modprobe

for d in proc sys dev; do
  mkdir -p $R/$d
  mount --move /$d $R/$d
done
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mkdir -p $R/dev/pts $R/dev/shm $R/dev/net
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
ln -sf pts/ptmx $R/dev/ptmx
mount -t tmpfs tmpfs $R/dev/shm
[ -e $R/dev/net/tun ] || mknod $R/dev/net/tun c 10 200
mount -t tmpfs -o mode=755 tmpfs $R/run
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp

mkdir -p $R/usr/lib/modules $R/run/kernel-vm
mount -t 9p -o $O,ro modules $R/usr/lib/modules || fail "mounting the module tree failed"
X=$R/run/kernel-vm
mount -t 9p -o $O xfer $X || fail "mounting the transfer directory failed"

wd=""
[ -s $X/workdir ] && wd="$(cat $X/workdir)"
if [ -n "$wd" ]; then
  mkdir -p "$R$wd"
  # A real node_modules directory stays the overlay's view (cached host root + tmpfs): node
  # starts ~30% faster than through the uncached share, and the guest's writes there (tool
  # caches) stay in the guest.
  nm=""
  if [ -d "$R$wd/node_modules" ] && [ ! -L "$R$wd/node_modules" ]; then
    nm=/nm
    mkdir -p $nm
    mount --bind "$R$wd/node_modules" $nm || fail "binding node_modules failed"
  fi
  mount -t 9p -o $O,cache=mmap work "$R$wd" || fail "mounting the working directory $wd failed"
  [ -n "$nm" ] && { mount --move $nm "$R$wd/node_modules" || fail "moving node_modules failed"; }
fi

hostname kernel-vm
ip link set lo up

chroot $R /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/root/.cargo/bin \
  HOME=/root USER=root LOGNAME=root SHELL=/bin/bash TERM=dumb LANG=C.UTF-8 WG_COLOR_MODE=never \
  KERNEL_VM_GUEST=1 \
  /bin/bash /run/kernel-vm/cmd.sh <$R/dev/null >$X/stdout 2>$X/stderr
echo $? >$X/rc.tmp
mv $X/rc.tmp $X/rc
sync
poweroff -f
