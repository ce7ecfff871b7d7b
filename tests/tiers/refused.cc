// Compiled with exactly what ztm_app links: a storage backend is not on its path, so this
// include, which the tier table refuses app/, does not compile (tests/CMakeLists.txt).
#include "storage/sqlite/sqlite_store.h"
