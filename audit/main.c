/* lifeline-check: the `lifeline check` subcommand, a path-sensitive source
 * audit of CPython C extensions for reference-ownership bugs. */
#include <clang-c/CXCompilationDatabase.h>
#include <clang-c/Index.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxu.h"
#include "finding.h"
#include "opts.h"
#include "out.h"
#include "pyinfo.h"
#include "unit.h"

#define PROG "lifeline check"

struct job {
    char *file;         /* path handed to libclang */
    char *display;      /* path shown in findings */
    char **args;
    int nargs;
    char *error;        /* parse failure, set after the run */
    unsigned functions;
    int done;           /* a worker reported this job's result */
};

struct jobs {
    struct job *v;
    int n;
};

/* Print "lifeline check: MSG" and exit with status 2. */
static void die_usage(const char *msg)
{
    fprintf(stderr, PROG ": %s\n", msg);
    exit(2);
}

/* Monotonic time in seconds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Append a copy of A to the job's compiler arguments. */
static void add_arg(struct job *j, const char *a)
{
    j->args = fnd_xrealloc(j->args, (j->nargs + 1) * sizeof *j->args);
    j->args[j->nargs++] = fnd_xstrdup(a);
}

/* Flags every parse gets: the interpreter's headers and a release-build NDEBUG. */
static void base_args(struct job *j, const struct pyinfo *py)
{
    char *inc = fnd_xasprintf("-I%s", py->include);
    add_arg(j, inc);
    free(inc);
    add_arg(j, "-DNDEBUG");
}

/* A new, empty job at the end of JS. */
static struct job *new_job(struct jobs *js)
{
    js->v = fnd_xrealloc(js->v, (js->n + 1) * sizeof *js->v);
    struct job *j = &js->v[js->n++];
    memset(j, 0, sizeof *j);
    return j;
}

/* Exit with status 2 and one line unless FILE is a readable regular file. */
static void check_readable(const char *file)
{
    struct stat st;
    if (stat(file, &st) < 0) {
        fprintf(stderr, PROG ": cannot read '%s': %s\n", file, strerror(errno));
        exit(2);
    }
    if (!S_ISREG(st.st_mode) || access(file, R_OK) < 0) {
        fprintf(stderr, PROG ": cannot read '%s': not a readable file\n", file);
        exit(2);
    }
}

/* One job per command-line file, with the flags after "--". */
static void jobs_from_files(struct jobs *js, const struct opts *o, const struct pyinfo *py)
{
    for (int i = 0; i < o->nfiles; i++) {
        check_readable(o->files[i]);
        struct job *j = new_job(js);
        j->file = fnd_xstrdup(o->files[i]);
        j->display = fnd_xstrdup(o->files[i]);
        base_args(j, py);
        for (int k = 0; k < o->nflags; k++)
            add_arg(j, o->flags[k]);
    }
}

/* Compiler arguments worth keeping from a build command: drop the compiler,
 * outputs and dependency-file options, which would make libclang write files. */
static int skip_arg(const char *a, int *skip_next)
{
    *skip_next = 0;
    if (strcmp(a, "-o") == 0 || strcmp(a, "-MF") == 0 || strcmp(a, "-MT") == 0 || strcmp(a, "-MQ") == 0) {
        *skip_next = 1;
        return 1;
    }
    return strcmp(a, "-c") == 0 || strncmp(a, "-M", 2) == 0;
}

/* Whether PATH is among the files named on the command line (all when none). */
static int wanted(const struct opts *o, const char *path)
{
    if (o->nfiles == 0)
        return 1;
    char *rp = realpath(path, NULL);
    int yes = 0;
    for (int i = 0; i < o->nfiles && !yes; i++) {
        char *fp = realpath(o->files[i], NULL);
        yes = rp && fp && strcmp(rp, fp) == 0;
        free(fp);
    }
    free(rp);
    return yes;
}

/* FILE relative to DIR unless absolute (malloc'd). */
static char *join_path(const char *dir, const char *file)
{
    if (file[0] == '/')
        return fnd_xstrdup(file);
    return fnd_xasprintf("%s/%s", dir, file);
}

/* Jobs from BUILD_DIR/compile_commands.json; exits with status 2 when it is
 * missing, unreadable or lists none of the requested files. */
