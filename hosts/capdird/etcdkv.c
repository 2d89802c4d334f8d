/* etcdkv.c: etcd v3 over its JSON gateway with libcurl (http or https): linearizable snapshot reads, compare-and-swap Txns, leases, a watch thread. */
#include "hosts/capdird/etcdkv.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EP_MAX      8
#define TRACK_MAX   16
#define WRITE_MAX   16
#define EVQ_MAX     1024
#define CONNECT_MS  500L
#define REQUEST_MS  2500L     /* an election takes about a second (election timeout 1000 ms) */

struct tracked { char key[ETCDKV_KEY_MAX]; int64_t mod_rev; };
struct write { char key[ETCDKV_KEY_MAX]; char *val; int64_t lease; };   /* val NULL = delete */

struct buf { char *p; size_t len, cap; };

struct etcdkv {
	char ep[EP_MAX][136];
	char cacert[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];   /* TLS files, "" = none */
	int nep, cur;
	CURL *curl;
	char err[256];
	int64_t snap_rev;             /* revision the transaction reads at; 0 = not yet */
	struct tracked tr[TRACK_MAX];
	int ntr;
	struct write wr[WRITE_MAX];
	int nwr;
	/* watch */
	pthread_t thr;
	int watching;
	volatile int stop;
	int pipe[2];
	pthread_mutex_t mu;
	struct etcdkv_event evq[EVQ_MAX];
	int evhead, evlen;
	char wprefix[ETCDKV_KEY_MAX];
	int64_t wrev;
	struct buf wline;             /* the watch stream's unfinished line */
};

const char *etcdkv_errmsg(struct etcdkv *kv) { return kv->err; }

static int b64enc(const void *in, size_t n, char *out, size_t cap)
{
	if (sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL) > cap)
		return -1;
	sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

/* Decodes a base64 JSON string into a NUL-terminated buffer; -1 if it does not fit. */
static int b64dec(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	if (!in)
		return -1;
	if (sodium_base642bin((unsigned char *)out, cap - 1, in, strlen(in), NULL, &n, NULL,
	                      sodium_base64_VARIANT_ORIGINAL))
		return -1;
	out[n] = 0;
	return 0;
}

/* int64 fields come as JSON strings from the gateway (absent = 0). */
static int64_t jint(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	return 0;
}

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct buf *b = arg;
	size_t len = sz * n;
	if (b->len + len + 1 > b->cap) {
		size_t cap = (b->len + len + 1) * 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return 0;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
	b->p[b->len] = 0;
	return len;
}

