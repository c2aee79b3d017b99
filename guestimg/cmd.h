/*
 * cmd.h - the host commands (hello, pci, echo, exit, mem and the test
 * commands): each answers with zero or more DATA lines and one OK or ERR
 * carrying the request's seq.  PROTOCOL.md documents every one.
 */
#ifndef CMD_H
#define CMD_H

#include "proto.h"

extern const char guest_version[];	/* main.c, from make VERSION= */

void cmd_run(const struct request *r);

/* doorbell.c */
void cmd_doorbell(const struct request *r);

#endif
