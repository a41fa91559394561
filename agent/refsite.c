#include "refsite.h"

#include <string.h>

#include "../core/journal.h"
#include "../core/table.h"
#include "guard.h"
#include "jwriter.h"
#include "spin.h"

struct site_entry {
    uint64_t key; /* the file's address, the line in the top 16 bits */
    uint32_t id;
    uint32_t pad;
};

/* protected by site_lock */
static int site_lock;
static struct tbl sites = {NULL, 0, 0, sizeof(struct site_entry)};
static uint32_t next_site_id = 1;

/* A per-thread memo of recent sites: most changes repeat a few lines, and
 * the shared table is behind a lock. */
#define SITE_MEMO 64
struct site_memo {
    uint64_t key[SITE_MEMO];
    uint32_t id[SITE_MEMO];
};
/* protected by: thread-local */
static AGENT_TLS struct site_memo memo;

/* Journals the SITE record of id. */
static void journal_site(uint32_t id, const char *file, uint32_t line)
{
    uint8_t rec[600];
    uint8_t *p = jn_put_site_head(rec, id, line);
    p = jn_put_str(p, file, (uint32_t)strnlen(file, 512));
    jw_write_record(rec, (size_t)(p - rec));
}

uint32_t site_id(const char *file, int line)
{
    if (!file || line <= 0 || line > 0xffff || (uintptr_t)file >> 48)
        return 0;
    uint64_t key = (uint64_t)(uintptr_t)file | (uint64_t)line << 48;
    size_t slot = tbl_mix(key) & (SITE_MEMO - 1);
    if (memo.key[slot] == key)
        return memo.id[slot];
    bool inserted;
    spin_lock(&site_lock);
    struct site_entry *e = tbl_insert(&sites, key, &inserted);
    if (e && inserted)
        e->id = next_site_id++;
    uint32_t id = e ? e->id : 0;
    spin_unlock(&site_lock);
    if (e && inserted)
        journal_site(id, file, (uint32_t)line);
    memo.key[slot] = key;
    memo.id[slot] = id;
    return id;
}
