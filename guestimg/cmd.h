/*
 * cmd.h - the host commands (hello, pci, echo, exit, mem and the test
 * commands): each answers with zero or more DATA lines and one OK or ERR
 * carrying the request's seq.  PROTOCOL.md documents every one.
 */
#ifndef CMD_H
#define CMD_H

#include "proto.h"

extern const char guest_version[];	/* main.c, from make VERSION= */

/* A command table's row: the name, the arguments after it (or
 * CMD_ANY_ARGS) and its handler. */
#define CMD_ANY_ARGS (-1)
struct command {
	const char *name;
	int nargs;
	void (*run)(const struct request *r);
};

/* cmd_common.c: announce HELLO, then read and dispatch host lines for
 * ever; dispatch one line (ERR badargs on a wrong argument count, ERR
 * unknown for a name not in the table); hello and echo. */
void cmd_serve_forever(const struct command *table, unsigned count);
void cmd_dispatch(const struct request *r, const struct command *table, unsigned count);
void cmd_hello(const struct request *r);
void cmd_echo(const struct request *r);

/* The image's own table (cmd.c), or the agent's (agent/agent_cmd.c). */
void cmd_loop(void);

/* doorbell.c */
void cmd_doorbell(const struct request *r);

#endif
