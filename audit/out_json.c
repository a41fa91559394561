#include "out.h"

void out_json_str(FILE *out, const char *s)
{
    if (!s) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            if (*p < 0x20)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}

/* One static finding in the report schema. */
static void write_finding(FILE *out, const struct finding *f)
{
    fputs("{\"kind\": ", out);
    out_json_str(out, fnd_kind_name(f->kind));
    fputs(", \"severity\": ", out);
    out_json_str(out, fnd_severity_name(f->severity));
    fputs(", \"summary\": ", out);
    out_json_str(out, f->summary);
    fputs(", \"location\": {\"file\": ", out);
    out_json_str(out, f->file);
    fprintf(out, ", \"line\": %u, \"column\": %u, \"function\": ", f->line, f->column);
    out_json_str(out, f->function);
    fputs("}, \"path\": [", out);
    for (size_t j = 0; j < f->npath; j++) {
        fputs(j ? ", {\"file\": " : "{\"file\": ", out);
        out_json_str(out, f->path[j].file);
        fprintf(out, ", \"line\": %u, \"note\": ", f->path[j].line);
        out_json_str(out, f->path[j].text);
        fputc('}', out);
    }
    fputs("], \"details\": {\"variable\": ", out);
    out_json_str(out, f->variable);
    fputs(", \"api\": ", out);
    out_json_str(out, f->api);
    fputs("}}", out);
}

/* The lifeline-report/1 document shared with the runtime tracer. */
void out_json(FILE *out, const struct fnd_list *list, const struct out_meta *meta)
{
    fprintf(out, "{\"schema\": \"lifeline-report/1\", \"tool\": {\"name\": \"%s\", \"version\": \"%s\"},\n",
            AUD_TOOL_NAME, AUD_TOOL_VERSION);
    fputs(" \"target\": {\"argv\": [", out);
    for (int i = 0; i < meta->argc; i++) {
        if (i)
            fputs(", ", out);
        out_json_str(out, meta->argv[i]);
    }
    fputs("], \"pid\": null, \"python\": {\"version\": ", out);
    out_json_str(out, meta->py_version);
    fprintf(out, ", \"debug_build\": %s, \"executable\": ", meta->py_debug ? "true" : "false");
    out_json_str(out, meta->py_executable);
    fprintf(out, "}, \"exit\": {\"status\": %d, \"signal\": null}},\n \"findings\": [", meta->exit_status);
    for (size_t i = 0; i < list->len; i++) {
        fputs(i ? ",\n  " : "\n  ", out);
        write_finding(out, &list->items[i]);
    }
    fprintf(out, "%s],\n \"stats\": {\"files\": %u, \"functions\": %u, \"seconds\": %.3f}}\n",
            list->len ? "\n " : "", meta->files, meta->functions, meta->seconds);
}
