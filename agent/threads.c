#include "threads.h"

#include <pthread.h>

#include "../core/os.h"
#include "capture.h"
#include "guard.h"
#include "jwriter.h"
#include "types.h"

/* protected by: set once by thr_init, before any hook, read-only after */
static pthread_key_t end_key;
static bool end_ready;

/* protected by: thread-local. Whether this thread's key slot is set, so
 * that arming twice costs a load. */
static AGENT_TLS bool armed;

/* Runs in the ending thread, after its own thread-specific destructors
 * of other libraries may already have run and before its stack goes. */
static void on_thread_end(void *unused)
{
    (void)unused;
    armed = false;
    guard_depth++;
    cap_thread_end();
    ty_thread_end();
    jw_thread_end();
    guard_depth--;
}

void thr_unmap(void **slot, size_t size)
{
    void *p = *slot;
    *slot = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (p)
        os_unmap(p, size);
}

bool thr_init(void)
{
    end_ready = pthread_key_create(&end_key, on_thread_end) == 0;
    return end_ready;
}

void thr_arm(void)
{
    /* A signal handler does not arm: should pthread need memory for the
     * key's slot, it would ask malloc for it, which is not signal-safe. */
    if (armed || !end_ready || cap_in_signal)
        return;
    /* A key set again after its destructor ran is run again (up to
     * PTHREAD_DESTRUCTOR_ITERATIONS rounds): memory mapped by a later
     * destructor's allocation is given back too. */
    armed = pthread_setspecific(end_key, (void *)1) == 0;
}
