/* The journal: what the agent captures inside the target and the cli reads
 * afterwards. The byte layout is documented in docs/journal.md; this header is
 * its single definition in code. Prefix: jn_.
 *
 * A journal file is a file header followed by fixed-size blocks. Each block
 * belongs to one thread and holds whole records; its header says how many
 * bytes are committed, so a record that was being written when the target
 * died is simply not there. Records inside a block are delta-encoded against
 * the block's own state, so every block decodes on its own. */
#ifndef LL_JOURNAL_H
#define LL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JN_MAGIC "LLJRNL\x00\x01"
#define JN_MAGIC_LEN 8
/* The version the agent writes. Version 3 added the WATCH and SITE records;
 * a version-2 journal is a version-3 journal without them, so the reader
 * takes both, and a lifeline that knows only version 2 refuses a new
 * journal by its version instead of calling its new records damage. */
#define JN_VERSION 3
#define JN_VERSION_OLDEST 2
#define JN_FILE_HEADER_SIZE 4096u
#define JN_BLOCK_MAGIC 0x4b424c4cu /* "LLBK" little-endian */
/* Time stamps are kept in units of 2^JN_TSC_SHIFT cycles: ~20 ns on current
 * machines, so a typical delta fits in one byte. */
#define JN_TSC_SHIFT 6

struct jn_file_header {
    char magic[JN_MAGIC_LEN];
    uint32_t version;
    uint32_t header_size;
    uint32_t block_size;
    uint32_t pid;
    uint64_t realtime_ns;   /* wall clock at start, for the report */
    uint64_t tsc_start;     /* pairs with mono_start_ns to convert cycles to time */
    uint64_t mono_start_ns;
    /* The first Python process that starts under the agent claims the
     * journal by swapping its pid in here (0 = unclaimed); other processes
     * sharing the environment (children, wrappers) stay passive. */
    uint32_t claimed_pid;
    uint32_t reserved;
    /* The process-wide seq counter itself: the next seq an event will take.
     * A reader following the journal knows from it that no event still to
     * come has a smaller seq, except those of blocks marked busy. 0 in
     * journals of agents before it (then readers wait for later blocks). */
    uint64_t next_seq;
    /* The file offset after the last block handed out, stored when it is
     * handed out (before its header is written). A block below it whose
     * magic is still 0 is being filled in. */
    uint64_t blocks_end;
};

struct jn_block_header {
    uint32_t magic;
    uint32_t used;       /* committed record bytes after this header; release-stored */
    uint32_t tid;
    /* 1 from before its thread takes a seq until the record holding it is
     * committed (or, for records that carry an earlier seq, until the
     * last of them is); 0 after the commit, stored after `used` (release);
     * JN_BLOCK_CLOSED once its thread has ended. */
    uint32_t busy;
    uint64_t first_seq;  /* seq deltas in the block start from here */
    uint64_t tsc_base;   /* tsc deltas (shifted) start from tsc_base >> JN_TSC_SHIFT */
    uint64_t mono_ns;    /* CLOCK_MONOTONIC when the block was opened */
};

/* jn_block_header.busy of a block whose thread has ended: it gets no more records. */
#define JN_BLOCK_CLOSED 2u

/* Allocation interfaces. The domain of a block is a function of its api. */
enum jn_api {
    JN_API_RAW_MALLOC, JN_API_RAW_CALLOC, JN_API_RAW_REALLOC, JN_API_RAW_FREE,
    JN_API_MEM_MALLOC, JN_API_MEM_CALLOC, JN_API_MEM_REALLOC, JN_API_MEM_FREE,
    JN_API_OBJ_MALLOC, JN_API_OBJ_CALLOC, JN_API_OBJ_REALLOC, JN_API_OBJ_FREE,
    JN_API_MALLOC, JN_API_CALLOC, JN_API_REALLOC, JN_API_FREE,
    JN_API_POSIX_MEMALIGN, JN_API_ALIGNED_ALLOC, JN_API_MEMALIGN, JN_API_VALLOC,
    JN_API_PVALLOC, JN_API_REALLOCARRAY,
    JN_API_COUNT
};

enum jn_domain { JN_DOMAIN_RAW, JN_DOMAIN_MEM, JN_DOMAIN_OBJ, JN_DOMAIN_LIBC, JN_DOMAIN_COUNT };

