/* Captures the current call stack — native frames from libunwind with the
 * Python frames interleaved where the interpreter was evaluating them — and
 * interns it: each distinct stack is journaled once, events refer to it by
 * id. Prefix: cap_. */
#ifndef LL_CAPTURE_H
#define LL_CAPTURE_H

#include <stdbool.h>
#include <stdint.h>

/* Frames kept per stack, innermost first; deeper stacks are cut. */
#define CAP_MAX_NATIVE 64
#define CAP_MAX_PYTHON 64
/* The native frames taken on the fast path: enough to reach the innermost
 * evaluation loop from an allocator in the common case. */
#define CAP_SHORT_NATIVE 12

/* Stacks are interned by a key. By default the key is the native frames up
 * to the innermost Python evaluation loop plus every Python frame, and the
 * full stack is unwound only when a key is new; native frames between two
 * Python activations are then those seen the first time that key occurred.
 * With cap_exact_stacks every event unwinds the whole native stack. */
extern bool cap_exact_stacks;

/* Set by a signal handler around its captures: the stack then holds the
 * kernel's signal trampoline and an interrupted frame with an exact pc. */
extern __thread __attribute__((tls_model("initial-exec"))) bool cap_in_signal;

/* True if pc is the start of the kernel's signal return trampoline (glibc's
 * __restore_rt on x86-64: mov $15,%rax; syscall). pc must be code the
 * unwinder found, so that it is mapped. */
bool cap_is_sigreturn(const void *pc);

/* protected by: thread-local. The slot holding the return address of the
 * allocator hook this thread is in, or 0: cap_stack's walk to the
 * interpreter starts there rather than at its own frame, so that it never
 * walks the agent's frames in between (about half of all it walked). A hook
 * sets it right after guard_enter, with CAP_HOOK_BEGIN in the hook's own
 * body, and clears it with cap_hook_end before guard_leave; a slot left set
 * after its hook returned would start a walk in a dead frame. */
extern __thread __attribute__((tls_model("initial-exec"))) uintptr_t cap_hook_slot;

/* On x86-64 a function's return address is the word just below its
 * canonical frame address, which gcc and clang know even without a frame
 * pointer. Elsewhere the walk starts at cap_stack's own frame. The signal
 * fences keep the compiler from moving the slot's stores across the
 * guard's: a signal handler that records (through a C-API wrapper) while
 * the guard is open must not find the interrupted hook's slot set. */
#if defined(__x86_64__)
#define CAP_HOOK_BEGIN()                                                         \
    do {                                                                         \
        __atomic_signal_fence(__ATOMIC_SEQ_CST);                                 \
        cap_hook_slot = (uintptr_t)__builtin_dwarf_cfa() - sizeof(void *);       \
    } while (0)
#else
#define CAP_HOOK_BEGIN() ((void)0)
#endif

static inline void cap_hook_end(void)
{
    cap_hook_slot = 0;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Returns the id of the calling thread's current stack, without the agent's
 * own frames; 0 if no stack could be taken. Call inside guard_enter. */
uint32_t cap_stack(void);

/* Gives back the memory the calling thread's captures mapped (its memos
 * and learned frame sizes); they are mapped again if it captures later.
 * Called by the thread-end hook (threads.c). */
void cap_thread_end(void);

/* One frame of a new stack: a native return address (code NULL), or a
 * Python frame (its code object and instruction offset). */
struct cap_frame {
    uintptr_t pc;
    const void *code;
    int32_t lasti;
};

/* protected by: set once at start, before the first stack. When set, called
 * with the frames (innermost first) of each stack the first time it is
 * interned, after it is journaled, inside the guard, in the thread that met
 * it (a signal handler too, with cap_in_signal set): --watch site= decides
 * there whether an allocation stack matches. */
extern void (*cap_on_new_stack)(uint32_t id, const struct cap_frame *frames, int n);

#endif