/* A TLS file the user named: kept (for every connection), or -1 with err naming the flag. */
static int tls_file(const char *path, const char *flag, char *dst, char *err, size_t errlen)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "r");
	if (!f || strlen(path) >= PATH_MAX) {
		snprintf(err, errlen, "%s %s: %s", flag, path, f ? "path too long" : strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	fclose(f);
	memcpy(dst, path, strlen(path) + 1);
	return 0;
}

static void tls_opts(const struct etcdkv *kv, CURL *c)
{
	if (kv->cacert[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, kv->cacert);
	if (kv->cert[0])
		curl_easy_setopt(c, CURLOPT_SSLCERT, kv->cert);
	if (kv->key[0])
		curl_easy_setopt(c, CURLOPT_SSLKEY, kv->key);
}

int etcdkv_open(const char *endpoints, const struct etcdkv_tls *tls, struct etcdkv **out,
                char *err, size_t errlen)
{
	struct etcdkv *kv = calloc(1, sizeof *kv);
	if (!kv) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	kv->pipe[0] = kv->pipe[1] = -1;
	if (tls && (tls_file(tls->cacert, "--etcd-cacert", kv->cacert, err, errlen) ||
	            tls_file(tls->cert, "--etcd-cert", kv->cert, err, errlen) ||
	            tls_file(tls->key, "--etcd-key", kv->key, err, errlen))) {
		free(kv);
		return -1;
	}
	if (!kv->cert[0] != !kv->key[0]) {
		snprintf(err, errlen, "--etcd-cert and --etcd-key: a client certificate needs both");
		free(kv);
		return -1;
	}
	const char *deflt = kv->cacert[0] || kv->cert[0] ? "https://" : "http://";
	const char *s = endpoints;
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t n = comma ? (size_t)(comma - s) : strlen(s);
		const char *scheme = deflt;
		if (n > 7 && strncmp(s, "http://", 7) == 0) {
			scheme = "http://";
			s += 7;
			n -= 7;
		} else if (n > 8 && strncmp(s, "https://", 8) == 0) {
			scheme = "https://";
			s += 8;
			n -= 8;
		}
		if (n == 0 || n >= 100 || kv->nep == EP_MAX) {
			snprintf(err, errlen, "--etcd %s: want [http[s]://]HOST:PORT[,...] (at most %d)",
			         endpoints, EP_MAX);
			free(kv);
			return -1;
		}
		snprintf(kv->ep[kv->nep++], sizeof kv->ep[0], "%s%.*s", scheme, (int)n, s);
		s += n + (comma ? 1 : 0);
		if (comma && !*s) {
			snprintf(err, errlen, "--etcd %s: empty endpoint", endpoints);
			free(kv);
			return -1;
		}
	}
	if (kv->nep == 0) {
		snprintf(err, errlen, "--etcd: no endpoint");
		free(kv);
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	kv->curl = curl_easy_init();
	pthread_mutex_init(&kv->mu, NULL);
	if (!kv->curl) {
		snprintf(err, errlen, "libcurl failed to initialize");
		free(kv);
		return -1;
	}
	*out = kv;
	return 0;
}

void etcdkv_close(struct etcdkv *kv)
{
	if (!kv)
		return;
	if (kv->watching) {
		kv->stop = 1;
		pthread_join(kv->thr, NULL);
	}
	if (kv->pipe[0] >= 0) {
		close(kv->pipe[0]);
		close(kv->pipe[1]);
	}
	etcdkv_begin(kv);
	free(kv->wline.p);
	curl_easy_cleanup(kv->curl);
	pthread_mutex_destroy(&kv->mu);
	free(kv);
}

/*
 * POSTs body to path on the current endpoint; the parsed answer, or NULL
 * with kv->err set.  An endpoint that refuses the connection is skipped at
 * once (nothing was sent); one that times out becomes not current either,
 * but the request fails: it may have been applied.
 */
static cJSON *post(struct etcdkv *kv, const char *path, const char *body)
{
	struct buf b = { 0 };
	for (int tries = 0; tries < kv->nep; tries++) {
		char url[256];
		snprintf(url, sizeof url, "%s%s", kv->ep[kv->cur], path);
		b.len = 0;
		curl_easy_reset(kv->curl);
		curl_easy_setopt(kv->curl, CURLOPT_URL, url);
		curl_easy_setopt(kv->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(kv->curl, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(kv->curl, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(kv->curl, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
		curl_easy_setopt(kv->curl, CURLOPT_TIMEOUT_MS, REQUEST_MS);
		curl_easy_setopt(kv->curl, CURLOPT_NOSIGNAL, 1L);
		tls_opts(kv, kv->curl);
		CURLcode rc = curl_easy_perform(kv->curl);
		long status = 0;
		curl_easy_getinfo(kv->curl, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 200) {
			cJSON *j = cJSON_Parse(b.p ? b.p : "");
			free(b.p);
			if (!j)
				snprintf(kv->err, sizeof kv->err, "etcd %s%s: unparsable answer",
				         kv->ep[kv->cur], path);
			return j;
		}
		if (rc == CURLE_OK) {
			/* e.g. 503 "etcdserver: request timed out" without quorum, or no leader */
			cJSON *j = cJSON_Parse(b.p ? b.p : "");
			const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
			snprintf(kv->err, sizeof kv->err, "etcd %s%s: HTTP %ld: %s", kv->ep[kv->cur], path,
			         status, cJSON_IsString(m) ? m->valuestring : "no message");
			cJSON_Delete(j);
			kv->cur = (kv->cur + 1) % kv->nep;
			break;
		}
		snprintf(kv->err, sizeof kv->err, "etcd %s%s: %s", kv->ep[kv->cur], path,
		         curl_easy_strerror(rc));
		kv->cur = (kv->cur + 1) % kv->nep;
		if (rc != CURLE_COULDNT_CONNECT)
			break;
	}
	free(b.p);
	return NULL;
}

void etcdkv_begin(struct etcdkv *kv)
{
	for (int i = 0; i < kv->nwr; i++)
		free(kv->wr[i].val);
	kv->nwr = kv->ntr = 0;
	kv->snap_rev = 0;
}

int etcdkv_writes(const struct etcdkv *kv) { return kv->nwr; }
int64_t etcdkv_revision(const struct etcdkv *kv) { return kv->snap_rev; }

static struct write *find_write(struct etcdkv *kv, const char *key)
{
	for (int i = 0; i < kv->nwr; i++)
		if (strcmp(kv->wr[i].key, key) == 0)
			return &kv->wr[i];
	return NULL;
}

/* A range request at the transaction's snapshot; the answer or NULL. */
static cJSON *range(struct etcdkv *kv, const char *key, const char *end, int limit)
{
	char k64[ETCDKV_KEY_MAX * 2], e64[ETCDKV_KEY_MAX * 2], body[700];
	if (b64enc(key, strlen(key), k64, sizeof k64) ||
	    (end && b64enc(end, strlen(end), e64, sizeof e64))) {
		snprintf(kv->err, sizeof kv->err, "etcd key %s: too long", key);
		return NULL;
	}
	snprintf(body, sizeof body, "{\"key\":\"%s\"%s%s%s,\"limit\":%d,\"revision\":%" PRId64 "}",
	         k64, end ? ",\"range_end\":\"" : "", end ? e64 : "", end ? "\"" : "", limit,
	         kv->snap_rev);
	cJSON *j = post(kv, "/v3/kv/range", body);
	if (j && !kv->snap_rev)
		kv->snap_rev = jint(cJSON_GetObjectItemCaseSensitive(j, "header"), "revision");
	return j;
}

int etcdkv_get(struct etcdkv *kv, const char *key, int track, char *val, size_t cap)
{
	struct write *w = find_write(kv, key);
	if (w) {
		if (!w->val)
			return 0;
		snprintf(val, cap, "%s", w->val);
		return 1;
	}
	cJSON *j = range(kv, key, NULL, 1);
	if (!j)
		return -1;
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(j, "kvs");
	const cJSON *it = cJSON_IsArray(kvs) ? cJSON_GetArrayItem(kvs, 0) : NULL;
	int found = it != NULL;
	int64_t mod = found ? jint(it, "mod_revision") : 0;
	if (found) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (b64dec(cJSON_IsString(v) ? v->valuestring : "", val, cap)) {
			snprintf(kv->err, sizeof kv->err, "etcd %s: value too long or not base64", key);
			cJSON_Delete(j);
			return -1;
		}
	}
	cJSON_Delete(j);
	if (track) {
		for (int i = 0; i < kv->ntr; i++)
			if (strcmp(kv->tr[i].key, key) == 0)
				return found;
		if (kv->ntr == TRACK_MAX) {
			snprintf(kv->err, sizeof kv->err, "etcd transaction: more than %d keys read", TRACK_MAX);
			return -1;
		}
		snprintf(kv->tr[kv->ntr].key, ETCDKV_KEY_MAX, "%s", key);
		kv->tr[kv->ntr++].mod_rev = mod;
	}
	return found;
}

int etcdkv_range(struct etcdkv *kv, const char *from, const char *end, int limit,
                 int (*fn)(const char *key, const char *val, void *arg), void *arg)
{
	cJSON *j = range(kv, from, end, limit);
	if (!j)
		return -1;
	const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(j, "kvs"), *it;
	int n = 0;
	static char k[ETCDKV_KEY_MAX], v[ETCDKV_VAL_MAX];
	cJSON_ArrayForEach(it, kvs) {
		const cJSON *jk = cJSON_GetObjectItemCaseSensitive(it, "key");
		const cJSON *jv = cJSON_GetObjectItemCaseSensitive(it, "value");
		if (b64dec(cJSON_IsString(jk) ? jk->valuestring : NULL, k, sizeof k) ||
		    b64dec(cJSON_IsString(jv) ? jv->valuestring : "", v, sizeof v)) {
			snprintf(kv->err, sizeof kv->err, "etcd range %s: bad key or value", from);
			cJSON_Delete(j);
			return -1;
		}
		n++;
		if (fn(k, v, arg))
			break;
	}
	cJSON_Delete(j);
	return n;
}

static int add_write(struct etcdkv *kv, const char *key, const char *val, int64_t lease)
{
	struct write *w = find_write(kv, key);
	if (!w) {
		if (kv->nwr == WRITE_MAX || strlen(key) >= ETCDKV_KEY_MAX) {
			snprintf(kv->err, sizeof kv->err, "etcd transaction: too many writes (%s)", key);
			return -1;
		}
		w = &kv->wr[kv->nwr++];
		snprintf(w->key, sizeof w->key, "%s", key);
		w->val = NULL;
	}
	free(w->val);
	w->val = val ? strdup(val) : NULL;
	w->lease = lease;
	return val && !w->val ? -1 : 0;
}

int etcdkv_put(struct etcdkv *kv, const char *key, const char *val, int64_t lease)
{
	return add_write(kv, key, val, lease);
}

int etcdkv_del(struct etcdkv *kv, const char *key) { return add_write(kv, key, NULL, 0); }

int etcdkv_commit(struct etcdkv *kv)
{
	if (kv->nwr == 0)
		return 0;    /* read-only: every read was linearizable at one revision */
	size_t cap = 256 + (size_t)(kv->ntr + kv->nwr) * (ETCDKV_KEY_MAX * 2 + 128) +
	             (size_t)kv->nwr * (ETCDKV_VAL_MAX * 4 / 3 + 8);
	char *body = malloc(cap), k64[ETCDKV_KEY_MAX * 2];
	char *v64 = malloc(ETCDKV_VAL_MAX * 4 / 3 + 8);
	if (!body || !v64) {
		free(body);
		free(v64);
		snprintf(kv->err, sizeof kv->err, "etcd transaction: out of memory");
		return -1;
	}
	size_t n = (size_t)snprintf(body, cap, "{\"compare\":[");
	for (int i = 0; i < kv->ntr; i++) {
		b64enc(kv->tr[i].key, strlen(kv->tr[i].key), k64, sizeof k64);
		n += (size_t)snprintf(body + n, cap - n, "%s{\"key\":\"%s\",\"target\":\"MOD\","
		                      "\"result\":\"EQUAL\",\"mod_revision\":\"%" PRId64 "\"}",
		                      i ? "," : "", k64, kv->tr[i].mod_rev);
	}
	n += (size_t)snprintf(body + n, cap - n, "],\"success\":[");
	for (int i = 0; i < kv->nwr; i++) {
		struct write *w = &kv->wr[i];
		b64enc(w->key, strlen(w->key), k64, sizeof k64);
		if (w->val) {
			if (b64enc(w->val, strlen(w->val), v64, ETCDKV_VAL_MAX * 4 / 3 + 8)) {
				snprintf(kv->err, sizeof kv->err, "etcd %s: value too long", w->key);
				free(body);
				free(v64);
				return -1;
			}
			n += (size_t)snprintf(body + n, cap - n,
			                      "%s{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\","
			                      "\"lease\":\"%" PRId64 "\"}}", i ? "," : "", k64, v64, w->lease);
		} else {
			n += (size_t)snprintf(body + n, cap - n,
			                      "%s{\"request_delete_range\":{\"key\":\"%s\"}}", i ? "," : "", k64);
		}
	}
	snprintf(body + n, cap - n, "]}");
	cJSON *j = post(kv, "/v3/kv/txn", body);
	free(body);
	free(v64);
	if (!j)
		return -1;
	int ok = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "succeeded"));
	cJSON_Delete(j);
	return ok ? 0 : 1;   /* the gateway leaves out "succeeded": false */
}

int64_t etcdkv_lease_grant(struct etcdkv *kv, int ttl)
{
	char body[64];
	snprintf(body, sizeof body, "{\"TTL\":%d}", ttl);
	cJSON *j = post(kv, "/v3/lease/grant", body);
	if (!j)
		return -1;
	int64_t id = jint(j, "ID");
	cJSON_Delete(j);
	return id > 0 ? id : -1;
}

int etcdkv_lease_keepalive(struct etcdkv *kv, int64_t id)
{
	char body[64];
	snprintf(body, sizeof body, "{\"ID\":\"%" PRId64 "\"}", id);
	cJSON *j = post(kv, "/v3/lease/keepalive", body);
	if (!j)
		return -1;
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "result");
	int64_t ttl = jint(r ? r : j, "TTL");
	cJSON_Delete(j);
	if (ttl <= 0)
		snprintf(kv->err, sizeof kv->err, "etcd lease %" PRId64 ": expired", id);
	return ttl > 0 ? 0 : -1;
}

/* ---- watch: a thread with its own connection, events queued for the main loop ---- */

static void push_event(struct etcdkv *kv, const cJSON *ev)
{
	struct etcdkv_event e = { 0 };
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(ev, "type");
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(ev, "kv");
	e.deleted = cJSON_IsString(t) && strcmp(t->valuestring, "DELETE") == 0;
	const cJSON *prev = cJSON_GetObjectItemCaseSensitive(ev, "prev_kv");
	const cJSON *src = e.deleted ? prev : k;
	const cJSON *jk = cJSON_GetObjectItemCaseSensitive(k, "key");
	const cJSON *jv = src ? cJSON_GetObjectItemCaseSensitive(src, "value") : NULL;
	const cJSON *jp = prev ? cJSON_GetObjectItemCaseSensitive(prev, "value") : NULL;
	e.revision = jint(k, "mod_revision");
	if (b64dec(cJSON_IsString(jk) ? jk->valuestring : NULL, e.key, sizeof e.key) ||
	    b64dec(cJSON_IsString(jv) ? jv->valuestring : "", e.val, sizeof e.val) ||
	    b64dec(cJSON_IsString(jp) ? jp->valuestring : "", e.prev, sizeof e.prev))
		return;
	pthread_mutex_lock(&kv->mu);
	if (e.revision >= kv->wrev)
		kv->wrev = e.revision + 1;
	if (kv->evlen < EVQ_MAX) {
		kv->evq[(kv->evhead + kv->evlen) % EVQ_MAX] = e;
		kv->evlen++;
	}
	pthread_mutex_unlock(&kv->mu);
	char c = 1;
	(void)!write(kv->pipe[1], &c, 1);
}

/* The gateway streams one JSON object per line. */
static size_t on_watch(char *p, size_t sz, size_t n, void *arg)
{
	struct etcdkv *kv = arg;
	struct buf *lp = &kv->wline;
	size_t len = sz * n;
	if (on_data(p, sz, n, lp) != len)
		return 0;
	char *nl;
	while ((nl = memchr(lp->p, '\n', lp->len))) {
		*nl = 0;
		cJSON *j = cJSON_Parse(lp->p);
		const cJSON *r = j ? cJSON_GetObjectItemCaseSensitive(j, "result") : NULL, *ev;
		const cJSON *evs = r ? cJSON_GetObjectItemCaseSensitive(r, "events") : NULL;
		cJSON_ArrayForEach(ev, evs)
			push_event(kv, ev);
		int cancelled = r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "canceled"));
		cJSON_Delete(j);
		size_t rest = lp->len - (size_t)(nl + 1 - lp->p);
		memmove(lp->p, nl + 1, rest);
		lp->len = rest;
		lp->p[rest] = 0;
		if (cancelled)
			return 0;
	}
	return len;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
	(void)a, (void)b, (void)c, (void)d;
	return ((struct etcdkv *)arg)->stop;
}