/* Record kinds. Event records carry the api in the low 5 bits of their tag. */
enum jn_kind {
    JN_K_NONE = 0,
    JN_K_ALLOC = 1,
    JN_K_FREE = 2,
    JN_K_FREE_TYPED = 3, /* a free that also names the object's type */
    JN_K_REALLOC = 4,
    JN_K_STACK = 0xa0,
    JN_K_CODE,
    JN_K_TYPE,
    JN_K_MODULE,
    JN_K_THREAD,
    JN_K_PROCESS,
    JN_K_NOTE,
    JN_K_CRASH,
    JN_K_EXIT,
    JN_K_ERROR, /* a heap error the agent detected; ordered with the events */
    JN_K_LEAK,       /* a live block that nothing reachable points to */
    JN_K_MARK,       /* the end of one repetition of `lifeline leaks` */
    JN_K_BLOCK_TYPE, /* the Python type of a live object block */
    JN_K_OWNER,      /* an ownership event at the C-API boundary or a refcount change */
    JN_K_REFERRER,   /* one referrer of the object of a preceding refcount-too-low ERROR */
    JN_K_WATCH,      /* an object chosen by `lifeline run --watch`: its changes are recorded */
    JN_K_SITE,       /* a definition: the file and line of a routed Py_INCREF/Py_DECREF */
};

/* True for the records the reader delivers in seq order with the events. */
static inline bool jn_is_sequenced(enum jn_kind k)
{
    return k <= JN_K_REALLOC || k == JN_K_ERROR || (k >= JN_K_LEAK && k <= JN_K_WATCH);
}

/* What an ERROR record says went wrong. */
enum jn_error {
    JN_ERR_USE_AFTER_FREE = 1,
    JN_ERR_DOUBLE_FREE,
    JN_ERR_INVALID_FREE,
    JN_ERR_OVERFLOW,
    JN_ERR_UNDERFLOW,
    JN_ERR_MISMATCH,
    JN_ERR_UNINIT, /* an object word never written since allocation */
    JN_ERR_GC_UNTRAVERSED,   /* a reference inside a GC object that tp_traverse does not visit */
    JN_ERR_GC_DANGLING,      /* tp_traverse visits freed memory */
    JN_ERR_REFCOUNT_LOW,     /* more references found than the reference count says */
    JN_ERR_GC_TRACKED_UNINIT,/* a tracked object whose reference fields were never written */
    JN_ERR_GC_FREED_TRACKED, /* a GC object freed while still tracked */
    JN_ERR_LAST = JN_ERR_GC_FREED_TRACKED
};

/* Flags of a LEAK record. */
#define JN_LEAK_DIRECT 1u /* not reachable from any other leaked block either */

/* What an OWNER record says happened to an object. */
enum jn_owner_event {
    JN_OWN_BORROW = 1, /* a C-API call handed out a borrowed reference */
    JN_OWN_STEAL,      /* a C-API call took over (stole) a reference */
    JN_OWN_TRACK,      /* PyObject_GC_Track */
    JN_OWN_UNTRACK,    /* PyObject_GC_UnTrack */
    JN_OWN_INCREF,
    JN_OWN_DECREF,
    JN_OWN_NEW,        /* a C-API call made a new object: its life begins here, even when its
                        * memory came from a free list the allocator never saw */
    JN_OWN_LAST = JN_OWN_NEW
};

/* The C-API functions named by OWNER records (their `func`); append only:
 * the numbers are part of the journal format. */
