/*
 * zip.h - a small writer of zip archives whose members are STORED (method 0, not
 * compressed), for the Lambda function package (`gg lambda package`).  No
 * dependency beyond libc: CRC-32 is computed here.
 *
 * Layout written (PKWARE APPNOTE.TXT 6.3, sections 4.3.7, 4.3.12, 4.3.16; all
 * integers little-endian):
 *
 *   for each member, in the order added:
 *     local file header   50 4b 03 04            signature
 *                         u16 version needed     20 (2.0)
 *                         u16 flags              0x0800 (names are UTF-8 / bytes)
 *                         u16 method             0 (stored)
 *                         u16 time, u16 date     00:00:00, 1980-01-01 (0x0000, 0x0021):
 *                                                every archive of the same files is
 *                                                byte-identical
 *                         u32 crc-32             of the data (patched after copying)
 *                         u32 compressed size    = uncompressed size (patched)
 *                         u32 uncompressed size
 *                         u16 name length, u16 extra length (0)
 *                         name bytes
 *     data                the file's bytes, as they are
 *   central directory, one entry per member:
 *                         50 4b 01 02, u16 version made by 0x0314 (UNIX, 2.0),
 *                         u16 needed 20, flags, method, time, date, crc, sizes,
 *                         u16 name length, u16 extra 0, u16 comment 0, u16 disk 0,
 *                         u16 internal attributes 0, u32 external attributes
 *                         (st_mode << 16: permissions survive unzip and Lambda),
 *                         u32 offset of the local header, name bytes
 *   end of central directory: 50 4b 05 06, u16 disk 0, u16 disk of cd 0,
 *                         u16 entries here, u16 entries, u32 cd size, u32 cd offset,
 *                         u16 comment length 0
 *
 * Limits (no ZIP64): at most 65535 members, each member and the whole archive
 * below 4 GiB: -EFBIG beyond.  Names are relative ("lib/libc.so.6"), at most 65535
 * bytes, no leading or trailing '/', no empty or ".." component: -EINVAL.  Only regular files (a directory is
 * implied by the names below it).
 *
 * Ownership: struct zip_writer owns its descriptor and its table of entries; the
 * archive is written to "<path>.tmp" and renamed to path by zip_finish, so a failed
 * or aborted writer never leaves a partial archive under the final name.
 * zip_abort removes the temporary.  Errors: 0 or -errno; nothing prints.
 */
#ifndef GG_ZIP_H
#define GG_ZIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ZIP_MAX_ENTRIES 65535u

struct zip_entry {
	char *name;      /* owned */
	uint32_t crc, size, offset;
	uint32_t mode;   /* st_mode */
};

struct zip_writer {
	int fd;                  /* the temporary, or -1 */
	char *path, *tmp;        /* owned */
	uint64_t off;            /* bytes written so far */
	struct zip_entry *v;     /* owned, n <= ZIP_MAX_ENTRIES */
	size_t n, alloc;
};

#define ZIP_WRITER_INIT { .fd = -1, .path = NULL, .tmp = NULL, .off = 0, .v = NULL, .n = 0, .alloc = 0 }

/* CRC-32 (ISO-HDLC, polynomial 0xEDB88320) of buf continued from crc (0 to start). */
uint32_t zip_crc32(uint32_t crc, const void *buf, size_t len);

/* Start an archive that zip_finish will put at `path`. */
int zip_open(struct zip_writer *z, const char *path);
/* Add the regular file at `src` as member `name` with permissions `mode & 07777`. */
int zip_add_file(struct zip_writer *z, const char *name, const char *src, mode_t mode);
/* Add len bytes as member `name`. */
int zip_add_buf(struct zip_writer *z, const char *name, const void *buf, size_t len,
		mode_t mode);
/* Write the central directory, close, rename into place; the writer is released. */
int zip_finish(struct zip_writer *z);
/* Drop the archive being written (idempotent); the writer is released. */
void zip_abort(struct zip_writer *z);

#endif
