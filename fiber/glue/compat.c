/*
 * Picks the implementation of compat.h for the CPython this extension is built against: one
 * file per version the suite has passed on. Adding a version: a compat_3XX.c beside these,
 * a branch here, and a harness row for it (README, "Python versions").
 */
#include <Python.h>

#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include "compat_311.c"
#else
#error "fiber supports CPython 3.11 (built here against another version): see fiber/glue/compat.c"
#endif
