/* LEB128 varints and zigzag deltas: the journal's only integer encoding.
 * Header-only because both sides inline them on their hottest paths. */
#ifndef LL_VARINT_H
#define LL_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* The longest encoding of a 64-bit value. */
#define VARINT_MAX 10

/* Writes v at p; returns the byte after it. p must have VARINT_MAX bytes. */
static inline uint8_t *varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Reads a varint from [p, end) into *v. Returns the byte after it, or NULL
 * when the input ends inside the varint or it is longer than 64 bits. */
static inline const uint8_t *varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    /* Most journal fields are small deltas: one byte. */
    if (p < end && *p < 0x80) {
        *v = *p;
        return p + 1;
    }
    uint64_t r = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (p >= end)
            return NULL;
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

static inline uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
