/*
 * CRC-32C, slicing by eight; see crc32c.h.
 *
 * The tables are made on first use (a few microseconds). The daemon is
 * single-threaded; two threads making them at once would write the same
 * values.
 */
#include "crc32c.h"

#include <stdbool.h>

#define POLY 0x82f63b78u /* 0x1edc6f41, bit-reversed */

static uint32_t table[8][256];
static bool table_ready;

/* Fills table[k][b]: the CRC of byte b followed by k zero bytes. */
static void
table_init(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
		table[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
	table_ready = true;
}

uint32_t
crc32c(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!table_ready)
		table_init();
	crc = ~crc;
	for (; len >= 8; len -= 8, p += 8) {
		/* Byte by byte, so the result does not depend on endianness. */
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		                     (uint32_t)p[3] << 24);

		crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^
		      table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^ table[3][p[4]] ^
		      table[2][p[5]] ^ table[1][p[6]] ^ table[0][p[7]];
	}
	while (len-- > 0)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}
