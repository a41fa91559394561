#include "spin.h"

int spin_epoch = 1;

void spin_after_fork_in_child(void)
{
    __atomic_store_n(&spin_epoch, spin_epoch + 1, __ATOMIC_RELAXED);
}
