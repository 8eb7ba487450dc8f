/*
 * wg_bench.c: the WireGuard peer manager's benchmark (issue 4): 1,000 peers reconciled
 * into an empty userspace interface (our UAPI set plus a verifying get) next to `wg setconf`
 * of the same peers; one changed peer among 1,000 (get, reconcile, set, verify) and proof
 * that no other peer was touched; and, on the virtual clock, the time from a better
 * endpoint appearing to traffic using it. It talks only to the interface it is given
 * (bench/wg_bench.sh makes one in a namespace of its own) and prints figures; it fails
 * only when it cannot measure (no interface, a set refused, a device that differs).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "meshname/snapshot.h"
#include "meshname/wg.h"
#include "meshname/wgmanage.h"

#define UAPI_TIMEOUT_MS 5000
#define BASE_PORT 52000 /* peers' endpoints: 203.0.113.(i % 250):(BASE_PORT + i / 250) */
#define MAX_RUNS 101

struct bench {
	const char *ifname, *uapi_dir, *wg;
	uint32_t n_hosts; /* peers + this host */
	int runs;
	char conf[256]; /* the `wg setconf` file */
	uint8_t self_key[REC_KEY_SIZE];
	uint8_t wg_sk[WG_KEY_LEN];
	uint16_t listen_port;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double max_of(const double *v, int n)
{
	double m = v[0];

	for (int i = 1; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

static const char *verdict(double value, double target)
{
	return value <= target ? "ok" : "over";
}

/* ---- the mesh: n hosts with real X25519 keys, host 0 is this host ------------------- */

static void host_seed(uint32_t i, uint8_t seed[32])
{
	memset(seed, 0, 32);
	memcpy(seed, "meshname-wg-bench", 17);
	seed[28] = (uint8_t)(i >> 24);
	seed[29] = (uint8_t)(i >> 16);
	seed[30] = (uint8_t)(i >> 8);
	seed[31] = (uint8_t)i;
}

/* The endpoint host i publishes (kind public, so nobody needs a keepalive: the bench sends
 * no packet at all); generation g > 0 moves it to another port. */
static void host_endpoint(uint32_t i, unsigned g, struct rec_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->kind = EP_PUBLIC;
	ep->family = 4;
	ep->addr[0] = 203;
	ep->addr[1] = 0;
	ep->addr[2] = 113;
	ep->addr[3] = (uint8_t)(1 + i % 250);
	ep->port = (uint16_t)(BASE_PORT + i / 250 + 100 * g);
}

/* A snapshot of n hosts; host `moved` (none if >= n) publishes its endpoint of generation g. */
static struct snapshot *make_snapshot(const struct bench *b, uint32_t moved, unsigned g)
{
	static const uint8_t mesh_id[REC_ID_SIZE] = { 0x6d, 0x6e, 0x62 };
	struct snapshot_builder *sb;
	struct snapshot *s = NULL;
	struct rec_root root;
	struct rec_endpoint *eps;
	uint8_t *wg_pks;
	char name[32];

	eps = calloc(b->n_hosts, sizeof(*eps));
	wg_pks = calloc(b->n_hosts, WG_KEY_LEN);
	if (eps == NULL || wg_pks == NULL)
		goto out;
	memset(&root, 0, sizeof(root));
	snprintf(root.name, sizeof(root.name), "bench");
	snprintf(root.zone, sizeof(root.zone), "mesh");
	root.ipv4[0] = 100;
	root.ipv4[1] = 64;
	root.ipv4_len = 10;
	root.ipv6[0] = 0xfd;
	root.max_cert_lifetime = 86400;
	root.threshold = 1;
	root.n_admins = 1;
	sb = snapshot_builder_new(&root, mesh_id, 1);
	if (sb == NULL)
		goto out;
	for (uint32_t i = 0; i < b->n_hosts; i++) {
		struct snapshot_host h;
		uint8_t seed[32], sk[32];

		memset(&h, 0, sizeof(h));
		snprintf(name, sizeof(name), "host%05u", i);
		h.name = name;
		h.ipv4[0] = 100;
		h.ipv4[1] = 64;
		h.ipv4[2] = (uint8_t)(i >> 8);
		h.ipv4[3] = (uint8_t)i;
		h.ipv6[0] = 0xfd;
		h.ipv6[14] = (uint8_t)(i >> 8);
		h.ipv6[15] = (uint8_t)i;
		host_seed(i, seed);
		memcpy(h.host_key, seed, REC_KEY_SIZE);
		/* A real X25519 key: wireguard-go computes a shared secret with each peer. */
		crypto_generichash(sk, sizeof(sk), seed, sizeof(seed), NULL, 0);
		crypto_scalarmult_base(wg_pks + (size_t)i * WG_KEY_LEN, sk);
		memcpy(h.wg_key, wg_pks + (size_t)i * WG_KEY_LEN, WG_KEY_LEN);
		sodium_memzero(sk, sizeof(sk));
		h.serial = 1;
		h.not_before = 1000;
		h.not_after = 4000000000u;
		host_endpoint(i, i == moved ? g : 0, &eps[i]);
		h.endpoints_seq = 1;
		h.listen_port = 51820;
		h.n_endpoints = 1;
		h.endpoints = &eps[i];
		if (snapshot_builder_add_host(sb, &h) < 0) {
			snapshot_builder_free(sb);
			goto out;
		}
	}
	if (snapshot_builder_finish(sb, &s) < 0)
		s = NULL;
out:
	free(eps);
	free(wg_pks);
	return s;
}

/* The manager's endpoint choice reduced to what the bench needs: the first endpoint. */
static bool first_endpoint(void *ctx, const struct snapshot_host *peer,
			   struct sockaddr_storage *endpoint)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)endpoint;

	(void)ctx;
	if (peer->n_endpoints == 0)
		return false;
	memset(endpoint, 0, sizeof(*endpoint));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, peer->endpoints[0].addr, 4);
	sin->sin_port = htons(peer->endpoints[0].port);
	return true;
}

