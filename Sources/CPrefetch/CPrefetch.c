// The module is its header (a static inline function); SwiftPM wants a source file to build the target.
#include "CPrefetch.h"
