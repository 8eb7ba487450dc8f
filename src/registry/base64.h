/*
 * base64.h: the one strict base64 decoder of text that comes from outside: key files
 * (keys.c), STATE/seeds (seeds.c) and the CLI's pasted keys, invites and certs. A header
 * of its own, inline, so that every user (and the fuzz targets linking single objects)
 * gets the same check without a new object to link.
 */
#ifndef MESHNAME_REGISTRY_BASE64_H
#define MESHNAME_REGISTRY_BASE64_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

/*
 * Decodes all len bytes of text, base64 of variant (sodium_base64_VARIANT_*) with nothing
 * skipped, into out (size bytes) and sets *out_len. -EBADMSG for a byte outside the
 * alphabet, bad padding, or more than size bytes. libsodium 1.0.18's sodium_base642bin
 * reads every byte from 0x80 up as the digit 63 ('/' or '_'), so that one value would
 * have many texts and a key file with such a byte would load as another key: those bytes
 * are refused here, before it sees them; it refuses every other byte outside the alphabet.
 */
static inline int base64_decode_strict(const char *text, size_t len, uint8_t *out, size_t size,
				       size_t *out_len, int variant)
{
	const char *end = NULL;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] >= 0x80)
			return -EBADMSG;
	if (sodium_base642bin(out, size, text, len, NULL, out_len, &end, variant) != 0 ||
	    end != text + len)
		return -EBADMSG;
	return 0;
}

#endif