/* ---- device helpers ------------------------------------------------------------------- */

/* Removes every peer (replace_peers with none). */
static int device_empty(const struct bench *b)
{
	struct wg_device empty = { 0 };

	snprintf(empty.name, sizeof(empty.name), "%s", b->ifname);
	empty.flags = WG_DEVICE_REPLACE_PEERS;
	return wg_uapi_set(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &empty);
}

/* 0 when dev holds exactly desired's peers with their settings (a reconcile finds nothing). */
static int device_matches(const struct wg_device *dev, const struct wg_device *desired)
{
	struct wg_device again = { 0 };
	struct wg_reconcile_result res = { 0 };
	int r = wg_reconcile(dev, desired, 0, &again, &res);

	if (r == 0 && (again.n_peers != 0 || dev->n_peers != desired->n_peers))
		r = -EPROTO;
	wg_device_clear(&again);
	return r;
}

static void b64(const uint8_t key[32], char out[45])
{
	sodium_bin2base64(out, 45, key, 32, sodium_base64_VARIANT_ORIGINAL);
}

/* The same peers as a wg(8) configuration file, for `wg setconf`. */
static int write_conf(const struct bench *b, const struct wg_device *desired)
{
	char key[45], a[INET6_ADDRSTRLEN];
	FILE *f = fopen(b->conf, "w");

	if (f == NULL)
		return -errno;
	b64(b->wg_sk, key);
	fprintf(f, "[Interface]\nPrivateKey = %s\nListenPort = %u\n", key, b->listen_port);
	sodium_memzero(key, sizeof(key));
	for (size_t i = 0; i < desired->n_peers; i++) {
		const struct wg_peer *p = &desired->peers[i];
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&p->endpoint;

		b64(p->public_key, key);
		fprintf(f, "\n[Peer]\nPublicKey = %s\nAllowedIPs = ", key);
		for (size_t j = 0; j < p->n_allowedips; j++) {
			const struct wg_allowedip *ip = &p->allowedips[j];

			inet_ntop(ip->family, ip->addr, a, sizeof(a));
			fprintf(f, "%s%s/%u", j > 0 ? ", " : "", a, ip->cidr);
		}
		if (p->flags & WG_PEER_HAS_ENDPOINT)
			fprintf(f, "\nEndpoint = %s:%u",
				inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a)),
				ntohs(sin->sin_port));
		if (p->persistent_keepalive != 0)
			fprintf(f, "\nPersistentKeepalive = %u", p->persistent_keepalive);
		fprintf(f, "\n");
	}
	return fclose(f) == 0 ? 0 : -errno;
}