static void *watch_main(void *arg)
{
	struct etcdkv *kv = arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);    /* signals are the main loop's */
	CURL *c = curl_easy_init();
	int ep = kv->cur;
	while (c && !kv->stop) {
		char url[256], k64[ETCDKV_KEY_MAX * 2], e64[ETCDKV_KEY_MAX * 2], body[700];
		char end[ETCDKV_KEY_MAX];
		snprintf(end, sizeof end, "%s", kv->wprefix);
		end[strlen(end) - 1]++;        /* the prefix's range end: last byte + 1 */
		b64enc(kv->wprefix, strlen(kv->wprefix), k64, sizeof k64);
		b64enc(end, strlen(end), e64, sizeof e64);
		pthread_mutex_lock(&kv->mu);
		int64_t from = kv->wrev;
		pthread_mutex_unlock(&kv->mu);
		snprintf(body, sizeof body, "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\","
		         "\"start_revision\":\"%" PRId64 "\",\"prev_kv\":true}}", k64, e64, from);
		snprintf(url, sizeof url, "%s/v3/watch", kv->ep[ep]);
		kv->wline.len = 0;            /* a new stream: nothing left of the old one */
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_watch);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, kv);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_MS);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, kv);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		/* a member cut off from the others keeps the stream open but silent:
		 * at most this long on one member, then the next */
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
		tls_opts(kv, c);
		curl_easy_perform(c);
		if (kv->stop)
			break;
		ep = (ep + 1) % kv->nep;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	curl_easy_cleanup(c);
	return NULL;
}

