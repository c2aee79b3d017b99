/* See kvmnet_native.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <linux/if_tun.h>

#include "kvmnet_native.h"

long kvmnet_ioctl(int fd, unsigned long request, unsigned long arg)
{
	long ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

long kvmnet_ioctl_ptr(int fd, unsigned long request, void *arg)
{
	long ret = ioctl(fd, request, arg);

	return ret < 0 ? -errno : ret;
}

int kvmnet_setns(int fd, int nstype)
{
	return setns(fd, nstype) < 0 ? -errno : 0;
}

long kvmnet_tun_set_iff(int fd, const char *name, int flags, char *name_out)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	return 0;
}