/* Runs `wg setconf IFACE FILE` and waits for it. */
static int run_wg_setconf(const struct bench *b)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl(b->wg, b->wg, "setconf", b->ifname, b->conf, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

/* ---- (a) 1,000 peers into an empty interface ------------------------------------------- */

/* One reconcile round as the manager's tick does it: get, desired, reconcile (cap), set
 * with our key and port, verifying get. *deferred: what the cap left for the next round. */
static int reconcile_round(const struct bench *b, const struct snapshot *s, size_t cap,
			   size_t *n_changed, size_t *deferred, double t[4])
{
	struct wg_device cur = { 0 }, desired = { 0 }, changes = { 0 }, after = { 0 };
	struct wg_reconcile_result res = { 0 };
	double t0 = now_ms();
	int r;

	r = wg_uapi_get(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &cur);
	if (r < 0)
		goto out;
	t[0] += now_ms() - t0;
	t0 = now_ms();
	r = wg_desired_from_snapshot(s, b->self_key, first_endpoint, NULL, &desired);
	if (r == 0)
		r = wg_reconcile(&cur, &desired, cap, &changes, &res);
	if (r < 0)
		goto out;
	if (cur.listen_port != b->listen_port) {
		memcpy(changes.private_key, b->wg_sk, WG_KEY_LEN);
		changes.listen_port = b->listen_port;
		changes.flags |= WG_DEVICE_HAS_PRIVATE_KEY | WG_DEVICE_HAS_LISTEN_PORT;
	}
	t[1] += now_ms() - t0;
	t0 = now_ms();
	if (changes.n_peers > 0 || changes.flags != 0)
		r = wg_uapi_set(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &changes);
	if (r < 0)
		goto out;
	t[2] += now_ms() - t0;
	t0 = now_ms();
	r = wg_uapi_get(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &after);
	t[3] += now_ms() - t0;
	if (r == 0 && res.n_deferred == 0)
		r = device_matches(&after, &desired);
	*n_changed = changes.n_peers;
	*deferred = res.n_deferred;
out:
	wg_device_clear(&cur);
	wg_device_clear(&desired);
	wg_device_clear(&changes);
	wg_device_clear(&after);
	return r;
}

static int bench_fill(struct bench *b, const struct snapshot *s)
{
	double ours[MAX_RUNS], capped[MAX_RUNS], wg[MAX_RUNS], wg_verify[MAX_RUNS];
	double part[4] = { 0 };
	int rounds = 0, r;
	struct wg_device desired = { 0 }, after = { 0 };

	r = wg_desired_from_snapshot(s, b->self_key, first_endpoint, NULL, &desired);
	if (r == 0)
		r = write_conf(b, &desired);
	if (r < 0) {
		fprintf(stderr, "wg_bench: cannot write %s: %s\n", b->conf, strerror(-r));
		goto out;
	}
	for (int run = 0; run < b->runs; run++) {
		double t[4] = { 0 }, t0;
		size_t n = 0, deferred = 0;

		/* Ours, no cap: what the library can do in one round. */
		r = device_empty(b);
		if (r < 0)
			goto fail;
		t0 = now_ms();
		r = reconcile_round(b, s, 0, &n, &deferred, t);
		ours[run] = now_ms() - t0;
		if (r < 0)
			goto fail;
		if (n != b->n_hosts - 1 || deferred != 0) {
			r = -EPROTO;
			goto fail;
		}
		for (int i = 0; i < 4; i++)
			part[i] += t[i];

		/* Ours with the manager's cap per tick, rounds back to back (the daemon waits
		 * a tick between them). */
		r = device_empty(b);
		if (r < 0)
			goto fail;
		t0 = now_ms();
		rounds = 0;
		do {
			r = reconcile_round(b, s, WG_RECONCILE_MAX_CHANGES, &n, &deferred, t);
			rounds++;
		} while (r == 0 && deferred > 0 && rounds < 100);
		capped[run] = now_ms() - t0;
		if (r < 0)
			goto fail;

		/* The reference: wg setconf of the same peers, then the same verifying get. */
		r = device_empty(b);
		if (r < 0)
			goto fail;
		t0 = now_ms();
		r = run_wg_setconf(b);
		wg[run] = now_ms() - t0;
		if (r < 0) {
			fprintf(stderr, "wg_bench: %s setconf %s failed\n", b->wg, b->ifname);
			goto out;
		}
		r = wg_uapi_get(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &after);
		wg_verify[run] = now_ms() - t0;
		if (r == 0)
			r = device_matches(&after, &desired);
		wg_device_clear(&after);
		if (r < 0)
			goto fail;
	}
	{
		double m_ours = median(ours, b->runs), m_capped = median(capped, b->runs);
		double m_wg = median(wg, b->runs), m_wgv = median(wg_verify, b->runs);

		printf("(a) %u peers into an empty interface, median of %d runs\n", b->n_hosts - 1,
		       b->runs);
		printf("  %-58s %10s %8s %s\n", "figure", "ms", "target", "");
		printf("  %-58s %10.1f %8s %s\n", "ours: get + reconcile + set + verifying get",
		       m_ours, "1000", verdict(m_ours, 1000));
		printf("  %-58s %10.1f\n", "  of which get of the empty device", part[0] / b->runs);
		printf("  %-58s %10.1f\n", "  of which desired peers + reconcile (pure)",
		       part[1] / b->runs);
		printf("  %-58s %10.1f\n", "  of which UAPI set", part[2] / b->runs);
		printf("  %-58s %10.1f\n", "  of which verifying get", part[3] / b->runs);
		printf("  %-58s %10.1f\n", "wg setconf (process start, parse, set)", m_wg);
		printf("  %-58s %10.1f\n", "wg setconf + the same verifying get", m_wgv);
		printf("  %-58s %10.2f\n", "ratio ours / (wg setconf + get)", m_ours / m_wgv);
		printf("  %-58s %10.2f\n", "ratio ours / wg setconf alone", m_ours / m_wg);
		printf("  %-33s%2d rounds of %3d %10.1f %8s %s\n",
		       "ours with the manager's cap:", rounds, WG_RECONCILE_MAX_CHANGES, m_capped,
		       "", "(back to back)");
		/* meshnamed runs the tick after a set at once, so its capped rounds run back to
		 * back too (the event loop serves DNS between them). */
		printf("  %-58s %10.1f %8s %s\n", "  in meshnamed (rounds back to back)", m_capped,
		       "1000", verdict(m_capped, 1000));
	}
	r = 0;
	goto out;
fail:
	fprintf(stderr, "wg_bench: filling %s failed: %s\n", b->ifname, strerror(-r));
out:
	wg_device_clear(&desired);
	return r;
}

/* ---- (b) one changed peer among 1,000 ------------------------------------------------------ */

/* The peer with wg key key in dev, or NULL. */
static const struct wg_peer *find_peer(const struct wg_device *dev, const uint8_t *key)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		if (memcmp(dev->peers[i].public_key, key, WG_KEY_LEN) == 0)
			return &dev->peers[i];
	return NULL;
}

