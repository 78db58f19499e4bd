// Files of an image on disk (an OCI layout, an unpacked docker-archive): opened strictly
// beneath the image's directory, sizes capped, archives unpacked without trusting their paths.
// Stateless; thread-safe.
#pragma once

#include <string>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"

namespace strata::store {

// Opens REL beneath DIRFD (O_RDONLY). Symlinks inside the image are followed, but nothing may
// resolve outside DIRFD (openat2 RESOLVE_BENEATH). Errors: EXDEV for an escape, or open's errno.
Result<UniqueFd> OpenBeneath(int dirfd, const std::string& rel);

// Everything readable from FD, refusing more than CAP bytes (EINVAL naming WHAT).
Result<std::string> ReadCapped(int fd, size_t cap, const std::string& what);

// Unpacks the tar FILE (plain, gzip, zstd or xz) into the empty directory DIR: regular files,
// directories and in-archive symlinks; never writes through a symlink or outside DIR.
// Errors: EINVAL for a path that escapes or an unreadable archive, EIO for corrupt data.
Status UnpackArchive(const std::string& file, const std::string& dir);

}  // namespace strata::store
