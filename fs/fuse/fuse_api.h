// The single include of libfuse for strata: the API version is chosen here, so moving to a newer
// libfuse (3.16+ for passthrough) is a change to this file and the code that uses new features.
#pragma once

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