static void jobs_from_db(struct jobs *js, const struct opts *o, const struct pyinfo *py)
{
    char *dbfile = fnd_xasprintf("%s/compile_commands.json", o->build_dir);
    if (access(dbfile, R_OK) < 0) {
        fprintf(stderr, PROG ": no compile_commands.json in '%s'\n", o->build_dir);
        exit(2);
    }
    free(dbfile);
    CXCompilationDatabase_Error err;
    CXCompilationDatabase db = clang_CompilationDatabase_fromDirectory(o->build_dir, &err);
    if (err != CXCompilationDatabase_NoError || !db) {
        fprintf(stderr, PROG ": cannot load compile_commands.json from '%s'\n", o->build_dir);
        exit(2);
    }
    CXCompileCommands cmds = clang_CompilationDatabase_getAllCompileCommands(db);
    unsigned n = clang_CompileCommands_getSize(cmds);
    for (unsigned i = 0; i < n; i++) {
        CXCompileCommand cmd = clang_CompileCommands_getCommand(cmds, i);
        char *dir = cxu_take(clang_CompileCommand_getDirectory(cmd));
        char *file = cxu_take(clang_CompileCommand_getFilename(cmd));
        char *path = join_path(dir, file);
        if (!wanted(o, path) || access(path, R_OK) < 0) {
            free(dir), free(file), free(path);
            continue;
        }
        struct job *j = new_job(js);
        j->file = path;
        j->display = file;
        base_args(j, py);
        char *wd = fnd_xasprintf("-working-directory=%s", dir);
        add_arg(j, wd);
        free(wd);
        unsigned na = clang_CompileCommand_getNumArgs(cmd);
        for (unsigned k = 1; k < na; k++) {
            char *a = cxu_take(clang_CompileCommand_getArg(cmd, k));
            int skip_next;
            int is_src = strcmp(a, file) == 0 || strcmp(a, path) == 0;
            if (!is_src && !skip_arg(a, &skip_next))
                add_arg(j, a);
            else if (skip_next)
                k++;
            free(a);
        }
        for (int k = 0; k < o->nflags; k++)
            add_arg(j, o->flags[k]);
        free(dir);
    }
    clang_CompileCommands_dispose(cmds);
    clang_CompilationDatabase_dispose(db);
    if (js->n == 0) {
        fprintf(stderr, PROG ": compile_commands.json in '%s' lists none of the requested files\n",
                o->build_dir);
        exit(2);
    }
}

/* Parse and analyse one job, appending its findings to OUT. */
static void run_job(CXIndex idx, struct job *j, struct fnd_list *out)
{
    struct unit_result res;
    unit_check(idx, j->file, j->display, (const char *const *)j->args, j->nargs, out, &res);
    j->functions = res.functions;
    j->error = res.error;
}

/* ---------- worker results travel through a temporary file ---------- */

static void put_u32(FILE *f, uint32_t v)
{
    fwrite(&v, sizeof v, 1, f);
}

/* Serialise S (NULL allowed) for the parent. */
static void put_str(FILE *f, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
    put_u32(f, n);
    if (s)
        fwrite(s, 1, n, f);
}

/* Read a 32-bit value written by put_u32 (0 at end of file). */
static uint32_t get_u32(FILE *f)
{
    uint32_t v = 0;
    if (fread(&v, sizeof v, 1, f) != 1)
        return 0;
    return v;
}

/* Read a string written by put_str (NULL stays NULL). */
static char *get_str(FILE *f)
{
    uint32_t n = get_u32(f);
    if (n == UINT32_MAX)
        return NULL;
    char *s = fnd_xmalloc(n + 1);
    if (fread(s, 1, n, f) != n)
        n = 0;
    s[n] = 0;
    return s;
}

/* Serialise one finding for the parent. */
static void put_finding(FILE *f, const struct finding *x)
{
    put_u32(f, x->kind);
    put_u32(f, x->severity);
    put_str(f, x->summary);
    put_str(f, x->file);
    put_u32(f, x->line);
    put_u32(f, x->column);
    put_str(f, x->function);
    put_str(f, x->variable);
    put_str(f, x->api);
    put_u32(f, (uint32_t)x->npath);
    for (size_t i = 0; i < x->npath; i++) {
        put_str(f, x->path[i].file);
        put_u32(f, x->path[i].line);
        put_str(f, x->path[i].text);
    }
}

/* Read one finding and add it to OUT. */
static void get_finding(FILE *f, struct fnd_list *out)
{
    struct finding x;
    memset(&x, 0, sizeof x);
    x.kind = get_u32(f);
    x.severity = get_u32(f);
    x.summary = get_str(f);
    x.file = get_str(f);
    x.line = get_u32(f);
    x.column = get_u32(f);
    x.function = get_str(f);
    x.variable = get_str(f);
    x.api = get_str(f);
    x.npath = get_u32(f);
    x.path = fnd_xmalloc((x.npath + 1) * sizeof *x.path);
    for (size_t i = 0; i < x.npath; i++) {
        x.path[i].file = get_str(f);
        x.path[i].line = get_u32(f);
        x.path[i].text = get_str(f);
    }
    if (x.kind < FK_COUNT)
        fnd_add(out, &x);
    fnd_release(&x);
}

/* Take job numbers from the QUEUE pipe until it is empty: 4-byte reads from
 * a pipe are atomic, so workers never share a job and a slow file does not
 * hold back the others. */
static void worker(CXIndex idx, struct jobs *js, int queue, FILE *f)
{
    uint32_t i;
    while (read(queue, &i, sizeof i) == (ssize_t)sizeof i) {
        if (i >= (uint32_t)js->n)
            break;
        struct fnd_list out = {0};
        run_job(idx, &js->v[i], &out);
        put_u32(f, (uint32_t)i);
        put_u32(f, js->v[i].functions);
        put_str(f, js->v[i].error);
        put_u32(f, (uint32_t)out.len);
        for (size_t k = 0; k < out.len; k++)
            put_finding(f, &out.items[k]);
        fnd_free(&out);
    }
    fflush(f);
}

