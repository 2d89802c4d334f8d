/* capctl_svg.c: `capctl migrate --svg FILE`: one migration's timeline as a picture (lanes per host, phases to scale, messages between hosts, each connection's gap). */
#include "hosts/capctl/capctl_svg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The phases in the ok line's order: name, colour, what it covers (capctl_mig.c prints the same). */
static const struct { const char *key, *fill, *what; } phase[CAPCTL_MIG_PHASES] = {
	{ "sync", "#8fb8e8", "peer hosts stop sending to it and queue (SYNC / SYNC_ACK)" },
	{ "freeze", "#f4b183", "the capsule stops at its safe point (FREEZE / FROZEN)" },
	{ "transfer", "#f9d77e", "its memory streams to the target, authenticated" },
	{ "restore", "#a9d18e", "the target loads it, not running, and confirms" },
	{ "directory", "#c9a0dc", "the target pulls it in the directory: the commit" },
	{ "flush", "#9dd5d0", "the target starts it; peers send it what they queued" },
};

/* Geometry: the time axis runs from X0 to X1; one lane per party. */
#define W      1000
#define H0     700   /* without connection rows; each adds CONN_ROW */
#define CONN_ROW 20
#define CONN_DRAWN 24 /* connections drawn at most (the rest are counted in a line) */
#define X0     210
#define X1     960
#define Y_AXIS 96
enum lane { L_PEERS, L_SRC, L_DST, L_DIR, NLANES };
static const int lane_y[NLANES] = { 150, 235, 320, 405 };

/* One message between two lanes at a time (ms), drawn as a numbered arrow. */
struct msg {
	double t0, t1;   /* leaves at t0, arrives at t1 (equal for a message drawn upright) */
	enum lane from, to;
	const char *text;
};

struct svg {
	FILE *f;
	double span;     /* ms across the axis */
	int h;           /* the picture's height */
};

static double xat(const struct svg *s, double ms)
{
	return X0 + ms * (X1 - X0) / s->span;
}

/* name with XML's five special characters escaped. */
static void put_text(FILE *f, const char *t)
{
	for (; *t; t++) {
		switch (*t) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if ((unsigned char)*t >= 0x20 && (unsigned char)*t < 0x7f)
				fputc(*t, f);
			else
				fputc('?', f);   /* keep the file ASCII and well-formed */
		}
	}
}

/* A bar for a phase on a lane, at least 3 px wide, labelled inside when the label fits. */
static void bar(struct svg *s, enum lane l, double t0, double t1, const char *fill,
                const char *label, const char *id)
{
	double x = xat(s, t0), w = xat(s, t1) - x;
	if (w < 3)
		w = 3;
	fprintf(s->f, "  <rect id=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"26\" fill=\"%s\" "
	        "stroke=\"#555\" stroke-width=\"0.8\"/>\n", id, x, lane_y[l] - 13, w, fill);
	if (label && w >= 7.0 * (double)strlen(label) + 6)
		fprintf(s->f, "  <text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\">%s</text>\n",
		        x + w / 2, lane_y[l] + 4, label);
}

static void arrow(struct svg *s, const struct msg *m, int n)
{
	int y0 = lane_y[m->from] + (m->to > m->from ? 13 : -13);
	int y1 = lane_y[m->to] + (m->to > m->from ? -13 : 13);
	double x0 = xat(s, m->t0) + n % 3 * 4, x1 = xat(s, m->t1) + n % 3 * 4;
	fprintf(s->f, "  <line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\" "
	        "stroke-width=\"1.2\" marker-end=\"url(#arrow)\"/>\n", x0, y0, x1, y1);
	/* The badge sits part way along, at a height that differs between neighbours. */
	double f = 0.25 + 0.5 * (double)(n % 4) / 3.0;
	fprintf(s->f, "  <circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"#fff\" stroke=\"#333\"/>\n"
	        "  <text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%d</text>\n",
	        x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, x0 + (x1 - x0) * f, y0 + (y1 - y0) * f + 3.5,
	        n);
}

static const char *const lane_name[NLANES][2] = {
	{ "peer hosts", "caphostd: queue, hold" },
	{ "source host", "caprun + caphostd" },
	{ "target host", "caphostd + caprun --incoming" },
	{ "directory", "capdird" },
};