static bool peer_same(const struct wg_peer *a, const struct wg_peer *b)
{
	if (a->n_allowedips != b->n_allowedips ||
	    a->persistent_keepalive != b->persistent_keepalive ||
	    a->last_handshake_sec != b->last_handshake_sec || a->rx_bytes != b->rx_bytes ||
	    a->tx_bytes != b->tx_bytes || !wg_sockaddr_equal(&a->endpoint, &b->endpoint))
		return false;
	return memcmp(a->allowedips, b->allowedips, a->n_allowedips * sizeof(*a->allowedips)) == 0;
}

/* Peers of before and after that differ; the changed one's key is put in *key. */
static size_t peers_differing(const struct wg_device *before, const struct wg_device *after,
			      uint8_t key[WG_KEY_LEN])
{
	size_t n = 0;

	for (size_t i = 0; i < before->n_peers; i++) {
		const struct wg_peer *p = find_peer(after, before->peers[i].public_key);

		if (p == NULL || !peer_same(&before->peers[i], p)) {
			memcpy(key, before->peers[i].public_key, WG_KEY_LEN);
			n++;
		}
	}
	return n + (after->n_peers > before->n_peers ? after->n_peers - before->n_peers : 0);
}

static int bench_one_change(struct bench *b, struct snapshot *base)
{
	const uint32_t moved = b->n_hosts / 2;
	struct snapshot *snaps[2] = { NULL, NULL };
	double total[MAX_RUNS], applied[MAX_RUNS], pure[MAX_RUNS], get[MAX_RUNS], set[MAX_RUNS];
	double verify[MAX_RUNS];
	size_t set_bytes = 0, max_touched = 0, max_changes = 0;
	uint8_t moved_key[WG_KEY_LEN];
	int r = -ENOMEM;

	snaps[0] = make_snapshot(b, moved, 1);
	snaps[1] = make_snapshot(b, moved, 2);
	if (snaps[0] == NULL || snaps[1] == NULL)
		goto out;
	{
		char name[32];
		const struct snapshot_host *h;

		snprintf(name, sizeof(name), "host%05u", moved);
		h = snapshot_lookup_name(base, name, strlen(name));
		if (h == NULL) {
			r = -ENOENT;
			goto fail;
		}
		memcpy(moved_key, h->wg_key, WG_KEY_LEN);
	}
	/* The device holds the 1,000 peers of base. */
	{
		double t[4] = { 0 };
		size_t n, deferred;

		r = device_empty(b);
		if (r == 0)
			r = reconcile_round(b, base, 0, &n, &deferred, t);
		if (r < 0)
			goto fail;
	}
	for (int run = 0; run < b->runs; run++) {
		struct wg_device before = { 0 }, desired = { 0 }, changes = { 0 }, after = { 0 };
		struct wg_reconcile_result res = { 0 };
		uint8_t key[WG_KEY_LEN] = { 0 };
		size_t touched;
		double t0 = now_ms(), p0;
		char *text = NULL;
		size_t len = 0;

		r = wg_uapi_get(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &before);
		p0 = now_ms();
		get[run] = p0 - t0;
		if (r == 0)
			r = wg_desired_from_snapshot(snaps[run % 2], b->self_key, first_endpoint,
						     NULL, &desired);
		if (r == 0)
			r = wg_reconcile(&before, &desired, WG_RECONCILE_MAX_CHANGES, &changes,
					 &res);
		pure[run] = now_ms() - p0;
		p0 = now_ms();
		if (r == 0)
			r = wg_uapi_set(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &changes);
		set[run] = now_ms() - p0;
		applied[run] = now_ms() - t0;
		p0 = now_ms();
		if (r == 0)
			r = wg_uapi_get(b->uapi_dir, b->ifname, UAPI_TIMEOUT_MS, &after);
		verify[run] = now_ms() - p0;
		total[run] = now_ms() - t0;
		if (r == 0)
			r = device_matches(&after, &desired);
		if (r == 0 && wg_uapi_format_set(&changes, &text, &len) == 0)
			set_bytes = len;
		free(text);
		touched = r == 0 ? peers_differing(&before, &after, key) : 0;
		if (r == 0 && (changes.n_peers != 1 || touched != 1 ||
			       memcmp(key, moved_key, WG_KEY_LEN) != 0 ||
			       memcmp(changes.peers[0].public_key, moved_key, WG_KEY_LEN) != 0))
			r = -EPROTO;
		if (changes.n_peers > max_changes)
			max_changes = changes.n_peers;
		if (touched > max_touched)
			max_touched = touched;
		wg_device_clear(&before);
		wg_device_clear(&desired);
		wg_device_clear(&changes);
		wg_device_clear(&after);
		if (r < 0)
			goto fail;
	}
	{
		double m = median(applied, b->runs);

		printf("\n(b) one changed peer (host%05u's endpoint) among %u, median of %d runs\n",
		       moved, b->n_hosts - 1, b->runs);
		printf("  %-58s %10s %8s %s\n", "figure", "ms", "target", "");
		/* meshnamed's tick is get + reconcile + set; the change is on the device when the
		 * set returns. Its verifying get is the next tick's, run at once after it. */
		printf("  %-58s %10.2f %8s %s\n", "get + reconcile + set (change on the device)", m,
		       "10", verdict(m, 10));
		printf("  %-58s %10.2f\n", "  with meshnamed's verifying get (next tick, at once)",
		       median(total, b->runs));
		printf("  %-58s %10.2f\n", "  of which the get of 1,000 peers (median)",
		       median(get, b->runs));
		printf("  %-58s %10.2f\n", "  of which desired peers + reconcile (pure, median)",
		       median(pure, b->runs));
		printf("  %-58s %10.2f\n", "  of which the UAPI set of one peer (median)",
		       median(set, b->runs));
		printf("  %-58s %10.2f\n", "  of which the verifying get (median)",
		       median(verify, b->runs));
		printf("  %-58s %10zu\n", "peers in the change set (every run)", max_changes);
		printf("  %-58s %10zu\n", "bytes of the UAPI set request", set_bytes);
		printf("  %-58s %10zu\n", "peers that differ on the device before/after, at most",
		       max_touched);
		printf("  (the other %u peers: endpoint, allowed IPs, keepalive, handshake, rx/tx\n"
		       "  identical in the gets before and after every run)\n",
		       b->n_hosts - 2);
	}
	r = 0;
	goto out;
fail:
	fprintf(stderr, "wg_bench: one changed peer: %s\n", strerror(-r));
out:
	snapshot_unref(snaps[0]);
	snapshot_unref(snaps[1]);
	return r;
}

