#include "jreader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/table.h"

/* jr_open gives back what its listing of the blocks mapped every this
 * many bytes (a multiple of every large folio's size). */
#define LIST_DROP_EVERY (4u << 20)

/* Ids above this are taken as corruption rather than indexed. */
#define MAX_ID (1u << 26)

struct vec64 {
    uint64_t *v;
    size_t n, cap;
};

struct block_ref {
    uint64_t off;
    uint64_t first_seq;
    /* Its thread has started a later block, or the journal is sealed: its
     * `used` will not grow again. */
    bool finished;
};

/* A followed block whose definitions are not all indexed yet. */
struct ix_cursor {
    size_t ref;          /* its index in jr_journal.blocks */
    uint32_t pos;        /* bytes of records indexed so far */
    struct jn_delta d;
};

/* One block's place in the merged replay. */
struct cursor {
    const struct jn_block_header *block;
    const uint8_t *p, *end;
    struct jn_delta d;
    struct jn_record r; /* the next event */
    uint32_t tid;
    size_t ref;         /* its index in jr_journal.blocks */
    /* No event of this block still to come has a smaller seq: the one
     * after its last delivered event, or its first seq. */
    uint64_t bound;
};

/* A binary min-heap of cursors ordered by their next event's seq. */
struct heap {
    struct cursor *v;
    size_t n, cap;
};

struct jr_journal {
    const uint8_t *map;
    size_t size;     /* bytes of the file known (followed journals: so far) */
    size_t map_size; /* bytes mapped: followed journals map ahead of the file's end */
    const struct jn_file_header *hdr;
    /* The definitions are indexed by a thread of their own while the
     * events are replayed: the two passes decode the whole file each, and
     * a traced program leaves the machine's cores free when it ends. What
     * the indexer writes (the definition offsets, `damaged`) is read only
     * after wait_index has joined it. A followed journal is indexed by
     * its caller's thread instead, as the file grows. */
    pthread_t indexer;
    bool indexing;       /* the indexer runs: join it before reading the index */
    bool replay_damaged; /* the replay could not keep up (out of memory) */
    bool damaged;   /* records that do not decode */
    bool truncated; /* the file ends inside a block */
    struct vec64 stacks, codes, types, sites; /* id -> record offset (0 = none) */
    struct vec64 modules, notes;       /* record offsets */
    struct tbl threads;                /* tid -> record offset */
    uint64_t process_off, crash_off, exit_off;
    struct block_ref *blocks;
    size_t nblocks, blocks_cap;
    uint64_t tsc_a, ns_a, tsc_b, ns_b; /* two clock pairs, far apart */
    /* Following a journal while its writer runs (jr_follow). */
    bool followed;      /* opened by jr_open_followed */
    bool sealed;        /* the writer is gone: every block is final */
    bool paused;        /* the followed replay stopped until jr_seal (a MARK, or disorder) */
    bool outgrown;      /* followed: the file grew past the mapping; read it with jr_open */
    bool shrank;        /* followed: the file got shorter than it was (something truncated it) */
    int fd;             /* followed: the file, to see it grow; else -1 */
    uint64_t listed_to; /* followed: the file offset of the first block not listed yet */
    /* followed: the blocks still to index to their end, in file order: as
     * many as there are threads writing, not as the journal is long. */
    struct ix_cursor *ix;
    size_t nix, ix_cap;
    /* followed: the writer's seq counter as this call of jr_follow read it
     * first (0: unknown, an older agent). No event still to come is below
     * it, except one in a busy block. */
    uint64_t counter;
    struct tbl latest;  /* followed: tid + 1 -> index of the thread's newest block */
    /* The merge, kept between calls. */
    struct heap heap;
    struct cursor *stalled; /* cursors at the end of a block that may still grow */
    size_t nstalled, stalled_cap;
    size_t next_block;      /* blocks from here on have no cursor yet */
    bool stopped;           /* the replay's callback said stop */
};