enum jn_capi {
    JN_CAPI_NONE,
    /* hand out a borrowed reference */
    JN_CAPI_LIST_GETITEM, JN_CAPI_TUPLE_GETITEM, JN_CAPI_DICT_GETITEM, JN_CAPI_DICT_GETITEMSTRING,
    JN_CAPI_DICT_GETITEMWITHERROR, JN_CAPI_DICT_SETDEFAULT, JN_CAPI_DICT_NEXT, JN_CAPI_WEAKREF_GETOBJECT,
    JN_CAPI_SYS_GETOBJECT, JN_CAPI_MODULE_GETDICT, JN_CAPI_IMPORT_ADDMODULE, JN_CAPI_IMPORT_ADDMODULEOBJECT,
    JN_CAPI_IMPORT_GETMODULEDICT, JN_CAPI_STRUCTSEQUENCE_GETITEM,
    /* take a reference over */
    JN_CAPI_TUPLE_SETITEM, JN_CAPI_LIST_SETITEM, JN_CAPI_MODULE_ADDOBJECT, JN_CAPI_EXCEPTION_SETCAUSE,
    JN_CAPI_EXCEPTION_SETCONTEXT, JN_CAPI_ERR_RESTORE, JN_CAPI_ERR_SETEXCINFO, JN_CAPI_STRUCTSEQUENCE_SETITEM,
    /* garbage collector */
    JN_CAPI_GC_TRACK, JN_CAPI_GC_UNTRACK, JN_CAPI_GC_DEL,
    /* make a new object of a type the interpreter recycles through a free list */
    JN_CAPI_LIST_NEW, JN_CAPI_TUPLE_NEW, JN_CAPI_DICT_NEW, JN_CAPI_FLOAT_FROMDOUBLE, JN_CAPI_BUILDVALUE,
    JN_CAPI_BUILDVALUE_SIZET,
    /* the interpreter itself began an object's life (3.13+: PyRefTracer's CREATE event) */
    JN_CAPI_NEW_REFERENCE,
    JN_CAPI_COUNT
};

/* How the access behind an error was made, and when it was caught. */
enum jn_access { JN_ACCESS_UNKNOWN, JN_ACCESS_READ, JN_ACCESS_WRITE };
enum jn_caught { JN_CAUGHT_AT_ACCESS, JN_CAUGHT_LATER };

/* General registers in a CRASH record (x86-64: rax rbx rcx rdx rsi rdi rbp
 * rsp r8-r15, in that order). */
#define JN_MAX_REGS 16
/* Registers of the faulting thread's callers, as the unwinder restores
 * them (the callee-saved ones): where callers keep the pointers they are
 * working on. At most this many in a CRASH record. */
#define JN_MAX_SAVED_REGS 32

struct jn_saved_reg {
    uint32_t frame; /* native frame index, 0 = the faulting frame */
    uint32_t reg;   /* index for jn_reg_name */
    uint64_t value;
};

#define JN_EVENT_TAG(kind, api) ((uint8_t)(((kind) << 5) | (api)))

/* Bits of a PROCESS record's flags. */
#define JN_PROC_PYTHON 1u       /* a supported CPython was found and hooked */
#define JN_PROC_DEBUG_BUILD 2u
#define JN_PROC_PY_UNSUPPORTED 4u /* a CPython was found but its version is not supported */

/* Per-block delta state. Writers and readers reset it at every block start. */
struct jn_delta {
    uint64_t seq;
    uint64_t tsc;  /* shifted */
    uint64_t addr;
};

void jn_delta_reset(struct jn_delta *d, const struct jn_block_header *b);

/* A slice of bytes inside the journal; not NUL-terminated. */
struct jn_str {
    const char *ptr;
    uint32_t len;
};

/* One decoded record. Strings and frame bytes point into the decoded buffer. */
struct jn_record {
    enum jn_kind kind;
    uint8_t api;
    uint64_t seq, tsc;
    uint64_t addr, old_addr, size;
    uint32_t stack, type;
    union {
        struct { uint32_t id, nframes; const uint8_t *frames, *end; } stack;
        struct { uint32_t id; struct jn_str filename, name; } code;
        struct { uint32_t id; struct jn_str name; } type;
        struct { uint64_t bias, start, end; struct jn_str path; } module;
        struct { uint32_t tid; bool main; struct jn_str name; } thread;
        struct { uint32_t pid, flags; struct jn_str version, executable; uint32_t argc;
                 const uint8_t *argv, *end; } process;
        struct { uint32_t level; struct jn_str text; } note;
        struct { uint32_t tid, signo; int32_t code; uint64_t fault_addr; uint32_t nregs;
                 uint64_t regs[JN_MAX_REGS]; uint32_t nsaved;
                 struct jn_saved_reg saved[JN_MAX_SAVED_REGS]; uint32_t nframes;
                 const uint8_t *frames, *end; } crash;
        struct { int32_t status; uint64_t max_rss_kb, cpu_ms; } exit;
        struct { uint32_t tid, error, access, caught, other_api, type; uint64_t type_addr, aux;
                 int64_t offset; uint64_t other_addr; uint32_t other_type; } error;
        struct { uint32_t type, flags; } leak;               /* addr: the block */
        struct { uint32_t index; int64_t total_refs; uint64_t total_blocks; } mark;
        struct { uint32_t type; } block_type;                /* addr: the block */
        struct { uint32_t tid, event, func; int64_t refcnt; } owner; /* addr, stack */
        struct { uint32_t type; int64_t offset; } referrer;  /* addr: the referrer's block */
        struct { uint32_t offset, spec, flags, type; int64_t refcnt; } watch; /* addr: the object's block */
        struct { uint32_t id, line; struct jn_str file; } site;
    } u;
};

