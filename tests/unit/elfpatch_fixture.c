/* The fixture of test_elfpatch: an object that uses the test program's
 * functions the three ways an extension uses the C API -- a call through the
 * PLT (R_X86_64_JUMP_SLOT: PyTest_Call, whose address is never taken, or the
 * linker would call through the GOT), an address taken in code (GLOB_DAT), a
 * pointer in data (R_X86_64_64), writable and read-only after relocation
 * (RELRO). Built several ways by unit.mk; with FIXTURE_DEFINES the object
 * also defines both, as a libpython would. */
int PyTest_Answer(void);
int PyTest_Call(void);

#ifdef FIXTURE_DEFINES
int PyTest_Answer(void)
{
    return 3;
}

int PyTest_Call(void)
{
    return 3;
}
#endif

int (*fixture_pointer)(void) = PyTest_Answer;
int (*const fixture_const_pointer)(void) = PyTest_Answer;

/* Calls through the PLT. */
int fixture_call(void)
{
    return PyTest_Call() + 0 * fixture_pointer();
}

/* Takes the address through the GOT. */
int (*fixture_address(void))(void)
{
    return &PyTest_Answer;
}
