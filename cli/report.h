/* The report writers: the JSON document of shared/spec/report-v1.md and
 * the text report people read. Both print a finished fd_report and know
 * nothing of how findings were detected. Prefix: rpt_. */
#ifndef LL_REPORT_H
#define LL_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "finding.h"

#define LIFELINE_VERSION "0.1.0"

/* Writes the JSON report. Returns false if writing failed. */
bool rpt_json(FILE *out, const struct fd_report *r);

/* Writes the text report: each finding opens with the stable line
 * "lifeline: <kind>: <summary>", then its thread, block and stacks. */
void rpt_text(FILE *out, const struct fd_report *r);

/* Writes finding f's block and its history as a timeline (what
 * `lifeline history` prints, and the text report under a finding). */
void rpt_timeline(FILE *out, const struct fd_finding *f);

#endif
