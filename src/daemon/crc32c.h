/*
 * CRC-32C (Castagnoli, the polynomial of iSCSI, ext4 and Btrfs), table
 * driven, eight bytes a step. It detects every error of up to three bits
 * and every burst of up to 32 bits in the lengths the retained-store file
 * uses: the checksum of its records.
 */
#ifndef UDSB_CRC32C_H
#define UDSB_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of len bytes at data, continuing from crc (0 to start):
 * crc32c(crc32c(0, a, n), b, m) is the CRC of a followed by b. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