struct thread_entry {
    uint64_t tid;
    uint64_t off;
};

/* Makes room for one more element in the array *v of n elements (of
 * elem bytes) and capacity *cap, doubling it (first: the first capacity).
 * False when memory ran out; the array is then unchanged. */
static bool room_for_one(void **v, size_t n, size_t *cap, size_t elem, size_t first)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : first;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return false;
    *v = nv;
    *cap = ncap;
    return true;
}
#define ROOM_FOR_ONE(arr, n, cap, first) room_for_one((void **)&(arr), (n), &(cap), sizeof *(arr), (first))

static bool vec_push(struct vec64 *v, uint64_t x)
{
    if (!ROOM_FOR_ONE(v->v, v->n, v->cap, 256))
        return false;
    v->v[v->n++] = x;
    return true;
}

/* Sets v[id] = x, growing with zeros. */
static bool vec_set(struct vec64 *v, uint32_t id, uint64_t x)
{
    if (id >= MAX_ID)
        return false;
    while (v->n <= id)
        if (!vec_push(v, 0))
            return false;
    v->v[id] = x;
    return true;
}

static uint64_t vec_get(const struct vec64 *v, uint32_t id)
{
    return id < v->n ? v->v[id] : 0;
}

static void index_record(struct jr_journal *j, const struct jn_record *r, uint64_t off)
{
    bool inserted;
    struct thread_entry *t;
    bool ok = true;
    switch (r->kind) {
    case JN_K_STACK: ok = vec_set(&j->stacks, r->u.stack.id, off); break;
    case JN_K_CODE: ok = vec_set(&j->codes, r->u.code.id, off); break;
    case JN_K_TYPE: ok = vec_set(&j->types, r->u.type.id, off); break;
    case JN_K_SITE: ok = vec_set(&j->sites, r->u.site.id, off); break;
    case JN_K_MODULE: ok = vec_push(&j->modules, off); break;
    case JN_K_NOTE: ok = vec_push(&j->notes, off); break;
    case JN_K_PROCESS: j->process_off = off; break;
    case JN_K_CRASH: j->crash_off = off; break;
    case JN_K_EXIT: j->exit_off = off; break;
    case JN_K_THREAD:
        t = tbl_insert(&j->threads, (uint64_t)r->u.thread.tid + 1, &inserted);
        if (t)
            t->off = off;
        break;
    default: break;
    }
    if (!ok)
        j->damaged = true;
}

static bool add_block(struct jr_journal *j, uint64_t off, const struct jn_block_header *b)
{
    if (!ROOM_FOR_ONE(j->blocks, j->nblocks, j->blocks_cap, 64))
        return false;
    j->blocks[j->nblocks++] = (struct block_ref){.off = off, .first_seq = b->first_seq, .finished = j->sealed};
    return true;
}

static const struct jn_block_header *block_at(const struct jr_journal *j, uint64_t off)
{
    return (const struct jn_block_header *)(j->map + off);
}

/* The committed bytes of a block, clamped so that a corrupted `used` field
 * cannot send the decoder past the block. */
static const uint8_t *block_end(const struct jr_journal *j, const struct jn_block_header *b)
{
    uint32_t cap = j->hdr->block_size - (uint32_t)sizeof *b;
    uint32_t used = __atomic_load_n(&b->used, __ATOMIC_ACQUIRE); /* a followed block grows */
    if (used > cap)
        used = cap;
    return (const uint8_t *)(b + 1) + used;
}

static void note_clock(struct jr_journal *j, const struct jn_block_header *b)
{
    if (!j->ns_a || b->mono_ns < j->ns_a) {
        j->ns_a = b->mono_ns;
        j->tsc_a = b->tsc_base;
    }
    if (b->mono_ns > j->ns_b) {
        j->ns_b = b->mono_ns;
        j->tsc_b = b->tsc_base;
    }
}

/* Lets the kernel take back a block's pages once it has been read: the
 * mapping is of a file, so a later look (a stack record) reads it again.
 * This keeps the reader's memory flat however long the journal is. */
