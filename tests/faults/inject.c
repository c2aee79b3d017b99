/*
 * Fault injection at the system-call boundary, for showing that conformance checks fail
 * when the host is wrong. Preloaded (LD_PRELOAD) into a pytest run of conformance/; the
 * checks and the kvmnet library run unchanged and see a kernel that answers wrongly.
 *
 * KVMNET_FAULTS holds comma-separated rules:
 *   api_version=N        KVM_GET_API_VERSION returns N
 *   cap.C=N              KVM_CHECK_EXTENSION(C) returns N (C is the capability number)
 *   tun_clear=MASK       TUNGETFEATURES reports its flags without MASK
 *   vnet_hdr_ignored=1   TUNSETVNETHDRSZ is swallowed: succeeds, changes nothing
 *   newlink_kind=KIND    an RTM_NEWLINK asking for KIND asks for an unknown kind instead,
 *                        so the kernel itself refuses it
 *   slow_tap_write=NS/LEN  a write() of LEN bytes or more to a tun/tap fd spins NS
 *                        nanoseconds first: a host whose tap path got slower for large frames
 *   slow_kvm_run=NS      every KVM_RUN spins NS nanoseconds first: a host whose exits to
 *                        userspace got slower
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* The value of rule `key` in KVMNET_FAULTS (it runs up to the next comma), or NULL. */
static const char *rule(const char *key)
{
	const char *faults = getenv("KVMNET_FAULTS");
	size_t len = strlen(key);

	for (const char *p = faults; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, len) == 0 && p[len] == '=')
			return p + len + 1;
	}
	return NULL;
}

static void spin(long ns)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do
		clock_gettime(CLOCK_MONOTONIC, &now);
	while ((now.tv_sec - start.tv_sec) * 1000000000L + now.tv_nsec - start.tv_nsec < ns);
}

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real_ioctl)(int, unsigned long, void *);
	const char *value;
	char key[32];
	va_list ap;
	void *arg;
	int ret;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");

	if (request == KVM_GET_API_VERSION && (value = rule("api_version")))
		return atoi(value);
	if (request == KVM_CHECK_EXTENSION) {
		snprintf(key, sizeof(key), "cap.%lu", (unsigned long)arg);
		if ((value = rule(key)))
			return atoi(value);
	}
	if (request == TUNSETVNETHDRSZ && rule("vnet_hdr_ignored"))
		return 0;
	if (request == KVM_RUN && (value = rule("slow_kvm_run")))
		spin(strtol(value, NULL, 0));
	ret = real_ioctl(fd, request, arg);
	if (request == TUNGETFEATURES && ret == 0 && (value = rule("tun_clear")))
		*(unsigned int *)arg &= ~(unsigned int)strtoul(value, NULL, 0);
	return ret;
}

/* In an RTM_NEWLINK message, overwrite the link kind string `kind` with an unknown one. */
static void spoil_newlink(void *buf, size_t len)
{
	const char *value = rule("newlink_kind");
	struct nlmsghdr *nlh = buf;
	char kind[32] = "";
	char *p;

	if (!value || len < sizeof(*nlh) || nlh->nlmsg_type != RTM_NEWLINK)
		return;
	/* The attribute holds the kind NUL-terminated: match that, not a prefix of a name. */
	snprintf(kind, sizeof(kind), "%.*s", (int)strcspn(value, ","), value);
	p = memmem(buf, len, kind, strlen(kind) + 1);
	if (p)
		p[0] = 'X';
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
	       const struct sockaddr *addr, socklen_t addrlen)
{
	static ssize_t (*real_sendto)(int, const void *, size_t, int,
				      const struct sockaddr *, socklen_t);
	char copy[len ? len : 1];

	if (!real_sendto)
		real_sendto = dlsym(RTLD_NEXT, "sendto");
	memcpy(copy, buf, len);
	spoil_newlink(copy, len);
	return real_sendto(fd, copy, len, flags, addr, addrlen);
}

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	return sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);

	if (!real_sendmsg)
		real_sendmsg = dlsym(RTLD_NEXT, "sendmsg");
	if (msg->msg_iovlen == 1)
		spoil_newlink(msg->msg_iov[0].iov_base, msg->msg_iov[0].iov_len);
	return real_sendmsg(fd, msg, flags);
}

/* /dev/net/tun is the misc device 10:200; every tap fd is an open of it. */
static int is_tun(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
	       minor(st.st_rdev) == 200;
}


ssize_t write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real_write)(int, const void *, size_t);
	const char *value = rule("slow_tap_write");

	if (!real_write)
		real_write = dlsym(RTLD_NEXT, "write");
	if (value && strchr(value, '/') && len >= strtoul(strchr(value, '/') + 1, NULL, 0) &&
	    is_tun(fd))
		spin(strtol(value, NULL, 0));
	return real_write(fd, buf, len);
}
