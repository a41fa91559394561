/* Unit tests of the hash table the agent and the cli share: it must agree
 * with a simple model under heavy insert/remove churn (backward-shift
 * deletion is easy to get subtly wrong). */
#include <stdlib.h>
#include <string.h>

#include "../../core/table.h"
#include "check.h"

struct entry {
    uint64_t key;
    uint64_t value;
};

static void test_basic(void)
{
    struct tbl t;
    bool inserted;
    tbl_init(&t, sizeof(struct entry));
    CHECK(tbl_find(&t, 5) == NULL);
    CHECK(tbl_insert(&t, 0, &inserted) == NULL); /* 0 marks empty slots */
    CHECK(tbl_find(&t, 0) == NULL);
    struct entry *e = tbl_insert(&t, 5, &inserted);
    CHECK(e && inserted && e->key == 5 && e->value == 0);
    e->value = 55;
    e = tbl_insert(&t, 5, &inserted);
    CHECK(e && !inserted && e->value == 55);
    struct entry out;
    CHECK(tbl_remove(&t, 5, &out) && out.value == 55);
    CHECK(!tbl_remove(&t, 5, NULL));
    CHECK(t.count == 0);
    tbl_destroy(&t);
}

/* Random churn against a direct-indexed model. */
static void test_churn(void)
{
    enum { KEYS = 50000, OPS = 1000000 };
    uint64_t *model = calloc(KEYS, sizeof *model);
    struct tbl t;
    bool inserted;
    tbl_init(&t, sizeof(struct entry));
    srand(7);
    int mismatches = 0;
    size_t count = 0;
    for (int i = 0; i < OPS; i++) {
        uint64_t k = (uint64_t)(rand() % KEYS);
        /* Aligned, clustered keys, like heap addresses. */
        uint64_t key = 0x7f0000000000ull + k * 16;
        if (rand() & 1) {
            struct entry *e = tbl_insert(&t, key, &inserted);
            if (!e) {
                mismatches++;
                continue;
            }
            if (inserted != (model[k] == 0))
                mismatches++;
            if (inserted)
                count++;
            e->value = (uint64_t)i + 1;
            model[k] = (uint64_t)i + 1;
        } else {
            struct entry out;
            bool removed = tbl_remove(&t, key, &out);
            if (removed != (model[k] != 0) || (removed && out.value != model[k]))
                mismatches++;
            if (removed)
                count--;
            model[k] = 0;
        }
    }
    for (uint64_t k = 0; k < KEYS; k++) {
        struct entry *e = tbl_find(&t, 0x7f0000000000ull + k * 16);
        if ((e != NULL) != (model[k] != 0) || (e && e->value != model[k]))
            mismatches++;
    }
    CHECK(mismatches == 0);
    CHECK(t.count == count);
    size_t pos = 0, seen = 0;
    while (tbl_next(&t, &pos))
        seen++;
    CHECK(seen == count);
    tbl_destroy(&t);
    free(model);
}

int main(void)
{
    test_basic();
    test_churn();
    return check_summary("test_table");
}