static void done_with(const struct jr_journal *j, const void *block)
{
    madvise((void *)block, j->hdr->block_size, MADV_DONTNEED);
}

/* Indexes the definitions of one block (run by the indexer). */
static void index_block(struct jr_journal *j, uint64_t off)
{
    const struct jn_block_header *b = block_at(j, off);
    if (b->magic != JN_BLOCK_MAGIC)
        return;
    struct jn_delta d;
    struct jn_record r;
    jn_delta_reset(&d, b);
    const uint8_t *p = (const uint8_t *)(b + 1), *end = block_end(j, b);
    for (;;) {
        const uint8_t *start = p;
        int rc = jn_decode(&p, end, &d, &r);
        if (rc < 0)
            j->damaged = true;
        if (rc <= 0)
            break;
        if (!jn_is_sequenced(r.kind))
            index_record(j, &r, (uint64_t)(start - j->map));
    }
    done_with(j, b);
}

static void *index_all(void *arg)
{
    struct jr_journal *j = arg;
    uint64_t bs = j->hdr->block_size;
    for (uint64_t off = JN_FILE_HEADER_SIZE; off + bs <= j->size; off += bs)
        index_block(j, off);
    return NULL;
}

/* Waits until the definitions are indexed. The index is logically part of
 * an open journal, so readers that take it const may wait. */
static void wait_index(const struct jr_journal *cj)
{
    struct jr_journal *j = (struct jr_journal *)cj;
    if (j->indexing) {
        pthread_join(j->indexer, NULL);
        j->indexing = false;
    }
}

/* Lists a block for the replay from its header alone; false when it is
 * unused or damaged (said in `damaged`), or memory ran out. A block of
 * definitions only is listed too: its cursor finds no event. */
static bool list_block(struct jr_journal *j, uint64_t off)
{
    const struct jn_block_header *b = block_at(j, off);
    uint32_t magic = __atomic_load_n(&b->magic, __ATOMIC_ACQUIRE); /* a followed block's header comes first */
    if (magic != JN_BLOCK_MAGIC) {
        if (magic != 0)
            j->damaged = true;
        return false;
    }
    note_clock(j, b);
    if (!add_block(j, off, b)) {
        j->damaged = true;
        return false;
    }
    return true;
}

static int cmp_block(const void *a, const void *b)
{
    const struct block_ref *x = a, *y = b;
    return x->first_seq < y->first_seq ? -1 : x->first_seq > y->first_seq;
}

static bool map_file(struct jr_journal *j, const char *path, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "no such file" : "cannot be opened";
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *why = "is not a regular file";
        return false;
    }
    j->size = (size_t)st.st_size;
    if (j->size < sizeof(struct jn_file_header)) {
        close(fd);
        *why = "is too short to be a lifeline journal (truncated?)";
        return false;
    }
    void *m = mmap(NULL, j->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        *why = "cannot be mapped";
        return false;
    }
    j->map = m;
    j->map_size = j->size;
    j->hdr = m;
    return true;
}

/* A reader's state with nothing mapped yet, or NULL when memory ran out. */
static struct jr_journal *new_reader(void)
{
    struct jr_journal *j = calloc(1, sizeof *j);
    if (j) {
        tbl_init(&j->threads, sizeof(struct thread_entry));
        tbl_init(&j->latest, sizeof(struct thread_entry));
        j->fd = -1;
    }
    return j;
}

