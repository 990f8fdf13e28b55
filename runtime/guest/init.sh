#!/bin/busybox sh
# kit guest init, stage 1: PID 1 inside the initramfs.
# Loads the kernel modules, finds the virtio-serial ports, mounts the root filesystem (a read-only
# lower layer with a tmpfs upper), the kit layers and the workspace, then switches root and runs
# stage 2 (/.kit/stage2.sh) with the same busybox. Settings come from the kernel command line
# (kit.root=, kit.layers=, kit.workdir=); the per-run plan is in /kit (a second cpio archive).
/bin/busybox mkdir -p /proc /sys /dev /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null

STATUS=/dev/null
mark() { echo "kit-init: $*" > /dev/kmsg 2>/dev/null; }
mark stage1
fail() {
  echo "kit-init: FAIL stage1: $*" > /dev/console
  echo "fail stage1 $*" > "$STATUS" 2>/dev/null
  sync
  reboot -f
  sleep 5
}

ROOT=blk
LAYERS=0
WORKDIR=/workspace
WSOPTS=version=9p2000.L,msize=524288,access=any,cache=none
NET=1
MMIO=1
EXEC=0
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    kit.root=*) ROOT=${arg#kit.root=} ;;
    kit.layers=*) LAYERS=${arg#kit.layers=} ;;
    kit.workdir=*) WORKDIR=${arg#kit.workdir=} ;;
    kit.wsopts=*) WSOPTS=${arg#kit.wsopts=} ;;
    kit.net=*) NET=${arg#kit.net=} ;;
    kit.mmio=*) MMIO=${arg#kit.mmio=} ;;
    kit.exec=*) EXEC=${arg#kit.exec=} ;;
  esac
done

while read -r mod; do
  [ -n "$mod" ] || continue
  # Each insmod costs tens of milliseconds under TCG: skip what this VM has no device for.
  case "$NET$MMIO:$mod" in
    0?:failover.ko|0?:net_failover.ko|0?:virtio_net.ko|?0:virtio_mmio.ko) continue ;;
  esac
  insmod "/lib/modules/$mod" 2>/dev/console || fail "insmod $mod"
done < /lib/kit/modules.list
mark modules loaded

# virtio-serial ports: name them /dev/kit-<name without "kit."> (no udev here).
i=0
while [ $i -lt 100 ]; do
  found=0
  for p in /sys/class/virtio-ports/vport*; do
    [ -e "$p/name" ] || continue
    n=$(cat "$p/name")
    [ -n "$n" ] || continue
    found=$((found + 1))
    case "$n" in kit.*) [ -e "/dev/${p##*/}" ] && ln -sf "${p##*/}" "/dev/kit-${n#kit.}" ;; esac
  done
  [ -e /dev/kit-status ] && [ -e /dev/kit-stdout ] && [ -e /dev/kit-stderr ] && [ -e /dev/kit-log ] && break
  i=$((i + 1))
  usleep 20000
done
[ -e /dev/kit-status ] || fail "virtio-serial port kit.status not found"
mark ports found
STATUS=/dev/kit-status

mkdir -p /lower /rw /newroot
case "$ROOT" in
  blk)
    i=0
    while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do i=$((i + 1)); usleep 20000; done
    mount -t ext4 -o ro,noload /dev/vda /lower || fail "mount root image /dev/vda" ;;
  9p)
    mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288,cache=loose rootfs /lower || fail "mount 9p rootfs" ;;
  *) fail "unknown kit.root=$ROOT" ;;
esac
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || fail "mount overlay root"
mark root mounted

# Private area of the init, root only (busybox itself is world-executable for the agent's setpriv).
mkdir -p /newroot/.kit/bin /newroot/.kit/layers
chmod 0711 /newroot/.kit
cp /bin/busybox /newroot/.kit/bin/busybox || fail "copy busybox"
chmod 0755 /newroot/.kit/bin/busybox
cp /lib/kit/stage2.sh /newroot/.kit/stage2.sh
mkdir -p /newroot/.kit/plan
cp -a /kit/. /newroot/.kit/plan/ || fail "copy plan"
chmod -R go-rwx /newroot/.kit/plan

i=0
while [ $i -lt "$LAYERS" ]; do
  mkdir -p "/newroot/.kit/layers/$i"
  mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=524288 "kit$i" "/newroot/.kit/layers/$i" || fail "mount kit layer $i"
  i=$((i + 1))
done
# The exec share (`kit exec` requests and their output): under /.kit/x, which only root can enter.
if [ "$EXEC" = 1 ]; then
  mkdir -p /newroot/.kit/x/exec
  chmod 0700 /newroot/.kit/x
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none,access=any kitexec /newroot/.kit/x/exec || fail "mount exec share"
fi
mkdir -p "/newroot$WORKDIR"
mount -t 9p -o "trans=virtio,$WSOPTS" workspace "/newroot$WORKDIR" || fail "mount workspace"

mark shares mounted
mkdir -p /newroot/proc /newroot/sys /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /.kit/bin/busybox sh /.kit/stage2.sh
