/*
 * Mount namespaces for one thread: how a thread that has entered a scratch network namespace
 * sees that namespace's sysfs (/sys/class/net is the view of the netns that mounted /sys)
 * and makes a device node no other thread or process can see.
 *
 * Both act on the calling thread alone and end with it: nothing is mounted or created where
 * the rest of the host could see it, so a crash leaves nothing behind.
 */
#ifndef KVMNET_MOUNTS_H
#define KVMNET_MOUNTS_H

/* cffi: begin */
/*
 * Give the calling thread a private mount namespace (unshare CLONE_FS|CLONE_NEWNS, every
 * mount made a slave so nothing propagates back) with a fresh sysfs on /sys, showing the
 * thread's current network namespace, and an empty tmpfs on /tmp.
 */
int kvmnet_private_mounts(void);
/* cffi: end */

#endif
