# lifeline check: static ownership audit (issue 6). Included by the top Makefile.
AUDIT_SRCS := main.c opts.c pyinfo.c unit.c cxu.c cfg.c flow.c relfield.c gctype.c apitab.c api_facts.c \
              api_table_311.c finding.c out_text.c out_json.c out_sarif.c
AUDIT_OBJS := $(AUDIT_SRCS:%.c=$(BUILD)/audit/%.o)
AUDIT_LLVM := /usr/lib/llvm-14
AUDIT_CFLAGS := -I$(AUDIT_LLVM)/include
AUDIT_LIBS := -L$(AUDIT_LLVM)/lib -lclang -Wl,-rpath,$(AUDIT_LLVM)/lib

all: $(BUILD)/lifeline-check

$(BUILD)/lifeline-check: $(AUDIT_OBJS)
	$(CC) $(CFLAGS) -o $@ $(AUDIT_OBJS) $(AUDIT_LIBS)

$(BUILD)/audit/%.o: audit/%.c $(wildcard audit/*.h) | $(BUILD)/audit
	$(CC) $(BASEFLAGS) $(CFLAGS) $(AUDIT_CFLAGS) -c -o $@ $<

$(BUILD)/audit:
	mkdir -p $@

# Regenerate the C API table (needs python3.11-doc and the python3.11 source package).
AUDIT_REFCOUNTS ?= /tmp/src/Python-3.11.2/Doc/data/refcounts.dat
AUDIT_CAPI_HTML ?= /usr/share/doc/python3.11/html/c-api
.PHONY: audit-api-table
audit-api-table:
	python3 audit/gen/gen_api_table.py $(AUDIT_REFCOUNTS) $(AUDIT_CAPI_HTML) audit/api_table_311.c
