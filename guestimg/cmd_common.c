/*
 * cmd_common.c - what the guest image and kvmnet-agent (agent/) do alike
 * around their command tables: the HELLO announcement, the serve loop,
 * dispatch by name and argument count, and the hello and echo commands.
 */
#include "cmd.h"
#include "cpu.h"
#include "uart.h"

void cmd_serve_forever(const struct command *table, unsigned count)
{
	static struct request req;
	struct fmt f;

	/* End any line firmware or a console left open (SeaBIOS prints
	 * "Booting from ROM.." with no newline): protocol lines start one. */
	uart_putc('\n');
	proto_begin(&f, 0, "HELLO kvmnet-guest ");
	fmt_str(&f, guest_version);
	fmt_str(&f, " ring=");
	fmt_dec(&f, cpu_ring());	/* from CS: 3 proves ring 3 */
	proto_send(&f);
	for (;;) {
		proto_read(&req);
		cmd_dispatch(&req, table, count);
	}
}

void cmd_dispatch(const struct request *r, const struct command *table, unsigned count)
{
	struct fmt f;

	for (unsigned i = 0; i < count; i++) {
		if (strcmp(r->argv[0], table[i].name) != 0)
			continue;
		if (table[i].nargs != CMD_ANY_ARGS &&
		    (unsigned)table[i].nargs != r->argc - 1)
			proto_line(r->seq, "ERR", "badargs");
		else
			table[i].run(r);
		return;
	}
	proto_begin(&f, r->seq, "ERR unknown ");
	fmt_str(&f, r->argv[0]);
	proto_send(&f);
}

void cmd_hello(const struct request *r)
{
	struct fmt f;

	proto_begin(&f, r->seq, "OK kvmnet-guest ");
	fmt_str(&f, guest_version);
	proto_send(&f);
}

void cmd_echo(const struct request *r)
{
	struct fmt f;

	proto_begin(&f, r->seq, "OK");
	for (unsigned i = 1; i < r->argc; i++) {
		fmt_char(&f, ' ');
		fmt_str(&f, r->argv[i]);
	}
	proto_send(&f);
}