/* ---- (c) a better endpoint appearing, on the virtual clock ------------------------------- */

/*
 * One peer through a model of WireGuard, stepped each second like the manager's tick, with
 * traffic both ways all the time (a ping): tx grows every second, and rx too when the
 * device's endpoint is a working path (WireGuard keeps its session when only the endpoint
 * changes, so a new handshake comes only at rekey, 120 s after the last one).
 */
struct sim {
	struct wg_ep_state st;
	int64_t now, last_handshake;
	uint64_t tx, rx;
	struct sockaddr_storage dev, works[2];
};

static void sock_of(const struct rec_endpoint *ep, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, ep->addr, 4);
	sin->sin_port = htons(ep->port);
}

static void sim_step(struct sim *s, const struct rec_endpoint *c, size_t n,
		     const struct wg_local_net *local)
{
	struct wg_ep_seen seen = {
		.last_handshake = s->last_handshake,
		.tx_bytes = s->tx,
		.rx_bytes = s->rx,
		.endpoint = &s->dev,
	};
	struct sockaddr_storage want;

	if (wg_ep_update(&s->st, c, n, local, s->now, &seen, &want))
		s->dev = want;
}

static void sim_tick(struct sim *s, const struct rec_endpoint *c, size_t n,
		     const struct wg_local_net *local)
{
	bool works = wg_sockaddr_equal(&s->dev, &s->works[0]) ||
		     wg_sockaddr_equal(&s->dev, &s->works[1]);

	s->now++;
	s->tx += 180;
	if (works) {
		s->rx += 180;
		if (s->now - s->last_handshake >= 120)
			s->last_handshake = s->now;
	}
	sim_step(s, c, n, local);
}

