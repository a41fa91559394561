/* Hand-kept overlay of C API facts beside the generated table
 * (api_table_311.c, which only audit/gen/ writes). The documentation does
 * not state these, so the generator cannot find them; each entry names the
 * CPython 3.11 code it rests on. A fact belongs here only when real code
 * produced a false alarm without it, and it gets a corpus test. */
#include "apitab.h"

#include <string.h>

struct api_fact_entry {
    const char *name;
    unsigned facts;     /* enum api_fact bits */
    int size_arg;       /* index of the size argument, -1: none */
};

static const struct api_fact_entry api_fact_table[] = {
    /* Objects/bytesobject.c PyBytes_FromStringAndSize: "if (size == 0) return
     * bytes_new_empty();" (the empty-bytes singleton, no allocation) */
    {"PyBytes_FromStringAndSize", API_FACT_ZERO_NO_FAIL, 1},
    /* Objects/object.c PyCallable_Check: "if (x == NULL) return 0;" */
    {"PyCallable_Check", API_FACT_NULL_FALSE, -1},
    /* Objects/listobject.c PyList_New(size): a list of size NULL slots */
    {"PyList_New", API_FACT_SIZE_ARG, 0},
    /* Objects/listobject.c PyList_SetItem: fails only when op is not a list
     * or !valid_index(i, Py_SIZE(op)) */
    {"PyList_SetItem", API_FACT_SLOT_SET, -1},
    /* Objects/tupleobject.c PyTuple_New: "if (size == 0) return tuple_get_empty();"
     * (the empty-tuple singleton, no allocation) */
    {"PyTuple_New", API_FACT_SIZE_ARG | API_FACT_ZERO_NO_FAIL, 0},
    /* Objects/tupleobject.c PyTuple_SetItem: fails only when op is not a
     * tuple, Py_REFCNT(op) != 1, or i is outside 0..Py_SIZE(op)-1 */
    {"PyTuple_SetItem", API_FACT_SLOT_SET, -1},
};

unsigned api_facts(const char *name, int *size_arg)
{
    *size_arg = -1;
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof api_fact_table / sizeof api_fact_table[0]; i++) {
        if (strcmp(api_fact_table[i].name, name) == 0) {
            *size_arg = api_fact_table[i].size_arg;
            return api_fact_table[i].facts;
        }
    }
    return 0;
}
