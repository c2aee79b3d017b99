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

/*
 * One vCPU exit, decoded from kvm_run so that Python reads plain fields.
 * For I/O and MMIO, data points into the vCPU's kvm_run mapping: read it for an OUT or a
 * write, fill it for an IN or a read, before the next KVM_RUN.
 */
struct kvmnet_exit {
	unsigned int reason;     /* KVM_EXIT_* */
	unsigned int is_write;   /* I/O: OUT; MMIO: write */
	unsigned int size;       /* I/O: access width; MMIO: length */
	unsigned int count;      /* I/O: repetitions (rep ins/outs) */
	unsigned long long addr; /* I/O: port; MMIO: guest-physical address */
	unsigned char *data;
	unsigned long long detail[2]; /* FAIL_ENTRY: hardware reason, cpu; INTERNAL_ERROR: suberror, ndata */
};

struct kvm_run;

/* KVM_RUN once and decode the exit. -EINTR when kicked by kvmnet_kick_signal(). */
long kvmnet_vcpu_run(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit);

/*
 * Port accesses the run loop answers without returning to Python: the exits that come by
 * the thousand and need no decision (a guest polling its idle UART's LSR, POST-code writes).
 * Python flips `enabled` (and `value`) as device state changes; `hits` counts them.
 */
enum { KVMNET_FAST_READ = 1, KVMNET_FAST_WRITE = 2 };

struct kvmnet_fast_port {
	unsigned short port;
	unsigned char direction;          /* KVMNET_FAST_READ: answer `value` to a 1-byte IN;
					     KVMNET_FAST_WRITE: swallow OUTs of any size */
	volatile unsigned char value;
	volatile unsigned char enabled;   /* 0: exit to Python like any other port */
	unsigned long long hits;
};

/*
 * KVM_RUN until an exit the fast-port table does not absorb, and decode that exit as
 * kvmnet_vcpu_run() does (returns 0); 1 when *stop was found set after an absorbed exit
 * (nothing to dispatch); -EINTR when kicked.
 */
long kvmnet_vcpu_loop(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit,
		      struct kvmnet_fast_port *fast, int nfast, volatile int *stop);

/* KVM_GET_SUPPORTED_CPUID on kvm_fd, then KVM_SET_CPUID2 of all of it on vcpu_fd. */
long kvmnet_set_supported_cpuid(int kvm_fd, int vcpu_fd);

/*
 * The signal that kicks a vCPU thread out of KVM_RUN: a handler that does nothing is
 * installed (once, without SA_RESTART), so the signal interrupts the ioctl and nothing else.
 */
int kvmnet_kick_signal(void);

#endif