/*
 * Steady on the public endpoint with a session `age` s old when the LAN one appears (a new
 * snapshot, reconciled at once). lan_works: the LAN path answers. *first: seconds to the
 * first set to LAN; *settled: seconds until the endpoint in use is the one it keeps for the
 * next hour (LAN when it works), or -1; *reverted: seconds until the first return to the
 * public endpoint after the LAN one was set, or -1.
 */
static void sim_run(bool lan_works, int age, int64_t *first, int64_t *settled, int64_t *reverted)
{
	static const struct rec_endpoint pub = { EP_PUBLIC, 4, { 203, 0, 113, 2 }, 51852 };
	static const struct rec_endpoint lan = { EP_LAN, 4, { 192, 0, 2, 2 }, 51852 };
	static const struct wg_local_prefix prefix = { AF_INET, 24, { 192, 0, 2, 1 } };
	const struct rec_endpoint before[] = { pub }, after[] = { pub, lan };
	const struct wg_local_net local = { 1, &prefix };
	struct sockaddr_storage lan_ss, pub_ss, final;
	struct sim s;
	int64_t appeared, last_change;

	memset(&s, 0, sizeof(s));
	wg_ep_init(&s.st);
	sock_of(&lan, &lan_ss);
	sock_of(&pub, &pub_ss);
	s.works[0] = pub_ss;
	if (lan_works)
		s.works[1] = lan_ss;
	s.now = 1700000000;
	s.last_handshake = s.now - age;
	sim_step(&s, before, 1, &local);
	for (int i = 0; i < 300; i++)
		sim_tick(&s, before, 1, &local);
	s.last_handshake = s.now - age;
	appeared = s.now;
	last_change = s.now;
	*first = -1;
	sim_step(&s, after, 2, &local);
	final = lan_works ? lan_ss : pub_ss;
	*reverted = -1;
	for (int i = 0; i < 3600; i++) {
		struct sockaddr_storage was = s.dev;

		if (*first < 0 && wg_sockaddr_equal(&s.dev, &lan_ss))
			*first = s.now - appeared;
		sim_tick(&s, after, 2, &local);
		if (!wg_sockaddr_equal(&was, &s.dev))
			last_change = s.now;
		if (*reverted < 0 && *first >= 0 && wg_sockaddr_equal(&s.dev, &pub_ss))
			*reverted = s.now - appeared;
	}
	*settled = wg_sockaddr_equal(&s.dev, &final) ? last_change - appeared : -1;
}

