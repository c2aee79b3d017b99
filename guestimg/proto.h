/*
 * proto.h - the framed line protocol on COM1 (PROTOCOL.md is the spec).
 * Guest lines are "!<seq> <WORD> [args...]*<crc32>\n"; host lines are
 * "<seq> <command> [args...]*<crc32>\n".  The CRC is zlib's crc32 of the
 * text before the '*' (after the '!' on guest lines).
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "lib.h"

#define PROTO_LINE_MAX 200	/* bytes of a host line before its '\n' */
#define PROTO_ARGS_MAX (PROTO_LINE_MAX / 2 + 1)	/* cannot be exceeded */

/* A validated host command line. argv[0] is the command name. */
struct request {
	uint32_t seq;
	unsigned argc;
	char *argv[PROTO_ARGS_MAX];
	char line[PROTO_LINE_MAX + 1];
};

/* CRC-32 (IEEE 802.3 / zlib): reflected, poly 0xEDB88320, init and
 * final xor 0xFFFFFFFF. */
uint32_t crc32(const void *data, size_t len);

/* Start a guest line "<seq> <word>" in f; callers append " arg"s. */
void proto_begin(struct fmt *f, uint32_t seq, const char *word);
/* Send f framed as "!<f>*<crc>\n". */
void proto_send(const struct fmt *f);
/* One-shot "!<seq> <word>[ <text>]" (text may be NULL). */
void proto_line(uint32_t seq, const char *word, const char *text);

/* Read host lines until one is a valid frame; bad frames and overlong
 * lines are answered ("!0 ERR badframe" / "!0 ERR toolong") and dropped. */
void proto_read(struct request *r);

#endif