int etcdkv_watch_start(struct etcdkv *kv, const char *prefix, int64_t from_rev)
{
	if (!*prefix || strlen(prefix) >= ETCDKV_KEY_MAX || pipe2(kv->pipe, O_CLOEXEC | O_NONBLOCK)) {
		snprintf(kv->err, sizeof kv->err, "etcd watch %s: cannot start", prefix);
		return -1;
	}
	snprintf(kv->wprefix, sizeof kv->wprefix, "%s", prefix);
	kv->wrev = from_rev;
	if (pthread_create(&kv->thr, NULL, watch_main, kv)) {
		snprintf(kv->err, sizeof kv->err, "etcd watch %s: no thread", prefix);
		return -1;
	}
	kv->watching = 1;
	return 0;
}

int etcdkv_watch_fd(struct etcdkv *kv) { return kv->pipe[0]; }

int etcdkv_watch_next(struct etcdkv *kv, struct etcdkv_event *ev)
{
	char c[64];
	int got = 0;
	pthread_mutex_lock(&kv->mu);
	if (kv->evlen) {
		*ev = kv->evq[kv->evhead];
		kv->evhead = (kv->evhead + 1) % EVQ_MAX;
		kv->evlen--;
		got = 1;
	}
	if (!kv->evlen)
		while (read(kv->pipe[0], c, sizeof c) > 0)
			;
	pthread_mutex_unlock(&kv->mu);
	return got;
}