static void draw(struct svg *s, const char *name, const struct mig_result *r)
{
	FILE *f = s->f;
	double st[CAPCTL_MIG_PHASES + 1] = { 0 };
	for (int i = 0; i < CAPCTL_MIG_PHASES; i++)
		st[i + 1] = st[i] + (r->ms[i] > 0 ? (double)r->ms[i] : 0);
	s->span = st[CAPCTL_MIG_PHASES] > r->total ? st[CAPCTL_MIG_PHASES] : (double)r->total;
	const struct mig_gaps *g = &r->gaps;
	unsigned ndrawn = g->n < CONN_DRAWN ? g->n : CONN_DRAWN;
	for (unsigned i = 0; i < ndrawn; i++)   /* a silence may outlast the migration's timeline */
		if ((double)(g->conn[i].start_ms + g->conn[i].gap_ms) > s->span)
			s->span = (double)(g->conn[i].start_ms + g->conn[i].gap_ms);
	if (s->span < 1)
		s->span = 1;
	s->h = H0 + (int)ndrawn * CONN_ROW + (g->n > ndrawn ? CONN_ROW : 0);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	        "<!-- Drawn by capctl migrate, option svg (hosts/capctl/capctl_svg.c), from the timeline caprun "
	        "returned. -->\n"
	        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\"\n"
	        "     font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n", W, s->h, W, s->h);
	fputs("  <title>live migration of capsule ", f);
	put_text(f, name);
	fprintf(f, " from host %u to host %u</title>\n", r->from, r->target);
	fputs("  <defs>\n    <marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
	      "markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\n"
	      "      <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#333\"/>\n    </marker>\n"
	      "    <pattern id=\"queue\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
	      "patternTransform=\"rotate(45)\">\n"
	      "      <rect width=\"8\" height=\"8\" fill=\"#eef3fa\"/>"
	      "<line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#8fb8e8\" stroke-width=\"3\"/>\n"
	      "    </pattern>\n  </defs>\n", f);
	fputs("  <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n", f);
	fputs("  <text x=\"500\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">"
	      "Live migration of capsule ", f);
	put_text(f, name);
	fprintf(f, ": host %u to host %u</text>\n", r->from, r->target);
	fprintf(f, "  <text x=\"500\" y=\"50\" text-anchor=\"middle\">directory epoch %u to %u, "
	        "%llu bytes of memory, %u of %u peer hosts synchronized; downtime %ld ms of %ld ms"
	        "</text>\n", r->epoch ? r->epoch - 1 : 0, r->epoch, r->bytes, r->acked, r->asked,
	        r->downtime, r->total);

	/* The time axis: at most 10 ticks, at a round step (1, 2, 5, 10, 20, 50, ... ms). */
	double step = 1;
	for (int k = 0; s->span / step > 10; k++)
		step *= k % 3 == 1 ? 2.5 : 2;
	fprintf(f, "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n", X0, Y_AXIS,
	        X1, Y_AXIS);
	for (double t = 0; t <= s->span + 1e-9; t += step)
		fprintf(f, "  <line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n"
		        "  <text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%.0f</text>\n",
		        xat(s, t), Y_AXIS, xat(s, t), lane_y[L_DIR] + 20, xat(s, t), Y_AXIS - 6, t);
	fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"11\">ms after capctl "
	        "asked</text>\n", X0 - 10, Y_AXIS - 6);

	for (int l = 0; l < NLANES; l++) {
		unsigned host = l == L_SRC ? r->from : l == L_DST ? r->target : 0;
		fprintf(f, "  <line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#bbb\" "
		        "stroke-dasharray=\"4,3\"/>\n", X0, lane_y[l], X1, lane_y[l]);
		fprintf(f, "  <text id=\"lane-%d\" x=\"%d\" y=\"%d\" text-anchor=\"end\" "
		        "font-weight=\"bold\">%s", l, X0 - 12, lane_y[l] - 2, lane_name[l][0]);
		if (host)
			fprintf(f, " %u", host);
		fprintf(f, "</text>\n  <text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">%s"
		        "</text>\n", X0 - 12, lane_y[l] + 12, lane_name[l][1]);
	}

	/* Where each phase happens. */
	char id[32];
	for (int i = 0; i < CAPCTL_MIG_PHASES; i++) {
		static const enum lane where[CAPCTL_MIG_PHASES][2] = {
			{ L_SRC, L_SRC }, { L_SRC, L_SRC }, { L_SRC, L_DST },
			{ L_DST, L_DST }, { L_DST, L_DIR }, { L_DST, L_PEERS },
		};
		for (int k = 0; k < 2; k++) {
			if (k && where[i][1] == where[i][0])
				break;
			snprintf(id, sizeof id, "phase-%s-%d", phase[i].key, k);
			bar(s, where[i][k], st[i], st[i + 1], phase[i].fill, phase[i].key, id);
		}
	}
	bar(s, L_PEERS, (st[0] + st[1]) / 2, st[5], "url(#queue)", "queue the capsule's packets; the gateway "
	    "holds its TCP peers", "peers-queue");
	if (r->total > st[CAPCTL_MIG_PHASES] + 0.5)
		bar(s, L_SRC, st[CAPCTL_MIG_PHASES], (double)r->total, "#e6e6e6", "done", "src-done");

	/* The messages, at the phase boundaries where they happen (their exact send times are not
	 * in the timeline; docs/MIGRATION-WALKTHROUGH.md has the order). */
	char stream[96], move[96];
	snprintf(stream, sizeof stream, "stream: PREAMBLE .. END, %llu bytes",
	         r->bytes);
	snprintf(move, sizeof move, "MOVE to host %u at epoch %u; MOVED (epoch %u)", r->target,
	         r->epoch ? r->epoch - 1 : 0, r->epoch);
	const struct msg msgs[] = {
		{ st[0] + (st[1] - st[0]) / 2, st[0] + (st[1] - st[0]) / 2, L_SRC, L_PEERS,
		  "SYNC (wire type 3): stop sending, queue" },
		{ st[1], st[1], L_PEERS, L_SRC, "SYNC_ACK from each peer; then MIG_READY" },
		{ st[2], st[2], L_SRC, L_PEERS, "HOLD (wire type 5) to the gateway" },
		{ st[2], st[2], L_SRC, L_DIR, "STATE frozen" },
		{ st[2], st[3], L_SRC, L_DST, stream },
		{ st[4], st[4], L_DST, L_SRC, "CONFIRM: restored, not running" },
		{ st[4], st[4], L_SRC, L_DST, "COMMIT: take it" },
		{ st[4], st[5], L_DST, L_DIR, move },
		{ st[5], st[5], L_DIR, L_PEERS, "NOTIFY subscribers (their queues stay)" },
		{ st[5], st[5], L_DST, L_PEERS, "FLUSH_TO and FLUSH: send to the target" },
		{ st[6], st[6], L_DST, L_SRC, "STARTED: it runs on the target" },
		{ st[6], st[6], L_SRC, L_PEERS, "MIG_DONE, FLUSH_TO to the peers it SYNCed" },
	};
	int nmsg = (int)(sizeof msgs / sizeof msgs[0]);
	for (int i = 0; i < nmsg; i++)
		arrow(s, &msgs[i], i + 1);

	/* The downtime: from the end of sync (the freeze) until STARTED. */
	double d0 = st[1], d1 = st[1] + (double)(r->downtime > 0 ? r->downtime : 0);
	int yd = lane_y[L_DIR] + 40;
	fprintf(f, "  <line id=\"downtime\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#c0392b\" "
	        "stroke-width=\"2\" marker-start=\"url(#arrow)\" marker-end=\"url(#arrow)\"/>\n",
	        xat(s, d0), yd, xat(s, d1) < xat(s, d0) + 4 ? xat(s, d0) + 4 : xat(s, d1), yd);
	fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-weight=\"bold\" "
	        "fill=\"#c0392b\">downtime %ld ms</text>\n", X0 - 12, yd + 4, r->downtime);
	fprintf(f, "  <text x=\"%d\" y=\"%d\" font-size=\"11\" fill=\"#c0392b\">the capsule runs "
	        "nowhere: from its freeze until it runs on host %u</text>\n", X0, yd + 20, r->target);

	/* The clients' gaps: one bar per TCP connection, its longest silence as the host that
	 * passes the capsule's packets on to that peer measured it (from that host's SYNC). */
	int yc = yd + 46;
	fprintf(f, "  <text id=\"clients\" x=\"%d\" y=\"%d\" text-anchor=\"end\" font-weight=\"bold\">"
	        "client gaps</text>\n", X0 - 12, yc);
	if (!g->measured) {
		fputs("  <text x=\"210\" y=\"", f);
		fprintf(f, "%d\" font-size=\"11\">not measured: ", yc);
		put_text(f, g->why);
		fputs("</text>\n", f);
	} else {
		fprintf(f, "  <text x=\"%d\" y=\"%d\" font-size=\"11\">the longest silence each TCP peer "
		        "heard from the capsule, measured by the host passing its packets on (%u of %u "
		        "hosts answered)</text>\n", X0, yc, g->answered, g->asked);
	}
	for (unsigned i = 0; i < ndrawn; i++) {
		const struct mig_conn *c = &g->conn[i];
		int y = yc + 10 + (int)i * CONN_ROW;
		double x = xat(s, (double)c->start_ms), w = xat(s, (double)(c->start_ms + c->gap_ms)) - x;
		if (w < 3)
			w = 3;
		fprintf(f, "  <text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"10\">%s:%u</text>\n",
		        X0 - 12, y + 11, c->peer, c->peer_port);
		fprintf(f, "  <rect id=\"conn-%u\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"12\" "
		        "fill=\"%s\" stroke=\"#c0392b\" stroke-width=\"0.8\"/>\n", i, x, y + 2, w,
		        c->resumed ? "#f5b7b1" : "#fdedec");
		fprintf(f, "  <text x=\"%.1f\" y=\"%d\" font-size=\"10\" fill=\"#c0392b\">%s%ld ms to "
		        "port %u, seen by host %u%s</text>\n", x + w + 6 > X1 - 150 ? X1 - 150 : x + w + 6,
		        y + 11, c->from_sync ? "at least " : "", c->gap_ms, c->capsule_port, c->host,
		        c->resumed ? "" : ", still silent");
	}
	int yrows = yc + 10 + (int)ndrawn * CONN_ROW;
	if (g->n > ndrawn || g->more) {
		fprintf(f, "  <text x=\"%d\" y=\"%d\" font-size=\"10\">(more connections than drawn: "
		        "%u listed, %u drawn; %u left out by the hosts)</text>\n", X0, yrows + 11, g->n,
		        ndrawn, g->more);
		yrows += CONN_ROW;
	}

	/* Two legends: the phases (colour, ms, what) and the numbered messages. */
	int yl = yrows + 24;
	fprintf(f, "  <text x=\"20\" y=\"%d\" font-weight=\"bold\">phases (ms)</text>\n", yl);
	for (int i = 0; i < CAPCTL_MIG_PHASES; i++) {
		int y = yl + 14 + i * 20;
		fprintf(f, "  <rect x=\"20\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\" stroke=\"#555\" "
		        "stroke-width=\"0.8\"/>\n  <text x=\"40\" y=\"%d\" font-size=\"11\">"
		        "<tspan font-weight=\"bold\">%s</tspan> %ld: %s</text>\n",
		        y, phase[i].fill, y + 11, phase[i].key, r->ms[i], phase[i].what);
	}
	fprintf(f, "  <text x=\"440\" y=\"%d\" font-weight=\"bold\">messages (drawn at the phase "
	        "boundary they belong to)</text>\n", yl);
	for (int i = 0; i < nmsg; i++) {
		int col = i / 6, y = yl + 14 + (i % 6) * 20;
		int x = 440 + col * 280;
		fprintf(f, "  <circle cx=\"%d\" cy=\"%d\" r=\"8\" fill=\"#fff\" stroke=\"#333\"/>\n"
		        "  <text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"10\">%d</text>\n"
		        "  <text x=\"%d\" y=\"%d\" font-size=\"9.5\">", x + 8, y + 7, x + 8, y + 10, i + 1,
		        x + 20, y + 11);
		put_text(f, msgs[i].text);
		fputs("</text>\n", f);
	}
	fprintf(f, "  <text x=\"20\" y=\"%d\" font-size=\"10\" fill=\"#555\">Phases are to scale; "
	        "docs/MIGRATION-WALKTHROUGH.md names the code behind each message.</text>\n", s->h - 12);
	fputs("</svg>\n", f);
}

