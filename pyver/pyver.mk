# pyver: the one place that knows CPython versions' layouts.
PYVER_SRC := pyver/pyver.c pyver/pyver_311.c pyver/pyver_313.c pyver/pyver_313t.c
PYVER_PIC_OBJ := $(PYVER_SRC:%.c=$(BUILD)/pic/%.o)
PYVER_OBJ := $(PYVER_SRC:%.c=$(BUILD)/obj/%.o)
