/*
 * kvmnet's native layer: the system calls Python cannot make, or cannot make fast enough.
 *
 * Every function returns the call's non-negative result or -errno; the Python wrapper
 * (kvmnet/syscall.py) turns a negative value into an OSError naming the call. Nothing here
 * keeps state or allocates: callers own every fd and buffer.
 */
#ifndef KVMNET_NATIVE_H
#define KVMNET_NATIVE_H

/* ioctl(2) with an integer or pointer argument. */
long kvmnet_ioctl(int fd, unsigned long request, unsigned long arg);
long kvmnet_ioctl_ptr(int fd, unsigned long request, void *arg);

/*
 * TUNSETIFF: attach fd to the tap called name (created if absent) with flags (IFF_*).
 * The kernel's chosen name is copied to name_out (IFNAMSIZ bytes).
 */
long kvmnet_tun_set_iff(int fd, const char *name, int flags, char *name_out);

/* setns(2): moves only the calling thread, which is how a tap is made inside a netns. */
int kvmnet_setns(int fd, int nstype);

#endif
