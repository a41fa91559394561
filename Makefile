# lifeline: `make` builds everything into $(BUILD); `make test` runs the whole suite.
# Each part keeps its own rules in <part>/<part>.mk so that the parts stay independent.
BUILD    ?= build
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
BASEFLAGS := -std=gnu11 -fno-strict-aliasing -D_GNU_SOURCE $(WARN)

.PHONY: all test unit clean demo
all:

include core/core.mk
include pyver/pyver.mk
include agent/agent.mk
include cli/cli.mk
include audit/audit.mk
include python/python.mk
include include/include.mk
include examples/examples.mk
include tests/unit/unit.mk

$(BUILD):
	mkdir -p $@

test: all
	./tests/run-all

clean:
	rm -rf $(BUILD)
