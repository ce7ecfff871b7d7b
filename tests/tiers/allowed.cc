// Compiled with exactly what ztm_app links: the storage interface app/ uses is on its path.
#include "storage/store.h"