/* path's directory into dir ("." for a bare name). */
static void dir_of(const char *path, char *dir, size_t len)
{
	snprintf(dir, len, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == dir)
		dir[1] = 0;
	else
		*slash = 0;
}

int capctl_svg_check(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;
	if (!*path || strlen(path) + 12 >= sizeof dir) {
		errno = ENAMETOOLONG;
		snprintf(err, errlen, "--svg %s: %s", path, !*path ? "empty name" : strerror(errno));
		return -1;
	}
	dir_of(path, dir, sizeof dir);
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		errno = EINVAL;
		snprintf(err, errlen, "--svg %s: exists and is not a regular file", path);
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "--svg %s: %s: %s", path, dir, strerror(errno));
		return -1;
	}
	return 0;
}

int capctl_svg_write(const char *path, const char *name, const struct mig_result *r, char *err,
                     size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= sizeof tmp) {
		errno = ENAMETOOLONG;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	(void)fchmod(fd, 0644);   /* a picture to share, not a secret */
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	struct svg s = { .f = f };
	draw(&s, name, r);
	int rc = fflush(f) || ferror(f) || fsync(fd) ? -1 : 0;
	int e = errno;
	if (fclose(f) && !rc)
		rc = -1, e = errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -1, e = errno;
	if (rc) {
		unlink(tmp);
		errno = e;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -1;
	}
	/* The rename itself is durable once the directory is synced. */
	dir_of(path, dir, sizeof dir);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
}
