/* See mounts.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <sys/mount.h>

#include "mounts.h"

int kvmnet_private_mounts(void)
{
	/* CLONE_FS too: threads share cwd and root, and a mount namespace comes with them. */
	if (unshare(CLONE_FS | CLONE_NEWNS) < 0)
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		return -errno;
	if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return -errno;
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0700,size=64k") < 0)
		return -errno;
	return 0;
}