struct jr_journal *jr_open(const char *path, const char **why)
{
    struct jr_journal *j = new_reader();
    if (!j) {
        *why = "out of memory";
        return NULL;
    }
    j->sealed = true;
    if (!map_file(j, path, why)) {
        free(j);
        return NULL;
    }
    if (!jn_header_valid(j->hdr, j->size, why)) {
        jr_close(j);
        return NULL;
    }
    uint64_t bs = j->hdr->block_size, dropped = JN_FILE_HEADER_SIZE;
    for (uint64_t off = JN_FILE_HEADER_SIZE; off + bs <= j->size; off += bs) {
        list_block(j, off);
        /* Reading a block's header maps the pages around it too (the
         * kernel maps up to 64 KiB around a read fault, a large folio
         * whole): given back as the listing goes, or the whole file would
         * be resident before the passes below begin. */
        if (off - dropped >= LIST_DROP_EVERY) {
            madvise((void *)(j->map + dropped), off - dropped, MADV_DONTNEED);
            dropped = off;
        }
    }
    madvise((void *)(j->map + dropped), j->size - dropped, MADV_DONTNEED);
    if ((j->size - JN_FILE_HEADER_SIZE) % bs)
        j->truncated = true;
    qsort(j->blocks, j->nblocks, sizeof *j->blocks, cmp_block);
    j->indexing = pthread_create(&j->indexer, NULL, index_all, j) == 0;
    if (!j->indexing)
        index_all(j);
    return j;
}

void jr_close(struct jr_journal *j)
{
    if (!j)
        return;
    wait_index(j);
    if (j->map)
        munmap((void *)j->map, j->map_size);
    if (j->fd >= 0)
        close(j->fd);
    free(j->heap.v);
    free(j->stalled);
    free(j->ix);
    tbl_destroy(&j->latest);
    free(j->stacks.v);
    free(j->codes.v);
    free(j->types.v);
    free(j->sites.v);
    free(j->modules.v);
    free(j->notes.v);
    free(j->blocks);
    tbl_destroy(&j->threads);
    free(j);
}

bool jr_damaged(const struct jr_journal *j)
{
    wait_index(j);
    return j->damaged || j->replay_damaged;
}

bool jr_truncated(const struct jr_journal *j)
{
    return j->truncated;
}

bool jr_claimed(const char *path)
{
    struct jn_file_header h;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t n = fread(&h, 1, sizeof h, f);
    fclose(f);
    return n == sizeof h && h.claimed_pid != 0;
}

/* Decodes the meta record at off; false if there is none or it is corrupt. */
static bool record_at(const struct jr_journal *j, uint64_t off, struct jn_record *out)
{
    if (!off || off >= j->size)
        return false;
    const uint8_t *p = j->map + off;
    /* A record never crosses its block: bound the decode by the block end. */
    uint64_t bs = j->hdr->block_size;
    uint64_t block_off = JN_FILE_HEADER_SIZE + (off - JN_FILE_HEADER_SIZE) / bs * bs;
    struct jn_delta d = {0, 0, 0};
    return jn_decode(&p, block_end(j, block_at(j, block_off)), &d, out) == 1;
}

bool jr_process(const struct jr_journal *j, struct jn_record *out)
{
    wait_index(j);
    return record_at(j, j->process_off, out);
}

bool jr_crash(const struct jr_journal *j, struct jn_record *out)
{
    wait_index(j);
    return record_at(j, j->crash_off, out);
}

bool jr_exit(const struct jr_journal *j, struct jn_record *out)
{
    wait_index(j);
    return record_at(j, j->exit_off, out);
}

bool jr_stack(const struct jr_journal *j, uint32_t id, struct jn_record *out)
{
    wait_index(j);
    return record_at(j, vec_get(&j->stacks, id), out);
}

bool jr_code(const struct jr_journal *j, uint32_t id, struct jn_str *filename, struct jn_str *name)
{
    struct jn_record r;
    wait_index(j);
    if (!record_at(j, vec_get(&j->codes, id), &r))
        return false;
    *filename = r.u.code.filename;
    *name = r.u.code.name;
    return true;
}

bool jr_type(const struct jr_journal *j, uint32_t id, struct jn_str *name)
{
    struct jn_record r;
    wait_index(j);
    if (!record_at(j, vec_get(&j->types, id), &r))
        return false;
    *name = r.u.type.name;
    return true;
}

