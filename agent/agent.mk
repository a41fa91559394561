# agent: the library preloaded into the target. It only captures.
AGENT_SRC := agent/agent.c agent/boot.c agent/boundary.c agent/capi.c agent/capture.c agent/crash.c \
             agent/elfpatch.c agent/gccheck.c agent/guardpool.c agent/heap.c agent/hooks_libc.c agent/hooks_py.c \
             agent/heapsnap.c agent/jwriter.c agent/live.c agent/log.c agent/modules.c agent/pyframes.c \
             agent/reach.c agent/record.c agent/repeat.c agent/types.c agent/hwwatch.c \
             agent/symtab.c agent/watch.c agent/refsite.c agent/srcline.c agent/threads.c agent/sampler.c \
             agent/spin.c agent/world.c
AGENT_OBJ := $(AGENT_SRC:%.c=$(BUILD)/pic/%.o) $(CORE_PIC_OBJ) $(PYVER_PIC_OBJ)

all: $(BUILD)/liblifeline-agent.so

# libunwind is linked statically where possible so that the agent does not
# drag a second copy of it into targets that have their own.
$(BUILD)/liblifeline-agent.so: $(AGENT_OBJ)
	$(CC) $(CFLAGS) $(AGENT_LTO) -shared -o $@ $(AGENT_OBJ) -Wl,-z,nodelete -Wl,--no-undefined -lunwind -ldl -lpthread
