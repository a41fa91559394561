# examples/examples.mk -- the bundled demo (included by the top Makefile, which defines BUILD, CC, CFLAGS).
#
# The demo extension is built for Debian's /usr/bin/python3.11 on purpose, with absolute paths:
# a python3.11-config found first on PATH (pyenv, conda) would give headers of another build.

EXAMPLES_PYTHON     := /usr/bin/python3.11
EXAMPLES_PYCONFIG   := /usr/bin/python3.11-config
EXAMPLES_INCLUDES   := $(shell $(EXAMPLES_PYCONFIG) --includes 2>/dev/null)
EXAMPLES_EXT_SUFFIX := $(shell $(EXAMPLES_PYTHON) -c 'import sysconfig;print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
# -O1 -g: optimised like real extensions, but still with frames and line numbers worth reading in a report.
EXAMPLES_CFLAGS     := -std=gnu11 -shared -fPIC -O1 -g -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers
EXAMPLES_WIDGETS    := $(BUILD)/examples/widgets$(EXAMPLES_EXT_SUFFIX)

.PHONY: demo

all: $(EXAMPLES_WIDGETS)

$(EXAMPLES_WIDGETS): examples/demo/widgets.c examples/examples.mk
	@test -n "$(EXAMPLES_EXT_SUFFIX)" || { echo "examples: $(EXAMPLES_PYTHON) not found (run scripts/install-deps)" >&2; exit 1; }
	@mkdir -p $(@D)
	$(CC) $(EXAMPLES_CFLAGS) $(EXAMPLES_INCLUDES) -o $@ $<

# The demo is meant to find a bug: lifeline's exit status 23 ("error findings") is the expected
# outcome and does not fail make. Any other status means the demo did not show what it should.
demo: all
	@echo "== lifeline run -- $(EXAMPLES_PYTHON) examples/demo/demo.py"
	@PYTHONPATH=$(BUILD)/examples $(BUILD)/lifeline run -- $(EXAMPLES_PYTHON) examples/demo/demo.py; \
	status=$$?; \
	if [ $$status -eq 23 ]; then \
		echo "== demo: lifeline found the bug (exit status 23, as expected); see examples/README.md"; \
	else \
		echo "== demo: lifeline exited with status $$status, expected 23 (a crash finding)" >&2; \
		exit 1; \
	fi
