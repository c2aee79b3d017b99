/*
 * traffic.c - the commands that move test frames: send, recv and bounce
 * (PROTOCOL.md).  Frames are built and checked by testframe.c; the NIC
 * is driven through nic.h, one doorbell per NIC_TX_BATCH frames.
 */
#include "net.h"
#include "cpu.h"
#include "lib.h"
#include "testframe.h"

#define BAD_REPORTED	4	/* "DATA bad" lines per recv */
#define SEQ_WINDOW	65536	/* seqs remembered for dup detection */

static uint8_t frame[NIC_FRAME_MAX];

void cmd_send(const struct request *r)
{
	uint32_t count, size, seed, first = 0, sent = 0;
	uint8_t dst[ETH_ALEN];
	struct nic *n;
	uint64_t start;
	struct fmt f;

	if (r->argc != 6 && r->argc != 7) {
		net_reply_err(r, "badargs");
		return;
	}
	if (!(n = net_arg_nic(r, 1)))
		return;
	if (!net_arg_u32(r, 2, &count) || !net_arg_u32(r, 3, &size) ||
	    size < TF_MIN || size > TF_MAX || !parse_mac(r->argv[4], dst) ||
	    !net_arg_u32(r, 5, &seed) || (r->argc == 7 && !net_arg_u32(r, 6, &first))) {
		net_reply_err(r, "badargs");
		return;
	}
	if (size > ETH_HLEN + n->mtu) {
		net_reply_err(r, "toolarge");
		return;
	}
	start = rdtsc();
	while (sent < count) {
		tf_build(frame, dst, n->mac, first + sent, seed, size);
		if (!nic_send(n, frame, size))
			break;
		if (++sent % NIC_TX_BATCH == 0)
			nic_kick(n);
	}
	nic_drain(n);
	proto_begin(&f, r->seq, "OK sent=");
	fmt_dec(&f, sent);
	fmt_str(&f, " tsc=");
	fmt_dec(&f, rdtsc() - start);
	proto_send(&f);
}

/*
 * Sequence accounting of one recv: the highest seq seen, and a bitmap of
 * the last SEQ_WINDOW seqs below it.  lost counts seqs between the lowest
 * and the highest seen that have not arrived (a late arrival takes its
 * seq back out), reordered counts arrivals below the highest seq, dup
 * repeats.
 */
struct seqtrack {
	bool started;
	uint32_t lowest, highest;
	uint64_t lost, dup, reordered;
	uint8_t seen[SEQ_WINDOW / 8];
	/* The first few duplicates and late arrivals, for the report: seq, and
	 * for a late one the highest seq that had arrived before it. */
	uint32_t dup_seq[BAD_REPORTED], late_seq[BAD_REPORTED];
	uint32_t late_after[BAD_REPORTED];
};

static struct seqtrack track;

static bool seen_get(struct seqtrack *t, uint32_t seq)
{
	seq %= SEQ_WINDOW;
	return t->seen[seq / 8] >> (seq % 8) & 1;
}

static void seen_put(struct seqtrack *t, uint32_t seq, bool v)
{
	seq %= SEQ_WINDOW;
	if (v)
		t->seen[seq / 8] |= (uint8_t)(1 << (seq % 8));
	else
		t->seen[seq / 8] &= (uint8_t)~(1 << (seq % 8));
}

static void note_late(struct seqtrack *t, uint32_t seq)
{
	if (t->reordered < BAD_REPORTED) {
		t->late_seq[t->reordered] = seq;
		t->late_after[t->reordered] = t->highest;
	}
	t->reordered++;
}

static void track_seq(struct seqtrack *t, uint32_t seq)
{
	uint32_t ahead = seq - t->highest, behind = t->highest - seq;

	if (!t->started) {
		t->started = true;
		t->lowest = t->highest = seq;
	} else if (ahead && ahead < 0x80000000u) {
		t->lost += ahead - 1;
		if (ahead >= SEQ_WINDOW)
			memset(t->seen, 0, sizeof(t->seen));
		else
			for (uint32_t s = t->highest + 1; s != seq; s++)
				seen_put(t, s, false);
		t->highest = seq;
	} else if (behind >= SEQ_WINDOW) {
		note_late(t, seq);	/* too old to tell a dup */
		return;
	} else if (seen_get(t, seq)) {
		if (t->dup < BAD_REPORTED)
			t->dup_seq[t->dup] = seq;
		t->dup++;
		return;
	} else {
		note_late(t, seq);
		if (seq - t->lowest > t->highest - t->lowest) {
			t->lost += t->lowest - seq - 1;	/* below the lowest */
			t->lowest = seq;
		} else if (t->lost) {
			t->lost--;
		}
	}
	seen_put(t, seq, true);
}

/* "DATA bad seq= why= len= length= [at= want= got=]": a bad frame, with its
 * length as received and as its header says, and where it differs. */
static void report_bad(const struct request *r, uint32_t seq, enum tf_verdict why,
		       const struct tf_fault *fault)
{
	struct fmt f;

	proto_begin(&f, r->seq, "DATA bad seq=");
	fmt_dec(&f, seq);
	fmt_str(&f, " why=");
	fmt_str(&f, tf_why(why));
	fmt_str(&f, " len=");
	fmt_dec(&f, fault->len);
	fmt_str(&f, " length=");
	fmt_dec(&f, fault->length);
	if (why == TF_PADDING || why == TF_PAYLOAD) {
		fmt_str(&f, " at=");
		fmt_dec(&f, fault->at);
		fmt_str(&f, " want=");
		fmt_hex(&f, fault->want, 2);
		fmt_str(&f, " got=");
		fmt_hex(&f, fault->got, 2);
	}
	proto_send(&f);
}

