#!/bin/busybox sh
# kvmnet lab: /init of the initramfs. Loads the candidate kernel's modules, builds a root of
# the host's files (shared read-only over 9p) with a tmpfs overlay to write on, runs the job
# the host left in the results share inside it, records its status and powers off.
# Nothing here can write to the host but the results share.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "kvmnet-lab: $*" >/dev/ttyS0; }
fail() { say "$*"; poweroff -f; }

while read -r module; do
  insmod "/modules/$module" 2>/dev/null || say "insmod $module failed"
done </modules/order

mkdir -p /results /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=262144 results /results ||
  fail "cannot mount the results share"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 host /lower ||
  fail "cannot mount the host's files"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay root"

cd /newroot
mount -t proc proc proc
mount -t sysfs sysfs sys
mount -t devtmpfs devtmpfs dev
mkdir -p dev/pts dev/shm
mount -t devpts devpts dev/pts
mount -t tmpfs tmpfs dev/shm
# A fresh /run: the host's (its /run/netns above all) is not the lab's. /tmp stays the
# overlay's, so files a caller left there (a preloaded fault library) are seen.
mount -t tmpfs -o mode=0755 tmpfs run
# The candidate's own configuration where the suite looks for a kernel's (kvmnet.kconfig).
mount -t tmpfs -o mode=0755 tmpfs boot
[ -f /config ] && cp /config "boot/config-$(uname -r)"
mkdir -p run/kvmnet-lab
mount --bind /results run/kvmnet-lab

echo started >/results/started
chroot /newroot /bin/sh /run/kvmnet-lab/job.sh
echo "$?" >/results/status
sync
umount run/kvmnet-lab
poweroff -f