bool jr_site(const struct jr_journal *j, uint32_t id, struct jn_str *file, uint32_t *line)
{
    struct jn_record r;
    wait_index(j);
    if (!record_at(j, vec_get(&j->sites, id), &r))
        return false;
    *file = r.u.site.file;
    *line = r.u.site.line;
    return true;
}

bool jr_thread(const struct jr_journal *j, uint32_t tid, struct jn_str *name, bool *main)
{
    wait_index(j);
    struct thread_entry *t = tbl_find(&j->threads, (uint64_t)tid + 1);
    struct jn_record r;
    if (!t || !record_at(j, t->off, &r))
        return false;
    *name = r.u.thread.name;
    *main = r.u.thread.main;
    return true;
}

static void each_offset(const struct jr_journal *j, const struct vec64 *v,
                        void (*fn)(void *, const struct jn_record *), void *arg)
{
    struct jn_record r;
    wait_index(j);
    for (size_t i = 0; i < v->n; i++)
        if (record_at(j, v->v[i], &r))
            fn(arg, &r);
}

void jr_each_module(const struct jr_journal *j, void (*fn)(void *, const struct jn_record *), void *arg)
{
    each_offset(j, &j->modules, fn, arg);
}

void jr_each_note(const struct jr_journal *j, void (*fn)(void *, const struct jn_record *), void *arg)
{
    each_offset(j, &j->notes, fn, arg);
}

/* ---- merged replay ---- */

/* Advances to the block's next event; false when the block has none left
 * (for now, in a block that may still grow). */
static bool cursor_next(struct cursor *c)
{
    for (;;) {
        int rc = jn_decode(&c->p, c->end, &c->d, &c->r);
        if (rc <= 0)
            return false;
        if (jn_is_sequenced(c->r.kind))
            return true;
    }
}

static bool cursor_open(const struct jr_journal *j, size_t ref, struct cursor *c)
{
    const struct jn_block_header *b = block_at(j, j->blocks[ref].off);
    c->block = b;
    c->p = (const uint8_t *)(b + 1);
    c->end = block_end(j, b);
    c->tid = b->tid;
    c->ref = ref;
    c->bound = b->first_seq;
    jn_delta_reset(&c->d, b);
    return cursor_next(c);
}

static bool before(const struct cursor *a, const struct cursor *b)
{
    return a->r.seq < b->r.seq;
}

static void swap_cursors(struct cursor *a, struct cursor *b)
{
    struct cursor t = *a;
    *a = *b;
    *b = t;
}

static void sift_down(struct heap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && before(&h->v[l], &h->v[m]))
            m = l;
        if (r < h->n && before(&h->v[r], &h->v[m]))
            m = r;
        if (m == i)
            return;
        swap_cursors(&h->v[i], &h->v[m]);
        i = m;
    }
}