void cmd_recv(const struct request *r)
{
	uint32_t count, seed, every = 0, got = 0, bad = 0, other = 0, foreign = 0, seq = 0;
	uint32_t bad_seq[BAD_REPORTED];
	enum tf_verdict bad_why[BAD_REPORTED];
	struct tf_fault bad_fault[BAD_REPORTED];
	uint8_t ackmac[ETH_ALEN], ack[TF_ACK_LEN];
	struct host_watch w;
	const uint8_t *rx;
	struct nic *n;
	unsigned len;
	uint64_t start;
	struct fmt f;

	if (r->argc != 4 && r->argc != 6) {
		net_reply_err(r, "badargs");
		return;
	}
	if (!(n = net_arg_nic(r, 1)))
		return;
	if (!net_arg_u32(r, 2, &count) || !net_arg_u32(r, 3, &seed) ||
	    (r->argc == 6 && (!parse_mac(r->argv[4], ackmac) ||
			      !net_arg_u32(r, 5, &every) || every == 0))) {
		net_reply_err(r, "badargs");
		return;
	}
	memset(&track, 0, sizeof(track));
	host_watch_start(&w);
	start = rdtsc();
	while (got + bad < count) {
		enum tf_verdict v;

		if (host_stopped(&w))
			break;
		if (!(rx = nic_recv(n, &len))) {
			cpu_pause();
			continue;
		}
		v = tf_check(rx, len, seed, &seq,
			     bad < BAD_REPORTED ? &bad_fault[bad] : NULL);
		if (v == TF_OTHER || v == TF_FOREIGN) {
			other++;
			foreign += v == TF_FOREIGN;
			n->rx_other++;
			continue;
		}
		if (v == TF_GOOD) {
			got++;
			track_seq(&track, seq);
		} else {
			if (bad < BAD_REPORTED) {	/* bad_fault[bad] is set */
				bad_seq[bad] = seq;
				bad_why[bad] = v;
			}
			bad++;
			n->rx_bad++;
		}
		if (every && (got + bad) % every == 0) {
			tf_ack(ack, ackmac, n->mac, got + bad, bad);
			nic_send(n, ack, TF_ACK_LEN);
			nic_kick(n);	/* the sender is waiting for it */
		}
	}
	start = rdtsc() - start;
	if (every && (got + bad) % every != 0) {	/* the last word */
		tf_ack(ack, ackmac, n->mac, got + bad, bad);
		nic_send(n, ack, TF_ACK_LEN);
	}
	nic_drain(n);
	for (unsigned i = 0; i < bad && i < BAD_REPORTED; i++)
		report_bad(r, bad_seq[i], bad_why[i], &bad_fault[i]);
	for (unsigned i = 0; i < track.dup && i < BAD_REPORTED; i++) {
		proto_begin(&f, r->seq, "DATA dup seq=");
		fmt_dec(&f, track.dup_seq[i]);
		proto_send(&f);
	}
	for (unsigned i = 0; i < track.reordered && i < BAD_REPORTED; i++) {
		proto_begin(&f, r->seq, "DATA late seq=");
		fmt_dec(&f, track.late_seq[i]);
		fmt_str(&f, " after=");
		fmt_dec(&f, track.late_after[i]);
		proto_send(&f);
	}
	proto_begin(&f, r->seq, "OK got=");
	fmt_dec(&f, got);
	fmt_str(&f, " bad=");
	fmt_dec(&f, bad);
	fmt_str(&f, " lost=");
	fmt_dec(&f, track.lost);
	fmt_str(&f, " dup=");
	fmt_dec(&f, track.dup);
	fmt_str(&f, " reordered=");
	fmt_dec(&f, track.reordered);
	fmt_str(&f, " other=");
	fmt_dec(&f, other);
	fmt_str(&f, " foreign=");
	fmt_dec(&f, foreign);
	fmt_str(&f, " tsc=");
	fmt_dec(&f, start);
	proto_send(&f);
}

void cmd_bounce(const struct request *r)
{
	struct nic *n = net_arg_nic(r, 1);
	uint32_t count, bounced = 0;
	struct host_watch w;
	const uint8_t *rx;
	unsigned len;
	struct fmt f;

	if (!n)
		return;
	if (!net_arg_u32(r, 2, &count)) {
		net_reply_err(r, "badargs");
		return;
	}
	host_watch_start(&w);
	while (bounced < count) {
		if (!(rx = nic_recv(n, &len))) {
			nic_kick(n);	/* idle: send what is queued */
			if (host_stopped(&w))
				break;
			cpu_pause();
			continue;
		}
		if (len > ETH_HLEN + n->mtu_max)
			continue;
		memcpy(frame, rx + ETH_ALEN, ETH_ALEN);	/* back to the source */
		memcpy(frame + ETH_ALEN, n->mac, ETH_ALEN);
		memcpy(frame + 2 * ETH_ALEN, rx + 2 * ETH_ALEN, len - 2 * ETH_ALEN);
		if (!nic_send(n, frame, len))
			break;
		if (++bounced % NIC_TX_BATCH == 0)
			nic_kick(n);
	}
	nic_drain(n);
	proto_begin(&f, r->seq, "OK bounced=");
	fmt_dec(&f, bounced);
	proto_send(&f);
}
