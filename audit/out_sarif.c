#include "out.h"

/* A SARIF physicalLocation (column left out when 0). */
static void write_location(FILE *out, const char *file, unsigned line, unsigned column)
{
    fputs("{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ", out);
    out_json_str(out, file);
    fprintf(out, "}, \"region\": {\"startLine\": %u", line);
    if (column)
        fprintf(out, ", \"startColumn\": %u", column);
    fputs("}}}", out);
}

/* One reportingDescriptor per finding kind, in enum order. */
static void write_rules(FILE *out)
{
    fputs("\"rules\": [", out);
    for (int k = 0; k < FK_COUNT; k++) {
        fputs(k ? ", {\"id\": " : "{\"id\": ", out);
        out_json_str(out, fnd_kind_name(k));
        fputs(", \"shortDescription\": {\"text\": ", out);
        out_json_str(out, fnd_kind_help(k));
        fputs("}}", out);
    }
    fputc(']', out);
}

/* One SARIF result with its code flow. */
static void write_result(FILE *out, const struct finding *f)
{
    fputs("{\"ruleId\": ", out);
    out_json_str(out, fnd_kind_name(f->kind));
    fprintf(out, ", \"ruleIndex\": %d, \"level\": ", (int)f->kind);
    out_json_str(out, fnd_severity_name(f->severity));
    fputs(", \"message\": {\"text\": ", out);
    out_json_str(out, f->summary);
    fputs("}, \"locations\": [", out);
    write_location(out, f->file, f->line, f->column);
    fputs("]", out);
    if (f->npath) {
        fputs(", \"codeFlows\": [{\"threadFlows\": [{\"locations\": [", out);
        for (size_t j = 0; j < f->npath; j++) {
            fputs(j ? ", {\"location\": " : "{\"location\": ", out);
            fputs("{\"physicalLocation\": {\"artifactLocation\": {\"uri\": ", out);
            out_json_str(out, f->path[j].file);
            fprintf(out, "}, \"region\": {\"startLine\": %u}}, \"message\": {\"text\": ", f->path[j].line);
            out_json_str(out, f->path[j].text);
            fputs("}}}", out);
        }
        fputs("]}]}]", out);
    }
    fputs(", \"properties\": {\"function\": ", out);
    out_json_str(out, f->function);
    fputs("}}", out);
}

/* SARIF 2.1.0 with one run, one rule per finding kind. */
void out_sarif(FILE *out, const struct fnd_list *list, const struct out_meta *meta)
{
    fputs("{\"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\", \"version\": \"2.1.0\",\n"
          " \"runs\": [{\"tool\": {\"driver\": {\"name\": \"" AUD_TOOL_NAME "\", \"version\": \""
          AUD_TOOL_VERSION "\", ", out);
    write_rules(out);
    fputs("}},\n  \"results\": [", out);
    for (size_t i = 0; i < list->len; i++) {
        fputs(i ? ",\n   " : "\n   ", out);
        write_result(out, &list->items[i]);
    }
    fprintf(out, "%s],\n  \"invocations\": [{\"executionSuccessful\": %s, \"exitCode\": %d}]}]}\n",
            list->len ? "\n  " : "", meta->exit_status == 2 ? "false" : "true", meta->exit_status);
}
