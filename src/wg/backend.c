/*
 * backend.c: one way to get and set a WireGuard device, chosen as `wg` chooses (a live
 * userspace API socket first, else the kernel over generic netlink). Only the choice
 * lives here; the protocols are uapi.c's and netlink.c's. Never logs.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "meshname/wg.h"

const char *wg_backend_name(enum wg_backend backend)
{
	switch (backend) {
	case WG_BACKEND_USERSPACE:
		return "userspace";
	case WG_BACKEND_KERNEL:
		return "kernel";
	default:
		return "none";
	}
}

/* No socket, or a stale one nobody listens on: `wg` then asks the kernel. */
static bool no_userspace(int r)
{
	return r == -ENOENT || r == -ECONNREFUSED;
}

/* Neither the kernel's family nor an interface of that name: "not there" to the caller. */
static int kernel_missing(int r)
{
	return r == -EPROTONOSUPPORT || r == -ENODEV ? -ENOENT : r;
}

int wg_backend_get(const char *uapi_dir, const char *ifname, int timeout_ms, struct wg_device *dev,
		   enum wg_backend *used)
{
	enum wg_backend b = WG_BACKEND_USERSPACE;
	int r = wg_uapi_get(uapi_dir != NULL ? uapi_dir : WG_UAPI_DIR, ifname, timeout_ms, dev);

	if (no_userspace(r)) {
		b = WG_BACKEND_KERNEL;
		r = kernel_missing(wg_kernel_get(ifname, dev));
	}
	if (used != NULL)
		*used = r == -ENOENT ? WG_BACKEND_NONE : b;
	return r;
}

int wg_backend_set(const char *uapi_dir, const char *ifname, int timeout_ms,
		   const struct wg_device *dev, enum wg_backend *used)
{
	enum wg_backend b = WG_BACKEND_USERSPACE;
	int r = wg_uapi_set(uapi_dir != NULL ? uapi_dir : WG_UAPI_DIR, ifname, timeout_ms, dev);

	if (no_userspace(r)) {
		b = WG_BACKEND_KERNEL;
		r = kernel_missing(wg_kernel_set(ifname, dev, NULL));
	}
	if (used != NULL)
		*used = r == -ENOENT ? WG_BACKEND_NONE : b;
	return r;
}
