/*
 * agent_irq.c - the "irq" command under Linux: the kernel's driver owns
 * the interrupts, so the agent counts the ones it took.  The function's
 * interrupt lines are in sysfs (irq: its INTx; msi_irqs/: its MSI or
 * MSI-X vectors, when the driver enabled them), their counts in
 * /proc/interrupts.  Frames count as the driver hands them up (NAPI runs
 * only after an interrupt), so `irqs >= frames` for frames sent one at a
 * time holds only if the device interrupted again after the driver
 * acknowledged the last.
 *
 * The path is the one Linux chose: asking for INTx on a function Linux
 * drives by MSI-X (virtio_pci) is ERR kernel, MSI-X on one without
 * vectors ERR unsupported.  All of the function's vectors are counted
 * (virtio's configuration and transmit queue too): with nothing sent,
 * they stay quiet.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "../net.h"
#include "../proto.h"

#define LINES_MAX	8	/* MSI-X vectors of one function we count */

struct irq_lines {
	unsigned count;
	unsigned irq[LINES_MAX];
};

static void function_dir(const struct nic *n, char *out, size_t size)
{
	unsigned bdf = n->pci->bdf;

	snprintf(out, size, "/sys/bus/pci/devices/0000:%02x:%02x.%x",
		 bdf >> 8, (bdf >> 3) & 0x1F, bdf & 7);
}

/* The function's MSI/MSI-X vectors, as the kernel lists them. */
static void msi_lines(const struct nic *n, struct irq_lines *l)
{
	char path[PATH_MAX];
	struct dirent *e;
	DIR *d;

	l->count = 0;
	function_dir(n, path, sizeof(path) - 16);
	strcat(path, "/msi_irqs");
	if (!(d = opendir(path)))
		return;
	while ((e = readdir(d)) && l->count < LINES_MAX)
		if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
			l->irq[l->count++] = (unsigned)strtoul(e->d_name, NULL, 10);
	closedir(d);
}

/* The function's INTx line (Linux's IRQ number for it). */
static bool intx_line(const struct nic *n, struct irq_lines *l)
{
	char path[PATH_MAX];
	unsigned long irq = 0;
	FILE *f;

	function_dir(n, path, sizeof(path) - 16);
	strcat(path, "/irq");
	if (!(f = fopen(path, "re")))
		return false;
	if (fscanf(f, "%lu", &irq) != 1)
		irq = 0;
	fclose(f);
	l->count = irq ? 1 : 0;
	l->irq[0] = (unsigned)irq;
	return irq != 0;
}

/* The interrupts taken on l's lines, summed over CPUs. */
static uint64_t taken(const struct irq_lines *l)
{
	char line[1024];
	uint64_t total = 0;
	FILE *f = fopen("/proc/interrupts", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		unsigned long irq = strtoul(p, &end, 10);

		if (end == p || *end != ':')
			continue;	/* the CPU header, NMI, LOC, ... */
		for (unsigned i = 0; i < l->count; i++) {
			if (l->irq[i] != irq)
				continue;
			for (p = end + 1;;) {
				unsigned long long c = strtoull(p, &end, 10);

				if (end == p)
					break;
				total += c;
				p = end;
			}
		}
	}
	fclose(f);
	return total;
}

void cmd_irq(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	struct irq_lines lines;
	struct host_watch w;
	uint32_t want, frames = 0;
	uint64_t before;
	struct fmt f;
	unsigned len;

	if (!n)
		return;
	if (!net_arg_u32(r, 3, &want) ||
	    (strcmp(r->argv[2], "intx") != 0 && strcmp(r->argv[2], "msix") != 0)) {
		net_reply_err(r, "badargs");
		return;
	}
	if (!n->pci) {		/* --stdio on a veth: no lines to count */
		net_reply_err(r, "unsupported");
		return;
	}
	msi_lines(n, &lines);
	if (strcmp(r->argv[2], "intx") == 0) {
		if (lines.count) {	/* Linux chose MSI(-X) for it */
			net_reply_err(r, "kernel");
			return;
		}
		if (!intx_line(n, &lines)) {
			net_reply_err(r, "unsupported");
			return;
		}
	} else if (!lines.count) {
		net_reply_err(r, "unsupported");
		return;
	}
	packet_flush(n);
	before = taken(&lines);
	proto_line(r->seq, "DATA", "armed");	/* the host sends frames after this */
	host_watch_start(&w);
	while (frames < want && !host_stopped(&w)) {
		uint32_t was = frames;

		while (frames < want && n->ops->rx(n, &len))
			frames++;
		if (frames == was)
			continue;
		proto_begin(&f, r->seq, "DATA took frames=");
		fmt_dec(&f, frames);
		fmt_str(&f, " irqs=");
		fmt_dec(&f, taken(&lines) - before);
		proto_send(&f);
	}
	proto_begin(&f, r->seq, "OK irqs=");
	fmt_dec(&f, taken(&lines) - before);
	fmt_str(&f, " frames=");
	fmt_dec(&f, frames);
	fmt_str(&f, " spurious=0");
	proto_send(&f);
}
