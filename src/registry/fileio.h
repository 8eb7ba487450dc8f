/*
 * fileio.h: the two steps of writing a state file durably, shared by keys.c and seeds.c:
 * every byte written (EINTR retried) and the directory synced after the rename or link
 * that made the file's name.
 */
#ifndef MESHNAME_REGISTRY_FILEIO_H
#define MESHNAME_REGISTRY_FILEIO_H

#include <stddef.h>

/* Writes all n bytes of p to fd. 0 or -errno. */
int file_write_all(int fd, const void *p, size_t n);

/* fsync(2) of the directory dir, so that a new name in it survives a crash. 0 or -errno. */
int file_fsync_dir(const char *dir);

#endif
