# C unit tests of the core (and of pyver and the symbolizer). Each program
# prints "N passed, M failed" and exits non-zero on a failure.
UNIT_DIR := $(BUILD)/tests/unit
UNIT_HDRS := tests/unit/check.h core/journal.h core/table.h core/varint.h
UNIT_TESTS := $(UNIT_DIR)/test_journal $(UNIT_DIR)/test_jreader $(UNIT_DIR)/test_table $(UNIT_DIR)/test_live $(UNIT_DIR)/test_spin $(UNIT_DIR)/test_series $(UNIT_DIR)/test_history $(UNIT_DIR)/test_watchspec $(UNIT_DIR)/test_balance $(UNIT_DIR)/test_pyver_layout-release \
              $(UNIT_DIR)/test_pyver_layout-debug $(UNIT_DIR)/test_symbolize $(UNIT_DIR)/libsymfix.so \
              $(UNIT_DIR)/libsymfix_nz.so $(UNIT_DIR)/test_elfpatch $(UNIT_DIR)/libepfix_now.so \
              $(UNIT_DIR)/libepfix_lazy.so $(UNIT_DIR)/libepfix_defines.so

all: $(UNIT_TESTS)

$(UNIT_DIR)/test_journal: tests/unit/test_journal.c $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^)

# The reader's followed replay, against a writer that plays the agent's protocol.
$(UNIT_DIR)/test_jreader: tests/unit/test_jreader.c cli/jreader.c cli/jreader.h $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_jreader.c cli/jreader.c $(CORE_OBJ) -lpthread

$(UNIT_DIR)/test_table: tests/unit/test_table.c $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^)

# The agent's table of live blocks: its shadow and its hash table.
$(UNIT_DIR)/test_live: tests/unit/test_live.c agent/live.c agent/live.h agent/spin.c agent/spin.h $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_live.c agent/live.c agent/spin.c $(CORE_OBJ) -lpthread

# The agent's spinlock, and the locks a child of fork() inherits held.
$(UNIT_DIR)/test_spin: tests/unit/test_spin.c agent/spin.c agent/spin.h $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_spin.c agent/spin.c -lpthread

# The repetition rule, with the journal's lookups stubbed in the test.
$(UNIT_DIR)/test_series: tests/unit/test_series.c cli/series.c cli/series.h $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_series.c cli/series.c $(CORE_OBJ)

# The replay's ownership histories, with the journal and the series stubbed in the test.
$(UNIT_DIR)/test_history: tests/unit/test_history.c cli/replay.c cli/replay.h $(CORE_OBJ) $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_history.c cli/replay.c $(CORE_OBJ)

# The --watch SPEC grammar.
$(UNIT_DIR)/test_watchspec: tests/unit/test_watchspec.c $(CORE_OBJ) $(UNIT_HDRS) core/watchspec.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $(filter %.c %.o,$^)

# The pairing of a history's increments and decrements.
$(UNIT_DIR)/test_balance: tests/unit/test_balance.c cli/balance.c cli/balance.h cli/arena.c cli/finding.h $(UNIT_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ tests/unit/test_balance.c cli/balance.c cli/arena.c

# The layout test is compiled against each installed 3.11 flavour's headers.
$(UNIT_DIR)/test_pyver_layout-release: tests/unit/test_pyver_layout.c $(PYVER_OBJ) $(UNIT_HDRS) pyver/pyver.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) -w $$(python3.11-config --includes) -o $@ $(filter %.c %.o,$^) -ldl

$(UNIT_DIR)/test_pyver_layout-debug: tests/unit/test_pyver_layout.c $(PYVER_OBJ) $(UNIT_HDRS) pyver/pyver.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) -w $$(python3.11d-config --includes) -o $@ $(filter %.c %.o,$^) -ldl

# The symbolizer's fixture: fixed -O2 -g (the test expects inlining), and a
# second build whose first segment is not at address 0.
$(UNIT_DIR)/libsymfix.so: tests/unit/symbolize_fixture.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O2 -g -fPIC -shared -o $@ $<

$(UNIT_DIR)/libsymfix_nz.so: tests/unit/symbolize_fixture.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O2 -g -fPIC -shared -Wl,-Ttext-segment=0x400000 -o $@ $<

$(UNIT_DIR)/test_symbolize: tests/unit/test_symbolize.c cli/symbolize.c cli/symbolize.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Icli -o $@ tests/unit/test_symbolize.c cli/symbolize.c $(CLI_LIBS) -ldl

# elfpatch's fixtures: bound at once with RELRO, bound lazily without it, one
# that defines the function itself, and one loaded at start (linked in).
EPFIX := tests/unit/elfpatch_fixture.c
$(UNIT_DIR)/libepfix_now.so: $(EPFIX)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -fPIC -shared -Wl,-z,relro,-z,now -o $@ $<

$(UNIT_DIR)/libepfix_lazy.so: $(EPFIX)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -fPIC -shared -Wl,-z,norelro,-z,lazy -o $@ $<

$(UNIT_DIR)/libepfix_defines.so: $(EPFIX)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -fPIC -shared -DFIXTURE_DEFINES -Wl,-z,relro,-z,now -o $@ $<

$(UNIT_DIR)/libepfix_startup.so: $(EPFIX)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -fPIC -shared -Wl,-soname,libepfix_startup.so -Wl,--defsym,fixture_startup_call=fixture_call -o $@ $<

$(UNIT_DIR)/test_elfpatch: tests/unit/test_elfpatch.c agent/elfpatch.c agent/elfpatch.h agent/spin.c $(UNIT_DIR)/libepfix_startup.so
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -rdynamic -o $@ tests/unit/test_elfpatch.c agent/elfpatch.c agent/spin.c \
	    -L$(UNIT_DIR) -l:libepfix_startup.so -Wl,-rpath,'$$ORIGIN' -ldl

# The layout test against another interpreter's headers, built on request by
# tests/run-all for each 3.13 that tests/python313/build made:
#   make layout-test LAYOUT_ID=py313 LAYOUT_CONFIG=.../bin/python3.13-config
# Not part of `all`: those headers exist only after that build.
.PHONY: layout-test
ifneq ($(LAYOUT_ID),)
layout-test: $(UNIT_DIR)/test_pyver_layout-$(LAYOUT_ID)

$(UNIT_DIR)/test_pyver_layout-$(LAYOUT_ID): tests/unit/test_pyver_layout.c $(PYVER_OBJ) $(UNIT_HDRS) pyver/pyver.h $(LAYOUT_CONFIG)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(CFLAGS) -w $$($(LAYOUT_CONFIG) --includes) -o $@ $(filter %.c %.o,$^) -ldl
else
layout-test:
	@echo "layout-test: set LAYOUT_ID and LAYOUT_CONFIG" >&2; exit 2
endif
