/* Unit tests of the agent's spinlock: mutual exclusion, and the locks a
 * child of fork() inherits from threads it does not have. Each fork case
 * runs the child under an alarm, so a lock that is never released shows
 * as a child killed by SIGALRM instead of a hung test. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/spin.h"
#include "check.h"

enum { ROUNDS = 200000 };

static int counter_lock;
static long counter;

static void *add_many(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        spin_lock(&counter_lock);
        counter++; /* a load and a store: lost updates show without the lock */
        spin_unlock(&counter_lock);
    }
    return arg;
}

static void test_exclusion(void)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, add_many, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK(counter == 3L * ROUNDS);
    CHECK(spin_trylock(&counter_lock));
    CHECK(!spin_trylock(&counter_lock));
    spin_unlock(&counter_lock);
}

/* A thread that takes a lock and keeps it until told to let go. */
static int held_lock;
static volatile int holding, let_go;

static void *hold(void *arg)
{
    spin_lock(&held_lock);
    __atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&let_go, __ATOMIC_ACQUIRE))
        usleep(1000);
    spin_unlock(&held_lock);
    return arg;
}

/* Forks while another thread holds held_lock. The child takes the lock
 * (with a fresh epoch when new_epoch), checks that it is then held, and
 * exits 0. Returns the child's wait status. */
static int fork_while_held(bool new_epoch)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(new_epoch ? 5 : 1);
        if (new_epoch)
            spin_after_fork_in_child();
        spin_lock(&held_lock);
        int code = spin_trylock(&held_lock) ? 3 : 0; /* the child holds it now */
        spin_unlock(&held_lock);
        _exit(code);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void test_fork_frees_locks_of_other_threads(void)
{
    pthread_t t;
    pthread_create(&t, NULL, hold, NULL);
    while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
        usleep(100);

    int st = fork_while_held(true);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* Without the child's handler the lock stays held there for good: what
     * the handler is for. */
    st = fork_while_held(false);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM);

    /* In the parent the holder still holds it. */
    CHECK(!spin_trylock(&held_lock));
    __atomic_store_n(&let_go, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK(spin_trylock(&held_lock));
    spin_unlock(&held_lock);
}

/* A child's own threads exclude each other in its epoch, and a grandchild
 * starts another: a lock the child's other thread held is free there. */
static void test_grandchild(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        spin_after_fork_in_child();
        /* Exclusion holds among the child's own threads in its new epoch. */
        counter = 0;
        pthread_t adders[3];
        for (int i = 0; i < 3; i++)
            pthread_create(&adders[i], NULL, add_many, NULL);
        for (int i = 0; i < 3; i++)
            pthread_join(adders[i], NULL);
        if (counter != 3L * ROUNDS)
            _exit(2);
        __atomic_store_n(&holding, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&let_go, 0, __ATOMIC_RELAXED);
        pthread_t t;
        pthread_create(&t, NULL, hold, NULL);
        while (!__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
            usleep(100);
        int st = fork_while_held(true);
        __atomic_store_n(&let_go, 1, __ATOMIC_RELEASE);
        pthread_join(t, NULL);
        _exit(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    test_exclusion();
    test_fork_frees_locks_of_other_threads();
    test_grandchild();
    return check_summary("test_spin");
}
