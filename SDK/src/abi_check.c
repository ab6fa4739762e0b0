/* Compiles the ABI header as C11 and holds layout checks (static asserts live in the header itself). */
#include "modelhost/modelhost_plugin.h"
