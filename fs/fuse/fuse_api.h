// The single include of libfuse for strata. CMake sets STRATA_FUSE_USE_VERSION to the API of
// the libfuse it links (3.17+ when scripts/build-libfuse made it); code that uses a newer
// feature checks FUSE_USE_VERSION, so the system's 3.14 still builds.
#pragma once

#ifndef STRATA_FUSE_USE_VERSION
#define STRATA_FUSE_USE_VERSION 312
#endif
#define FUSE_USE_VERSION STRATA_FUSE_USE_VERSION
#include <fuse_lowlevel.h>

// libfuse 3.17+: 64-bit feature flags (fuse_set_feature_flag), passthrough, io_uring.
#define STRATA_FUSE_HAS_FEATURE_FLAGS (FUSE_USE_VERSION >= 317)
#define STRATA_FUSE_HAS_PASSTHROUGH (FUSE_USE_VERSION >= 317)
