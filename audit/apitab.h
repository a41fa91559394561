/* apitab: reference semantics of the CPython 3.11 C API (generated table). */
#ifndef LIFELINE_AUDIT_APITAB_H
#define LIFELINE_AUDIT_APITAB_H

enum api_ret { API_RET_OTHER, API_RET_NEW, API_RET_BORROWED, API_RET_NULL };

enum api_flag {
    API_CAN_NULL = 1,   /* a pointer result may be NULL */
    API_SETS_EXC = 2,   /* a failure result comes with an exception set */
    API_NEG_FAIL = 4,   /* an int result < 0 means failure */
    API_ZERO_OK = 8,    /* an int result of 0 means success */
    API_RET_PTR = 16,
    API_RET_INT = 32,
    API_STEAL_ON_SUCCESS = 64, /* the stolen arguments are only taken when the call succeeds */
    API_NO_FAIL = 128,         /* documented as unchecked / never failing */
};

struct api_entry {
    const char *name;
    unsigned char ret;      /* enum api_ret */
    unsigned char flags;    /* enum api_flag bits */
    unsigned short steals;  /* bit i: argument i is stolen */
};

extern const struct api_entry api_table_311[];
extern const unsigned api_table_311_len;

/* Find NAME in the table; NULL when the C API does not document it. */
const struct api_entry *api_lookup(const char *name);

/* Facts the documentation does not state, kept by hand in api_facts.c
 * beside the generated table (each one cites the 3.11 implementation). */
enum api_fact {
    API_FACT_NULL_FALSE = 1,    /* a NULL first argument is accepted and gives 0 (false) */
    API_FACT_SIZE_ARG = 2,      /* returns a new container with as many slots as its size argument */
    API_FACT_ZERO_NO_FAIL = 4,  /* cannot fail when its size argument is 0 (a shared empty object) */
    API_FACT_SLOT_SET = 8,      /* (container, index, item): fails only for a shared tuple or an index out of range */
};

/* The API_FACT_* bits for NAME (0 when nothing is known beyond the table);
 * *SIZE_ARG is set to the index of its size argument (-1: none). */
unsigned api_facts(const char *name, int *size_arg);

#endif
