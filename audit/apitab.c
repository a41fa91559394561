#include "apitab.h"

#include <stdlib.h>
#include <string.h>

/* bsearch comparison of a name with a table entry. */
static int cmp_entry(const void *key, const void *elem)
{
    return strcmp(key, ((const struct api_entry *)elem)->name);
}

const struct api_entry *api_lookup(const char *name)
{
    if (!name)
        return NULL;
    return bsearch(name, api_table_311, api_table_311_len, sizeof api_table_311[0], cmp_entry);
}
