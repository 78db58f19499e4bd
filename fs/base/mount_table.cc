#include "fs/base/mount_table.h"

#include <fstream>
#include <sstream>

namespace strata {
namespace {

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8)));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<MountEntry> ReadMountTable() {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::istringstream fields(line);
    std::string id, parent, devno, root, point;
    fields >> id >> parent >> devno >> root >> point;
    const size_t dash = line.find(" - ");
    if (point.empty() || dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    MountEntry e;
    tail >> e.fstype >> e.source;
    e.point = Unescape(point);
    e.source = Unescape(e.source);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> MountPointsUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const MountEntry& m : ReadMountTable()) {
    if (m.point == dir || m.point.rfind(dir + "/", 0) == 0) out.push_back(m.point);
  }
  return out;
}

}  // namespace strata
