/* The file and line each routed Py_INCREF/Py_DECREF passes to
 * lifeline_ref_event (its __FILE__ and __LINE__), interned: each distinct
 * site is journaled once as a SITE record, and the OWNER records of the
 * changes name it by id, so that a history shows the macro's line even in
 * an extension built without debug information. Prefix: site_. */
#ifndef LL_REFSITE_H
#define LL_REFSITE_H

#include <stdint.h>

/* The id of (file, line), journaling it on first sight; 0 when it cannot
 * be interned (no file, a line beyond 65535, the table full). file must be
 * a string that lives as long as the code that passed it (a __FILE__
 * literal): it is keyed by its address. Call inside the guard. */
uint32_t site_id(const char *file, int line);

#endif