/* A frame of a STACK or CRASH record. STACK frames name Python code by
 * code_id; CRASH frames carry their strings inline, because the crash path
 * may not take the locks that interning needs. */
struct jn_frame {
    bool python;
    uint64_t pc;
    uint32_t code_id;
    uint32_t line;
    struct jn_str filename, function; /* CRASH frames only */
};

/* Decodes the record at *pp (within [*pp, end)) and advances *pp past it.
 * Returns 1 on success, 0 at a clean end (zero tag or no bytes left), and -1
 * when the bytes are not a valid record (corruption or truncation). Fields a
 * record does not carry are zero, except the union u of an allocation event
 * (ALLOC, FREE, FREE_TYPED, REALLOC), which is left as it was. */
int jn_decode(const uint8_t **pp, const uint8_t *end, struct jn_delta *d, struct jn_record *r);

/* Walks the frames of a STACK record; *pp starts at r->u.stack.frames and
 * *pc_state at 0. Returns 1 with *f filled, 0 after the last, -1 if corrupt. */
int jn_stack_next(const uint8_t **pp, const uint8_t *end, uint64_t *pc_state, struct jn_frame *f);
/* Same for a CRASH record's inline frames. */
int jn_crash_next(const uint8_t **pp, const uint8_t *end, struct jn_frame *f);
/* Walks a PROCESS record's argv strings. */
int jn_argv_next(const uint8_t **pp, const uint8_t *end, struct jn_str *s);

/* Encoders. Each writes one record at p, which must have room for the
 * returned worst case (jn_*_max), and returns the end of what it wrote. */
#define JN_EVENT_MAX (1 + 7 * 10)
uint8_t *jn_put_alloc(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                      uint64_t addr, uint64_t size, uint32_t stack);
uint8_t *jn_put_free(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                     uint64_t addr, uint32_t stack, uint32_t type);
uint8_t *jn_put_realloc(uint8_t *p, struct jn_delta *d, uint8_t api, uint64_t seq, uint64_t tsc,
                        uint64_t old_addr, uint64_t new_addr, uint64_t size, uint32_t stack);

/* Variable-length records are built in pieces: a head, then items. */
uint8_t *jn_put_stack_head(uint8_t *p, uint32_t id, uint32_t nframes);
uint8_t *jn_put_stack_native(uint8_t *p, uint64_t *pc_state, uint64_t pc);
uint8_t *jn_put_stack_python(uint8_t *p, uint32_t code_id, uint32_t line);
uint8_t *jn_put_str(uint8_t *p, const char *s, uint32_t len);
uint8_t *jn_put_code_head(uint8_t *p, uint32_t id);        /* then filename, name */
uint8_t *jn_put_type_head(uint8_t *p, uint32_t id);        /* then name */
uint8_t *jn_put_module_head(uint8_t *p, uint64_t bias, uint64_t start, uint64_t end); /* then path */
uint8_t *jn_put_thread_head(uint8_t *p, uint32_t tid, bool main); /* then name */
uint8_t *jn_put_process_head(uint8_t *p, uint32_t pid, uint32_t flags); /* then version, executable, argc, argv strings */
uint8_t *jn_put_varint(uint8_t *p, uint64_t v);
uint8_t *jn_put_note_head(uint8_t *p, uint32_t level);     /* then text */
uint8_t *jn_put_crash_head(uint8_t *p, uint64_t seq, uint32_t tid, uint32_t signo, int32_t code,
                           uint64_t fault_addr, uint32_t nregs, const uint64_t *regs, uint32_t nsaved,
                           const struct jn_saved_reg *saved, uint32_t nframes);