/* Read every job result a worker wrote to F. */
static void collect(struct jobs *js, FILE *f, struct fnd_list *out)
{
    rewind(f);
    for (;;) {
        uint32_t i;
        if (fread(&i, sizeof i, 1, f) != 1 || i >= (uint32_t)js->n)
            break;
        js->v[i].functions = get_u32(f);
        js->v[i].error = get_str(f);
        js->v[i].done = 1;
        uint32_t n = get_u32(f);
        for (uint32_t k = 0; k < n; k++)
            get_finding(f, out);
    }
}

/* Run all jobs, in NW forked workers when that helps. */
static void run_all(struct jobs *js, int nw, struct fnd_list *out)
{
    CXIndex idx = clang_createIndex(0, 0);
    if (nw > js->n)
        nw = js->n;
    if (nw <= 1) {
        for (int i = 0; i < js->n; i++)
            run_job(idx, &js->v[i], out);
        clang_disposeIndex(idx);
        return;
    }
    FILE *tmp[64];
    pid_t pid[64];
    int queue[2];
    if (pipe(queue) < 0)
        die_usage("cannot create a pipe for the workers");
    for (uint32_t i = 0; i < (uint32_t)js->n; i++)
        if (write(queue[1], &i, sizeof i) != (ssize_t)sizeof i)
            die_usage("cannot queue the jobs");
    close(queue[1]);
    fflush(NULL);
    for (int w = 0; w < nw; w++) {
        tmp[w] = tmpfile();
        if (!tmp[w])
            die_usage("cannot create a temporary file");
        pid[w] = fork();
        if (pid[w] < 0)
            die_usage("cannot start a worker process");
        if (pid[w] == 0) {
            worker(idx, js, queue[0], tmp[w]);
            _exit(0);
        }
    }
    int crashed = 0;
    for (int w = 0; w < nw; w++) {
        int st;
        while (waitpid(pid[w], &st, 0) < 0 && errno == EINTR)
            ;
        collect(js, tmp[w], out);
        fclose(tmp[w]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            crashed = 1;
    }
    close(queue[0]);
    /* a crashed worker loses the job it was on: report the files without a result */
    for (int i = 0; crashed && i < js->n; i++)
        if (!js->v[i].done)
            js->v[i].error = fnd_xstrdup("the analysis stopped on this file");
    clang_disposeIndex(idx);
}

/* Print the findings on F in format FMT. */
static void write_output(FILE *f, enum opt_format fmt, const struct fnd_list *l, const struct out_meta *m)
{
    if (fmt == OF_JSON)
        out_json(f, l, m);
    else if (fmt == OF_SARIF)
        out_sarif(f, l, m);
    else
        out_text(f, l, m);
}

int main(int argc, char **argv)
{
    double t0 = now();
    struct opts o;
    char *err = NULL;
    if (opt_parse(argc - 1, argv + 1, &o, &err) < 0)
        die_usage(err);
    if (o.help) {
        fputs(opt_usage(), stdout);
        return 0;
    }
    struct pyinfo py;
    if (pyi_query(o.python, &py, &err) < 0)
        die_usage(err);
    struct jobs js = {0};
    if (o.build_dir)
        jobs_from_db(&js, &o, &py);
    else
        jobs_from_files(&js, &o, &py);
    FILE *report = NULL;
    if (o.report && !(report = fopen(o.report, "w"))) {
        fprintf(stderr, PROG ": cannot write report '%s': %s\n", o.report, strerror(errno));
        return 2;
    }
    struct fnd_list findings = {0};
    run_all(&js, o.jobs, &findings);
    fnd_sort(&findings);
    int input_error = 0;
    unsigned files = 0, functions = 0;
    for (int i = 0; i < js.n; i++) {
        if (js.v[i].error) {
            fprintf(stderr, PROG ": %s: cannot parse: %s\n", js.v[i].display, js.v[i].error);
            input_error = 1;
        } else {
            files++;
        }
        functions += js.v[i].functions;
    }
    int status = input_error ? 2 : fnd_count(&findings, FS_ERROR) ? 1 : 0;
    struct out_meta meta = {
        .argc = argc - 1, .argv = argv + 1, .py_version = py.version, .py_debug = py.debug,
        .py_executable = py.executable, .exit_status = status, .files = files,
        .functions = functions, .seconds = now() - t0,
    };
    write_output(stdout, o.format, &findings, &meta);
    if (report) {
        out_json(report, &findings, &meta);
        if (fclose(report) != 0) {
            fprintf(stderr, PROG ": cannot write report '%s'\n", o.report);
            status = 2;
        }
    }
    if (fflush(stdout) != 0)
        status = 2;
    fnd_free(&findings);
    for (int i = 0; i < js.n; i++) {
        for (int k = 0; k < js.v[i].nargs; k++)
            free(js.v[i].args[k]);
        free(js.v[i].args);
        free(js.v[i].file);
        free(js.v[i].display);
        free(js.v[i].error);
    }
    free(js.v);
    pyi_free(&py);
    opt_free(&o);
    return status;
}
