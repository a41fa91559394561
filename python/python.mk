# python: the pure-Python `lifeline` module that traced processes can import.
# It is copied next to the lifeline program, which tells the agent where it is.
PY_SRC := $(wildcard python/lifeline/*.py)
PY_OUT := $(PY_SRC:python/%=$(BUILD)/python/%)

all: $(PY_OUT)

$(BUILD)/python/%.py: python/%.py
	@mkdir -p $(dir $@)
	cp $< $@
