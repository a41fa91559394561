/* The few CPython C-API functions the agent calls itself, found with dlsym
 * so that nothing is compiled against a particular interpreter. Only
 * stable-ABI functions are listed: their signatures are the same on every
 * version lifeline supports. Objects are opaque here. Prefix: capi_. */
#ifndef LL_CAPI_H
#define LL_CAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct capi_object capi_obj;

/* PyMethodDef, stable ABI. */
struct capi_method {
    const char *name;
    capi_obj *(*fn)(capi_obj *self, capi_obj *arg);
    int flags;
    const char *doc;
};
#define CAPI_METH_VARARGS 0x0001
#define CAPI_METH_NOARGS 0x0004
#define CAPI_METH_O 0x0008

struct capi {
    int (*Py_IsInitialized)(void);
    int (*Py_AddPendingCall)(int (*fn)(void *), void *arg);
    capi_obj *(*PyImport_ImportModule)(const char *name);
    capi_obj *(*PyImport_GetModuleDict)(void);
    capi_obj *(*PyModule_New)(const char *name);
    capi_obj *(*PyCFunction_NewEx)(struct capi_method *def, capi_obj *self, capi_obj *module);
    int (*PyObject_SetAttrString)(capi_obj *o, const char *name, capi_obj *v);
    capi_obj *(*PyObject_GetAttrString)(capi_obj *o, const char *name);
    capi_obj *(*PyObject_CallOneArg)(capi_obj *callable, capi_obj *arg);
    capi_obj *(*PyObject_CallNoArgs)(capi_obj *callable);
    int (*PyDict_SetItemString)(capi_obj *d, const char *key, capi_obj *v);
    capi_obj *(*PySys_GetObject)(const char *name);
    int (*PyList_Append)(capi_obj *list, capi_obj *item);
    capi_obj *(*PyUnicode_DecodeFSDefault)(const char *s);
    capi_obj *(*PyLong_FromSsize_t)(intptr_t v);
    intptr_t (*PyLong_AsSsize_t)(capi_obj *o);
    intptr_t (*PyGC_Collect)(void);
    void (*Py_IncRef)(capi_obj *o);
    void (*Py_DecRef)(capi_obj *o);
    capi_obj *(*PyErr_Occurred)(void);
    void (*PyErr_Fetch)(capi_obj **type, capi_obj **value, capi_obj **tb);
    void (*PyErr_Restore)(capi_obj *type, capi_obj *value, capi_obj *tb);
    void (*PyErr_Clear)(void);
    void (*PyErr_SetString)(capi_obj *type, const char *message);
    capi_obj *(*PyErr_NewException)(const char *name, capi_obj *base, capi_obj *dict);
    void *(*PyThreadState_Get)(void);
    void *(*PyInterpreterState_Main)(void);
    void *(*PyInterpreterState_Head)(void);         /* optional, with _Next */
    void *(*PyInterpreterState_Next)(void *interp);
    capi_obj *(*PyTuple_GetItem)(capi_obj *t, intptr_t i);
    capi_obj *(*PyDict_GetItemString)(capi_obj *d, const char *key);
    capi_obj *(*PyModule_GetDict)(capi_obj *module); /* optional: a borrowed reference */
    int (*PyUnicode_CompareWithASCIIString)(capi_obj *s, const char *ascii);
    capi_obj *none;                      /* &_Py_NoneStruct */
    capi_obj **exc_runtime_error;        /* &PyExc_RuntimeError */
    intptr_t (*_Py_GetRefTotal)(void);   /* debug builds only: sys.gettotalrefcount(), under
                                          * the name pyver gives */
    intptr_t (*_Py_GetAllocatedBlocks)(void);
};

/* Filled by capi_init; a NULL member is a function this interpreter lacks. */
extern struct capi capi;

/* Looks the functions up. Returns false when one the agent cannot do without
 * is missing (then no Python-level feature is offered). */
bool capi_init(void);

#endif
