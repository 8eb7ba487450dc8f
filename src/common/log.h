/*
 * log.h: logging for meshnamed (STYLE.md "Logging"): stderr in the foreground (-d, how
 * systemd runs it), syslog otherwise. Engines never log; dispatch code does, with
 * context. Never pass a secret to these functions.
 */
#ifndef MESHNAME_COMMON_LOG_H
#define MESHNAME_COMMON_LOG_H

#include <stdbool.h>

void log_init(const char *ident, bool foreground, bool debug);
void log_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2))); /* adds strerror(errno) */
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Only at start-up or on a broken internal invariant, never because of network input. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
