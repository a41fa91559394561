#include "capi.h"

#include <dlfcn.h>

#include "pyframes.h"

struct capi capi; /* written once by capi_init, before any reader runs */

#define LOOKUP(name) (capi.name = (__typeof__(capi.name))dlsym(RTLD_DEFAULT, #name))

bool capi_init(void)
{
    LOOKUP(Py_IsInitialized);
    LOOKUP(Py_AddPendingCall);
    LOOKUP(PyImport_ImportModule);
    LOOKUP(PyImport_GetModuleDict);
    LOOKUP(PyModule_New);
    LOOKUP(PyCFunction_NewEx);
    LOOKUP(PyObject_SetAttrString);
    LOOKUP(PyObject_GetAttrString);
    LOOKUP(PyModule_GetDict);
    LOOKUP(PyObject_CallOneArg);
    LOOKUP(PyObject_CallNoArgs);
    LOOKUP(PyDict_SetItemString);
    LOOKUP(PySys_GetObject);
    LOOKUP(PyList_Append);
    LOOKUP(PyUnicode_DecodeFSDefault);
    LOOKUP(PyLong_FromSsize_t);
    LOOKUP(PyLong_AsSsize_t);
    LOOKUP(PyGC_Collect);
    LOOKUP(Py_IncRef);
    LOOKUP(Py_DecRef);
    LOOKUP(PyErr_Occurred);
    LOOKUP(PyErr_Fetch);
    LOOKUP(PyErr_Restore);
    LOOKUP(PyErr_Clear);
    LOOKUP(PyErr_SetString);
    LOOKUP(PyErr_NewException);
    LOOKUP(PyThreadState_Get);
    LOOKUP(PyTuple_GetItem);
    LOOKUP(PyDict_GetItemString);
    LOOKUP(PyUnicode_CompareWithASCIIString);
    LOOKUP(PyInterpreterState_Main);
    LOOKUP(PyInterpreterState_Head);
    LOOKUP(PyInterpreterState_Next);
    if (pf_layout)
        capi._Py_GetRefTotal = (intptr_t(*)(void))dlsym(RTLD_DEFAULT, pf_layout->reftotal_function);
    LOOKUP(_Py_GetAllocatedBlocks);
    capi.none = (capi_obj *)dlsym(RTLD_DEFAULT, "_Py_NoneStruct");
    capi.exc_runtime_error = (capi_obj **)dlsym(RTLD_DEFAULT, "PyExc_RuntimeError");
    return capi.Py_IsInitialized && capi.Py_AddPendingCall && capi.PyImport_ImportModule &&
           capi.PyImport_GetModuleDict && capi.PyModule_New && capi.PyCFunction_NewEx &&
           capi.PyObject_SetAttrString && capi.PyObject_GetAttrString && capi.PyObject_CallOneArg && capi.PyObject_CallNoArgs &&
           capi.PyDict_SetItemString && capi.PySys_GetObject && capi.PyList_Append &&
           capi.PyUnicode_DecodeFSDefault && capi.PyLong_FromSsize_t && capi.PyLong_AsSsize_t &&
           capi.PyGC_Collect && capi.Py_IncRef && capi.Py_DecRef && capi.PyErr_Occurred && capi.PyErr_Fetch &&
           capi.PyErr_Restore && capi.PyErr_Clear && capi.PyErr_SetString && capi.PyThreadState_Get && capi.PyInterpreterState_Main && capi.PyTuple_GetItem &&
           capi.PyDict_GetItemString && capi.PyUnicode_CompareWithASCIIString && capi.none &&
           capi.exc_runtime_error;
}
