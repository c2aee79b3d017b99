/*
 * agent_pci.c - which interfaces are the NICs, as sysfs tells it: every
 * /sys/class/net/<if> whose device is a PCI function of a model the
 * protocol knows, in PCI address order like the guest's own scan.  A
 * virtio_net interface's device is the virtio device (virtioN); the PCI
 * function is its parent.
 */
#include <dirent.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "agent.h"

static const struct {
	uint16_t vendor, device;
	enum nic_model model;
} models[] = {
	{ 0x10EC, 0x8139, NIC_RTL8139 },
	{ 0x8086, 0x100E, NIC_E1000 },
	{ 0x1AF4, 0x1041, NIC_VIRTIO },
	{ 0x1AF4, 0x1000, NIC_VIRTIO_LEGACY },
};

struct found {
	char ifname[IF_NAMESIZE];
	enum nic_model model;
	struct pci_dev pci;
	unsigned irq;
};

/* A sysfs attribute of dir holding one number ("0x8086", "11"). */
static bool read_number(const char *dir, const char *name, unsigned long *v)
{
	char path[PATH_MAX + 32], text[32];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "re")))
		return false;
	ok = fgets(text, sizeof(text), f) != NULL;
	fclose(f);
	if (ok)
		*v = strtoul(text, NULL, 0);
	return ok;
}

/* Is dir a PCI function?  Its subsystem link says. */
static bool is_pci(const char *dir)
{
	char path[PATH_MAX + 16], target[PATH_MAX];
	ssize_t len;

	snprintf(path, sizeof(path), "%s/subsystem", dir);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		return false;
	target[len] = '\0';
	return strcmp(strrchr(target, '/') ?: target, "/pci") == 0;
}

/* The PCI function under /sys/class/net/<ifname>, described in *f. */
static bool read_function(const char *ifname, struct found *f)
{
	char path[PATH_MAX + 16], dir[PATH_MAX], *slash;
	unsigned long vendor, device, class_code, irq = 0;
	unsigned domain, bus, dev, fn;
	FILE *config;

	snprintf(path, sizeof(path), "/sys/class/net/%s/device", ifname);
	if (!realpath(path, dir))
		return false;	/* a virtual interface */
	if (!is_pci(dir) && (slash = strrchr(dir, '/')))
		*slash = '\0';	/* virtioN: its parent */
	if (!is_pci(dir) || !read_number(dir, "vendor", &vendor) ||
	    !read_number(dir, "device", &device) || !read_number(dir, "class", &class_code) ||
	    sscanf(strrchr(dir, '/') + 1, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) != 4)
		return false;
	read_number(dir, "irq", &irq);
	memset(f, 0, sizeof(*f));
	f->pci.bdf = (uint16_t)(bus << 8 | dev << 3 | fn);
	f->pci.vendor = (uint16_t)vendor;
	f->pci.device = (uint16_t)device;
	f->pci.class_code = (uint32_t)class_code;
	f->irq = (unsigned)irq;	/* Linux's IRQ: the GSI, with an IOAPIC */
	snprintf(path, sizeof(path), "%s/config", dir);
	if ((config = fopen(path, "re"))) {	/* Interrupt Line and Pin */
		uint8_t head[64];

		if (fread(head, 1, sizeof(head), config) == sizeof(head)) {
			f->pci.irq_line = head[0x3C];
			f->pci.irq_pin = head[0x3D];
		}
		fclose(config);
	}
	for (unsigned k = 0; k < sizeof(models) / sizeof(models[0]); k++) {
		/* 1af4:1000 is any transitional virtio device; class 02
		 * says it is the network one. */
		if (models[k].vendor == vendor && models[k].device == device &&
		    class_code >> 16 == 0x02) {
			f->model = models[k].model;
			snprintf(f->ifname, sizeof(f->ifname), "%s", ifname);
			return true;
		}
	}
	return false;
}

static int by_address(const void *a, const void *b)
{
	const struct found *x = a, *y = b;

	return (int)x->pci.bdf - (int)y->pci.bdf;
}

void agent_pci_scan(void)
{
	static struct found found[NIC_MAX];
	unsigned count = 0;
	struct dirent *e;
	DIR *d = opendir("/sys/class/net");

	if (!d) {
		agent_note("no /sys/class/net: is sysfs mounted?");
		return;
	}
	while ((e = readdir(d)) && count < NIC_MAX)
		if (e->d_name[0] != '.' && read_function(e->d_name, &found[count]))
			count++;
	closedir(d);
	qsort(found, count, sizeof(found[0]), by_address);
	for (unsigned i = 0; i < count; i++)
		agent_nic_add(found[i].ifname, found[i].model, &found[i].pci, found[i].irq);
}