static void bench_endpoint_sim(void)
{
	double first[2][120], settled[120], reverted[120];
	int n_settled = 0, n_reverted = 0;

	for (int age = 0; age < 120; age++) {
		int64_t f, k, v;

		sim_run(true, age, &f, &k, &v);
		first[0][age] = (double)f;
		if (k >= 0 && v < 0)
			settled[n_settled++] = (double)k;
		sim_run(false, age, &f, &k, &v);
		first[1][age] = (double)f;
		if (v >= 0)
			reverted[n_reverted++] = (double)v;
	}
	printf("\n(c) a better (LAN) endpoint appearing while a ping uses the public one, on the "
	       "virtual\n    clock (1 s ticks; the session 0..119 s old when it appears: 120 "
	       "runs each)\n");
	printf("  %-58s %10s %8s %s\n", "figure", "s", "target", "");
	printf("  %-58s %10.0f %8s %s\n", "LAN works: LAN endpoint set (traffic uses it), max",
	       max_of(first[0], 120), "10", verdict(max_of(first[0], 120), 10));
	if (n_settled == 120)
		printf("  %-58s %10.0f %8s %s\n", "LAN works: kept for good from, max",
		       max_of(settled, 120), "10", verdict(max_of(settled, 120), 10));
	else
		printf("  %-58s %10s %8s over (%d of 120 runs leave the LAN endpoint)\n",
		       "LAN works: kept for good from", "-", "10", 120 - n_settled);
	printf("  %-58s %10.0f\n", "LAN unreachable: LAN endpoint set, max", max_of(first[1], 120));
	if (n_reverted == 120)
		printf("  %-58s %10.0f\n",
		       "LAN unreachable: back on the public endpoint after, max",
		       max_of(reverted, 120));
	else
		printf("  %-58s %10s %8s (%d of 120 runs stay on the dead LAN endpoint)\n",
		       "LAN unreachable: back on the public endpoint after", "-", "",
		       120 - n_reverted);
	printf("  (first use: the device's endpoint is the LAN one, so the next packet goes there;\n"
	       "  kept for good: no endpoint change after it in the hour simulated)\n");
}

