# include: headers for the program's users, installed next to the lifeline
# program (`lifeline cflags` names them from there).
INC_SRC := include/lifeline_refs.h
INC_OUT := $(INC_SRC:%=$(BUILD)/%)

all: $(INC_OUT)

$(BUILD)/include/%.h: include/%.h
	@mkdir -p $(dir $@)
	cp $< $@
