#include "out.h"

/* Compiler-style lines so that editors and CI log parsers pick them up. */
void out_text(FILE *out, const struct fnd_list *list, const struct out_meta *meta)
{
    for (size_t i = 0; i < list->len; i++) {
        const struct finding *f = &list->items[i];
        fprintf(out, "%s:%u:%u: %s: %s [%s]\n", f->file, f->line, f->column,
                fnd_severity_name(f->severity), f->summary, fnd_kind_name(f->kind));
        for (size_t j = 0; j < f->npath; j++)
            fprintf(out, "%s:%u: note: %s\n", f->path[j].file, f->path[j].line, f->path[j].text);
        fputc('\n', out);
    }
    size_t errors = fnd_count(list, FS_ERROR), warnings = fnd_count(list, FS_WARNING);
    fprintf(out, "lifeline check: %zu error%s, %zu warning%s in %u file%s\n", errors,
            errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s", meta->files,
            meta->files == 1 ? "" : "s");
}
