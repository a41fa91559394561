/* The agent's own messages to the user: straight to stderr, formatted on the
 * stack, never through malloc, and rate-limited so that a hook failing on
 * every call cannot flood the terminal. Prefix: log_. */
#ifndef LL_LOG_H
#define LL_LOG_H

/* Formats like printf but understands only %s %d %u %ld %lu %zu %x %lx %p %%.
 * Writes "lifeline: " + message + "\n" to fd 2. After 50 messages it writes
 * one notice and then stays silent. */
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same formatter into a caller's buffer; always NUL-terminates and
 * returns the length written. */
unsigned log_format(char *buf, unsigned cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