static bool heap_push(struct heap *h, const struct cursor *c)
{
    if (!ROOM_FOR_ONE(h->v, h->n, h->cap, 16))
        return false;
    size_t i = h->n++;
    h->v[i] = *c;
    while (i && before(&h->v[i], &h->v[(i - 1) / 2])) {
        swap_cursors(&h->v[i], &h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    return true;
}

/* True when the block's `used` will not grow again: the journal is sealed,
 * its thread began a later block, or its thread ended (the agent closed
 * it). *busy gets the block's busy mark otherwise (0 when unknown). */
static bool block_final(const struct jr_journal *j, size_t ref, const struct jn_block_header *b, uint32_t *busy)
{
    *busy = 0;
    if (j->sealed || j->blocks[ref].finished)
        return true;
    *busy = __atomic_load_n(&b->busy, __ATOMIC_ACQUIRE);
    return *busy == JN_BLOCK_CLOSED;
}

/* Takes a cursor that found no event up to the end its block had when it
 * last looked. The block may have committed more since: then the cursor
 * goes back into the heap. Otherwise a final block is done with, and one
 * that may still grow waits among the stalled cursors. Returns the
 * smallest seq a stalled block may still deliver (UINT64_MAX otherwise:
 * a cursor in the heap bounds the replay by its next event). */
static uint64_t park(struct jr_journal *j, struct cursor *c)
{
    /* Final and busy are read before `used`: a block seen final has its
     * last record committed already, and one seen idle its last taken seq. */
    uint32_t busy;
    bool final = block_final(j, c->ref, c->block, &busy);
    c->end = block_end(j, c->block);
    if (cursor_next(c)) {
        if (!heap_push(&j->heap, c))
            j->replay_damaged = true;
        return UINT64_MAX;
    }
    if (final) {
        done_with(j, c->block);
        return UINT64_MAX;
    }
    /* Idle after the counter was read: its thread's next seq is taken
     * later, so it is at least the counter. */
    if (busy == 0 && j->counter > c->bound)
        c->bound = j->counter;
    if (!ROOM_FOR_ONE(j->stalled, j->nstalled, j->stalled_cap, 16)) {
        j->replay_damaged = true;
        return UINT64_MAX;
    }
    j->stalled[j->nstalled++] = *c;
    return c->bound;
}

/* Parks the stalled cursors again: those whose blocks committed events
 * since go back into the heap. Returns the smallest seq the ones still
 * stalled may yet deliver. */
static uint64_t wake_stalled(struct jr_journal *j)
{
    size_t n = j->nstalled;
    struct cursor *v = j->stalled;
    j->stalled = NULL;
    j->nstalled = j->stalled_cap = 0;
    uint64_t bound = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = park(j, &v[i]);
        bound = b < bound ? b : bound;
    }
    free(v);
    return bound;
}

/* Delivers events in seq order while they are below horizon. A followed
 * journal's replay pauses before a MARK: what `lifeline leaks` does there
 * looks definitions up, which may not all be indexed before the seal. */
static uint64_t merge(struct jr_journal *j, bool (*fn)(void *, const struct jn_record *, uint32_t), void *arg,
                      uint64_t horizon)
{
    struct heap *h = &j->heap;
    uint64_t delivered = 0;
    while (!j->stopped) {
        /* Open every block that may hold an event before the heap's minimum:
         * blocks are sorted by their first seq, and seqs ascend inside a block. */
        while (j->next_block < j->nblocks && (h->n == 0 || j->blocks[j->next_block].first_seq <= h->v[0].r.seq)) {
            struct cursor c;
            if (!cursor_open(j, j->next_block++, &c)) {
                uint64_t b = park(j, &c);
                horizon = b < horizon ? b : horizon;
            } else if (!heap_push(h, &c)) {
                j->replay_damaged = true;
            }
        }
        if (h->n == 0)
            break;
        struct cursor *top = &h->v[0];
        if (top->r.seq >= horizon)
            break;
        if (!j->sealed && top->r.kind == JN_K_MARK) {
            j->paused = true;
            break;
        }
        delivered++;
        if (!fn(arg, &top->r, top->tid)) {
            j->stopped = true;
            break;
        }
        top->bound = top->r.seq + 1;
        if (!cursor_next(top)) {
            struct cursor done = *top;
            h->v[0] = h->v[--h->n];
            sift_down(h, 0);
            uint64_t b = park(j, &done);
            horizon = b < horizon ? b : horizon;
        } else {
            sift_down(h, 0);
        }
    }
    return delivered;
}

uint64_t jr_replay(struct jr_journal *j, bool (*fn)(void *, const struct jn_record *, uint32_t), void *arg)
{
    if (!j->sealed)
        return 0;
    wake_stalled(j);
    return merge(j, fn, arg, UINT64_MAX);
}

/* ---- following a journal while its writer runs ---- */

/* A followed journal maps this much ahead of the file's end (address space
 * only: pages past the end are never touched). A longer journal stops
 * being followed; jr_seal refuses it, and it is read afresh at the end. */
#define FOLLOW_MAP_SIZE (1ull << 40)

struct jr_journal *jr_open_followed(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *m = mmap(NULL, FOLLOW_MAP_SIZE, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
    struct jr_journal *j = m == MAP_FAILED ? NULL : new_reader();
    if (!j) {
        if (m != MAP_FAILED)
            munmap(m, FOLLOW_MAP_SIZE);
        close(fd);
        return NULL;
    }
    /* No readahead: a read of the file past what the agent has written
     * would fill the page cache with large folios of zeros, and the
     * agent's first write into one maps all of it, megabytes of the
     * target's resident memory until it has written them all. */
    madvise(m, FOLLOW_MAP_SIZE, MADV_RANDOM);
    j->map = m;
    j->map_size = FOLLOW_MAP_SIZE;
    j->hdr = m;
    j->fd = fd;
    j->followed = true;
    j->listed_to = JN_FILE_HEADER_SIZE;
    return j;
}

/* Refreshes the file's size; false until the agent has written a valid
 * header (it does when a Python process claims the journal). */
static bool follow_ready(struct jr_journal *j)
{
    struct stat st;
    if (fstat(j->fd, &st) < 0)
        return false;
    size_t size = (size_t)st.st_size;
    if (size > j->map_size)
        j->outgrown = true;
    /* Pages past the new end of a shrunk file fault (SIGBUS) when read:
     * listed blocks may lie there. */
    if (size < j->size)
        j->shrank = true;
    if (j->outgrown || j->shrank)
        return false;
    if (size < JN_FILE_HEADER_SIZE || memcmp(j->hdr->magic, JN_MAGIC, JN_MAGIC_LEN) != 0)
        return false;
    __atomic_thread_fence(__ATOMIC_ACQUIRE); /* the magic is written last */
    const char *why;
    if (!jn_header_valid(j->hdr, size, &why))
        return false;
    j->size = size;
    return true;
}

/* Adds a listed block to those the followed index reads; false when memory
 * ran out. */
static bool ix_add(struct jr_journal *j, size_t ref, const struct jn_block_header *b)
{
    if (!ROOM_FOR_ONE(j->ix, j->nix, j->ix_cap, 16))
        return false;
    struct ix_cursor *c = &j->ix[j->nix++];
    c->ref = ref;
    c->pos = 0;
    jn_delta_reset(&c->d, b);
    return true;
}

/* Lists the blocks begun since the last call, in file order. Until the
 * seal it stops at the first block whose header is not written yet (its
 * thread is between taking it and filling it in); sealed, it skips
 * unused blocks as jr_open does. The block a thread begins makes its
 * previous one final. */
static void list_new_blocks(struct jr_journal *j, uint64_t blocks_end)
{
    uint64_t bs = j->hdr->block_size;
    /* Blocks not handed out yet are not even read (see MADV_RANDOM). */
    uint64_t end = blocks_end && !j->sealed && blocks_end < j->size ? blocks_end : j->size;
    for (; j->listed_to + bs <= end; j->listed_to += bs) {
        const struct jn_block_header *b = block_at(j, j->listed_to);
        if (!j->sealed && __atomic_load_n(&b->magic, __ATOMIC_ACQUIRE) == 0)
            return;
        if (!list_block(j, j->listed_to))
            continue;
        /* The agent takes blocks' first seqs in file order; a journal
         * that breaks this is replayed after the seal, sorted. */
        size_t n = j->nblocks;
        if (n > 1 && j->blocks[n - 1].first_seq < j->blocks[n - 2].first_seq && !j->sealed)
            j->paused = true;
        if (!ix_add(j, n - 1, b)) {
            j->damaged = true;
            continue;
        }
        bool inserted;
        struct thread_entry *t = tbl_insert(&j->latest, (uint64_t)b->tid + 1, &inserted);
        if (t && !inserted)
            j->blocks[t->off].finished = true;
        if (t)
            t->off = j->nblocks - 1;
    }
}

/* Indexes the definitions committed since the last call in every block not
 * yet final and indexed to its end; those that are leave the list. */
static void index_new_records(struct jr_journal *j)
{
    size_t kept = 0;
    for (size_t i = 0; i < j->nix; i++) {
        struct ix_cursor *c = &j->ix[i];
        const struct jn_block_header *b = block_at(j, j->blocks[c->ref].off);
        uint32_t busy;
        bool final = block_final(j, c->ref, b, &busy); /* before `used`, as in park */
        const uint8_t *start = (const uint8_t *)(b + 1), *p = start + c->pos, *end = block_end(j, b);
        struct jn_record r;
        for (;;) {
            const uint8_t *at = p;
            int rc = jn_decode(&p, end, &c->d, &r);
            if (rc < 0 && final)
                j->damaged = true;
            if (rc <= 0)
                break;
            if (!jn_is_sequenced(r.kind))
                index_record(j, &r, (uint64_t)(at - j->map));
        }
        c->pos = (uint32_t)(p - start);
        if (!final)
            j->ix[kept++] = *c; /* kept in file order: notes are indexed in the order they read */
    }
    j->nix = kept;
}

uint64_t jr_follow(struct jr_journal *j, bool (*fn)(void *, const struct jn_record *, uint32_t), void *arg)
{
    if (!j->followed || j->sealed || !follow_ready(j))
        return 0;
    /* The counter first, then where blocks end, then the blocks' headers
     * and `used`: every seq below the counter was taken before these
     * reads, so its record is committed (and seen) unless its block is
     * busy, and its block was handed out before blocks_end was read. */
    j->counter = __atomic_load_n(&j->hdr->next_seq, __ATOMIC_ACQUIRE);
    uint64_t blocks_end = __atomic_load_n(&j->hdr->blocks_end, __ATOMIC_ACQUIRE);
    list_new_blocks(j, blocks_end);
    index_new_records(j);
    if (j->paused || j->stopped || !j->nblocks)
        return 0;
    /* Below blocks_end, a block whose header is not written yet (the
     * listing stopped there) may be followed by written ones, not listed
     * either, with events below the counter: then, as for an agent that
     * does not show its counter, only the newest listed block's first seq
     * bounds the blocks not listed (first seqs ascend in file order). */
    bool gap = j->listed_to < blocks_end;
    uint64_t horizon = j->counter && !gap ? j->counter : j->blocks[j->nblocks - 1].first_seq;
    uint64_t stalled = wake_stalled(j);
    return merge(j, fn, arg, stalled < horizon ? stalled : horizon);
}

bool jr_seal(struct jr_journal *j)
{
    if (!j->followed || j->sealed || !follow_ready(j))
        return false;
    j->sealed = true;
    list_new_blocks(j, 0);
    uint64_t bs = j->hdr->block_size;
    if ((j->size - JN_FILE_HEADER_SIZE) % bs)
        j->truncated = true;
    index_new_records(j);
    /* Blocks listed at the seal (lifeline's own EXIT block among them, whose
     * first seq is 0) have no cursor yet: sort them as jr_open sorts all. */
    qsort(j->blocks + j->next_block, j->nblocks - j->next_block, sizeof *j->blocks, cmp_block);
    j->paused = false;
    return true;
}

bool jr_shrank(const struct jr_journal *j)
{
    return j->shrank;
}

bool jr_follow_paused(const struct jr_journal *j)
{
    return j->paused;
}

uint64_t jr_time_ns(const struct jr_journal *j, uint64_t tsc)
{
    double cycles_per_ns = 1.0;
    if (j->ns_b > j->ns_a + 1000000 && j->tsc_b > j->tsc_a)
        cycles_per_ns = (double)(j->tsc_b - j->tsc_a) / (double)(j->ns_b - j->ns_a);
    else if (j->ns_a)
        cycles_per_ns = 2.5; /* too short a run to measure; a typical clock */
    if (tsc < j->hdr->tsc_start)
        return 0;
    return (uint64_t)((double)(tsc - j->hdr->tsc_start) / cycles_per_ns);
}
