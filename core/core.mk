# core: what the agent and the cli share (journal format, tables, OS contract).
CORE_SRC := core/journal.c core/table.c core/os.c core/watchspec.c
CORE_PIC_OBJ := $(CORE_SRC:%.c=$(BUILD)/pic/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)

# Objects of the agent (pic/) are compiled for link-time optimization: its
# hot path crosses modules (capture, pyframes, modules, live, jwriter) in
# calls of a few instructions each, and inlining them took 13% off the
# target's CPU time on bench/workload.py (docs/performance.md).
AGENT_LTO ?= -flto=auto
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) $(AGENT_LTO) -fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
