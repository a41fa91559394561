# cli: the lifeline program. It reads what the agent captured and reports.
CLI_SRC := cli/main.c cli/run.c cli/jreader.c cli/replay.c cli/resolve.c cli/symbolize.c \
           cli/finding.c cli/arena.c cli/detect_crash.c cli/detect_gc.c cli/detect_heap.c cli/detect_leak.c \
           cli/detect_owner.c cli/detect_repeat.c cli/series.c cli/leaks.c cli/report_json.c cli/report_text.c \
           cli/dump.c cli/history.c cli/balance.c cli/detect_watch.c cli/shrunk.c
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o) $(CORE_OBJ) $(PYVER_OBJ)
CLI_LIBS := $(shell pkg-config --libs libdw 2>/dev/null || echo -ldw -lelf)

all: $(BUILD)/lifeline

$(BUILD)/lifeline: $(CLI_OBJ)
	$(CC) -o $@ $(CLI_OBJ) $(CLI_LIBS) -ldl
