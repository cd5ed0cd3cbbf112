/*
 * Picks the implementation of compat.h for the CPython this extension is built against: one
 * file per version the suite has passed on (3.14 and 3.15 share compat_314.c, with a few
 * #ifs where 3.15 differs). Adding a version: a compat_3XX.c beside these (or #ifs in the
 * nearest one), a branch here, and a harness row for it (README, "Python versions").
 */
/* Only the version and the build's configuration here: each compat_3XX.c defines
   Py_BUILD_CORE before Python.h is first included (defining it after would redefine macros
   Python.h already set). */
#include <patchlevel.h>
#include <pyconfig.h>

#if defined(Py_GIL_DISABLED)
/* The glue relies on the GIL. */
#error "fiber supports CPython 3.11, 3.13, 3.14 and 3.15 with the GIL, not a free-threaded build"
#elif PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
#include "compat_311.c"
#elif PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030E0000
#include "compat_313.c"
#elif PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x03100000
#include "compat_314.c"
#else
#error "fiber supports CPython 3.11, 3.13, 3.14 and 3.15, not this version: see fiber/glue/compat.c"
#endif
