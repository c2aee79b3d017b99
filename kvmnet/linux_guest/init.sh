#!/bin/busybox sh
# kvmnet Linux guest: /init. Loads the kernel's NIC drivers (the order is depmod's, in
# /modules/order), says which came up on the console, then runs the agent if there is one.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# What init says goes through the kernel's log, written out by printk's polled console
# with the kernel's timestamps: the 8250 driver's tty would wait for a transmit interrupt
# the built-in VMM's UART does not raise, and the agent's close of the console would then
# hold it for the tty's closing_wait (30 s) and drop the rest.
exec >/dev/kmsg 2>&1
while read -r module; do
  insmod "/modules/$module" 2>/dev/null || echo "kvmnet-linux: insmod $module failed"
done </modules/order
for dev in /sys/class/net/*; do
  name=${dev##*/}
  [ "$name" = lo ] && continue
  driver=$(basename "$(readlink "$dev/device/driver")" 2>/dev/null)
  echo "kvmnet-linux: nic $name driver=$driver mac=$(cat "$dev/address")"
done
echo "kvmnet-linux: ready $(uname -r)"
# The agent takes COM1 over (it lets go of the console itself); without one, idle.
[ -x /bin/kvmnet-agent ] && exec /bin/kvmnet-agent
exec sh -c 'while :; do sleep 3600; done'