/* The name of register i of a CRASH record. */
const char *jn_reg_name(unsigned i);
uint8_t *jn_put_crash_native(uint8_t *p, uint64_t pc);
uint8_t *jn_put_crash_python(uint8_t *p, uint32_t line); /* then filename, function */
/* The target's fate and cost: exit status (or -signal), peak RSS, CPU time. */
uint8_t *jn_put_exit(uint8_t *p, int32_t status, uint64_t max_rss_kb, uint64_t cpu_ms);
/* What an ERROR record says beyond its kind. */
struct jn_error_info {
    uint8_t api;         /* the call that met the error */
    uint8_t other_api;   /* the block's allocating api (for mismatches, double frees) */
    uint64_t addr;       /* the block (the address the program got) */
    int64_t offset;      /* of the access, from the block's start */
    enum jn_access access;
    enum jn_caught caught;
    uint32_t type;       /* id of the object's type, for uninitialized fields */
    uint64_t type_addr;  /* an address in the module defining the type (ty_defined_at), whose DWARF names fields */
    uint64_t aux;        /* the type's tp_basicsize (uninitialized fields); the refcount (refcount-too-low) */
    uint64_t other_addr; /* the referent of a GC error (its block) */
    uint32_t other_type; /* the referent's type id */
};

/* An ERROR record, with the stack where it was detected. */
uint8_t *jn_put_error(uint8_t *p, uint64_t seq, uint32_t tid, enum jn_error error, const struct jn_error_info *e,
                      uint32_t stack);

/* A leaked block: its type id (0 unknown) and JN_LEAK_* flags. */
uint8_t *jn_put_leak(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type, uint32_t flags);
/* The end of repetition `index`; total_refs is sys.gettotalrefcount() or -1
 * on a release build, total_blocks sys.getallocatedblocks(). */
uint8_t *jn_put_mark(uint8_t *p, uint64_t seq, uint32_t index, int64_t total_refs, uint64_t total_blocks);
/* The type of the live object block at addr. */
uint8_t *jn_put_block_type(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type);
/* An ownership event on the object in block addr: event, the C-API function
 * (func: an index the agent and cli share through jn_capi_name), the reference
 * count after it (or -1), and the stack where it happened. */
uint8_t *jn_put_owner(uint8_t *p, uint64_t seq, uint32_t tid, enum jn_owner_event event, uint32_t func,
                      uint64_t addr, int64_t refcnt, uint32_t stack);
/* A referrer (block addr, type id, offset of the reference in it) of the
 * object named by the refcount-too-low ERROR record with the same seq. */
uint8_t *jn_put_referrer(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t type, int64_t offset);
/* Flags of a WATCH record: how the object's changes are seen. */
#define JN_WATCH_HARDWARE 1u  /* a hardware watchpoint on its reference count, in every thread */
#define JN_WATCH_NO_SLOT 2u   /* wanted one, but every debug register was taken by older objects */
#define JN_WATCH_NO_PERF 4u   /* hardware watchpoints are not available in this process */
#define JN_WATCH_LATER 8u     /* with HARDWARE, in a second WATCH record of the same object: a debug
                               * register came free and watches it from here on */
/* An object selected by --watch SPEC number spec (from 0, in the order given):
 * its block addr, the object's offset in it, flags (JN_WATCH_*), its
 * reference count when selected and its type id. */
uint8_t *jn_put_watch(uint8_t *p, uint64_t seq, uint64_t addr, uint32_t offset, uint32_t spec, uint32_t flags,
                      int64_t refcnt, uint32_t type);
/* A definition: site id names line of file (a routed macro's __FILE__ and
 * __LINE__); INCREF and DECREF OWNER records carry it as their func. */
uint8_t *jn_put_site_head(uint8_t *p, uint32_t id, uint32_t line); /* then file */
#define JN_SEQ_RECORD_MAX (1 + 8 * 10)

/* Names and families of the allocation interfaces. */
const char *jn_api_name(unsigned api);
/* The name of a C-API function of an OWNER record ("PyList_GetItem"), "?" for
 * a number this code does not know. */
const char *jn_capi_name(unsigned func);
enum jn_domain jn_api_domain(unsigned api);
const char *jn_domain_name(unsigned domain);
/* True if the header looks like a journal this code can read; *why names the problem otherwise. */
bool jn_header_valid(const struct jn_file_header *h, size_t file_size, const char **why);

#endif
