# core: what the agent and the cli share (journal format, tables, OS contract).
CORE_SRC := core/journal.c core/table.c core/os.c core/watchspec.c
CORE_PIC_OBJ := $(CORE_SRC:%.c=$(BUILD)/pic/%.o)
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