/* ---- main ------------------------------------------------------------------------------ */

static int usage(void)
{
	fprintf(stderr, "usage: wg_bench --iface NAME [--uapi-dir DIR] [--peers N] [--runs N] "
			"[--wg PATH] [--sim-only]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iface", required_argument, NULL, 'i' },
		{ "uapi-dir", required_argument, NULL, 'u' },
		{ "peers", required_argument, NULL, 'p' },
		{ "runs", required_argument, NULL, 'r' },
		{ "wg", required_argument, NULL, 'w' },
		{ "sim-only", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = {
		.uapi_dir = WG_UAPI_DIR, .wg = "/usr/bin/wg", .n_hosts = 1001, .runs = 7
	};
	struct snapshot *s = NULL;
	bool sim_only = false;
	char dir[] = "/tmp/wg_bench.XXXXXX";
	int c, r = 1;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			b.ifname = optarg;
			break;
		case 'u':
			b.uapi_dir = optarg;
			break;
		case 'p':
			b.n_hosts = (uint32_t)strtoul(optarg, NULL, 10) + 1;
			break;
		case 'r':
			b.runs = atoi(optarg);
			break;
		case 'w':
			b.wg = optarg;
			break;
		case 's':
			sim_only = true;
			break;
		default:
			return usage();
		}
	}
	if ((b.ifname == NULL && !sim_only) || b.n_hosts < 3 || b.n_hosts > 60000 || b.runs < 1 ||
	    b.runs > MAX_RUNS)
		return usage();
	if (sodium_init() < 0) {
		fprintf(stderr, "wg_bench: libsodium does not initialise\n");
		return 1;
	}
	if (sim_only) {
		bench_endpoint_sim();
		return 0;
	}
	if (mkdtemp(dir) == NULL) {
		perror("wg_bench: mkdtemp");
		return 1;
	}
	snprintf(b.conf, sizeof(b.conf), "%s/peers.conf", dir);
	host_seed(0, b.self_key);
	randombytes_buf(b.wg_sk, sizeof(b.wg_sk));
	b.wg_sk[0] &= 248;
	b.wg_sk[31] = (uint8_t)((b.wg_sk[31] & 127) | 64);
	b.listen_port = 51850;
	s = make_snapshot(&b, b.n_hosts, 0);
	if (s == NULL) {
		fprintf(stderr, "wg_bench: cannot build a snapshot of %u hosts\n", b.n_hosts);
		goto out;
	}
	{
		struct wg_device probe = { 0 };

		r = wg_uapi_get(b.uapi_dir, b.ifname, UAPI_TIMEOUT_MS, &probe);
		wg_device_clear(&probe);
		if (r < 0) {
			fprintf(stderr, "wg_bench: cannot read interface %s in %s: %s\n", b.ifname,
				b.uapi_dir, strerror(-r));
			r = 1;
			goto out;
		}
	}
	r = 1;
	if (bench_fill(&b, s) < 0 || bench_one_change(&b, s) < 0)
		goto out;
	bench_endpoint_sim();
	r = 0;
out:
	device_empty(&b);
	snapshot_unref(s);
	sodium_memzero(b.wg_sk, sizeof(b.wg_sk));
	unlink(b.conf);
	rmdir(dir);
	return r;
}
