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
	unsigned int served;     /* already answered by a fast range's handler (see below) */
	unsigned int coalesced;  /* KVMNET_COALESCED_* bits: what draining the ring found */
};

struct kvm_run;

/* KVM_RUN once and decode the exit. -EINTR when kicked by kvmnet_kick_signal(). */
long kvmnet_vcpu_run(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit);

/*
 * Port accesses the run loop answers without returning to Python: the exits that come by
 * the thousand and need no decision (POST-code writes).
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
 * Address ranges (a device's BAR, port I/O or MMIO) whose accesses the device's C handler
 * may answer in the run loop, on the vCPU thread:
 *
 *   handler(opaque, offset into the range, data, size, is_write)
 *
 * reads or fills data (size bytes: 1, 2, 4 or 8) and returns KVMNET_FAST_DONE; or, when the
 * access needs Python (a register kept there, an odd width), returns KVMNET_FAST_PYTHON
 * having changed nothing, and the exit goes to Python as any other; or returns
 * KVMNET_FAST_ATTEND: done, and the device wants Python now (its interrupt level changed):
 * the loop returns that exit with exit->served set, for Python to call the device's
 * fast_attend() without dispatching the access again. The handler takes whatever lock its
 * device's state needs (the NIC models: the core's mutex, as their Python side does).
 *
 * Python (kvmnet/vmm/bus.py) fills a slot when the device's range goes on the bus and moves
 * or clears it when the guest moves the BAR; that happens on a vCPU thread, between exits.
 * Another vCPU may be in the loop meanwhile: a slot is turned off (enabled = 0) before its
 * base changes and on again after, stores x86 keeps in order, so a reader sees the old or
 * the new range, never half of each -- an access racing with a BAR move is undefined on
 * real PCI too. handler and opaque are set before the slot is first enabled and stay.
 */
enum { KVMNET_FAST_PYTHON = 0, KVMNET_FAST_DONE = 1, KVMNET_FAST_ATTEND = 2 };

typedef int kvmnet_fast_handler(void *opaque, unsigned long long offset, unsigned char *data,
				unsigned int size, int is_write);

struct kvmnet_fast_range {
	volatile unsigned long long base;
	volatile unsigned long long length;
	kvmnet_fast_handler *handler;
	void *opaque;
	volatile unsigned char enabled;
};

/*
 * Accesses answered in C, counted per address as Python counts the others: key is the
 * address with KVMNET_HIT_USED set, and KVMNET_HIT_MMIO for MMIO (0: a free slot). An
 * address that finds the table full goes to Python, which counts it there.
 */
#define KVMNET_HIT_USED (1ULL << 62)
#define KVMNET_HIT_MMIO (1ULL << 63)

struct kvmnet_fast_hit {
	unsigned long long key;
	unsigned long long hits;
};

struct kvmnet_coalesced;

/*
 * What one vCPU's loop may answer: its fast ports, the buses' ranges, its hit table; and
 * the VM's coalesced ring (native/coalesced.h), drained at every KVM_RUN return.
 */
struct kvmnet_fast {
	struct kvmnet_fast_port *ports;
	int nports;
	struct kvmnet_fast_range *pio;
	int npio;
	struct kvmnet_fast_range *mmio;
	int nmmio;
	struct kvmnet_fast_hit *hits;
	int nhits;                        /* a power of two */
	struct kvmnet_coalesced *coalesced; /* NULL: no coalesced zones */
	int resume;                       /* the next loop handles the last exit, not a new one */
};

/* What kvmnet_vcpu_loop returned with, when it is not -errno. */
#define KVMNET_LOOP_EXIT 0	/* an exit for Python to dispatch (or attend: exit->served) */
#define KVMNET_LOOP_STOPPED 1	/* *stop found set after an absorbed exit: nothing to dispatch */
#define KVMNET_LOOP_ABSORBED 2	/* an absorbed exit's drain of the coalesced ring wants
				   Python (exit->coalesced says what); nothing to dispatch */

/*
 * KVM_RUN until an exit neither the fast ports nor the fast ranges absorb, and decode that
 * exit as kvmnet_vcpu_run() does (KVMNET_LOOP_EXIT; exit->served set if a range's handler
 * did it and asked for Python); KVMNET_LOOP_STOPPED, KVMNET_LOOP_ABSORBED as above;
 * -EINTR when kicked.
 *
 * Each KVM_RUN return first drains the coalesced ring (fast->coalesced), and exit->coalesced
 * holds what that found. With KVMNET_COALESCED_DECLINED the loop returns 0 at once, the exit
 * not yet handled: Python applies the declined entries, sets fast->resume and calls again,
 * and the loop handles that exit before the next KVM_RUN.
 */
long kvmnet_vcpu_loop(int vcpu_fd, struct kvm_run *run, struct kvmnet_exit *exit,
		      struct kvmnet_fast *fast, volatile int *stop);

/*
 * One access through ranges, as the loop makes it (for tests and for Python callers that
 * want the C path): KVMNET_FAST_* as the handler returned, PYTHON where no range has addr.
 */
int kvmnet_fast_access(struct kvmnet_fast_range *ranges, int nranges, unsigned long long addr,
		       unsigned char *data, unsigned int size, int is_write);

/* KVM_GET_SUPPORTED_CPUID on kvm_fd, then KVM_SET_CPUID2 of all of it on vcpu_fd. */
long kvmnet_set_supported_cpuid(int kvm_fd, int vcpu_fd);

/*
 * The signal that kicks a vCPU thread out of KVM_RUN: a handler that does nothing is
 * installed (once, without SA_RESTART), so the signal interrupts the ioctl and nothing else.
 */
int kvmnet_kick_signal(void);

#endif
