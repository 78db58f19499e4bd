// Helpers the fuzz targets share: a private scratch directory (tmpfs when /dev/shm is
// writable), removing a tree an input made, whatever its modes, and a memfd holding the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace strata::fuzz {

// A directory of this process's own, made once (under $TMPDIR or /dev/shm).
const std::string& Scratch();
// Removes PATH and everything below it (making directories searchable first); never follows
// symlinks.
void RemoveTree(const std::string& path);
// Names in directory PATH other than "." and "..".
size_t CountEntries(const std::string& path);
// An anonymous file holding DATA, at offset 0.
int MemFile(const uint8_t* data, size_t size);

}  // namespace strata::fuzz
