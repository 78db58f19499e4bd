// The calling process's mount table (/proc/self/mountinfo), parsed once per call.
#pragma once

#include <string>
#include <vector>

namespace strata {

struct MountEntry {
  std::string point;   // the mount point, octal escapes (\040) decoded
  std::string fstype;  // "ext4", "fuse.stratafs", "overlay"...
  std::string source;  // decoded as well
};

// Every mount, in the table's order (a later entry on the same point is mounted over an
// earlier one). Empty if the table cannot be read.
std::vector<MountEntry> ReadMountTable();

// The mount points at DIR or below it, in the table's order (parents before children).
std::vector<std::string> MountPointsUnder(const std::string& dir);

}  // namespace strata
