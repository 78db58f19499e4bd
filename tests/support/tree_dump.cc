#include "tests/support/tree_dump.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "fs/base/unique_fd.h"

namespace strata::testing {
namespace {

[[noreturn]] void Throw(const std::string& what, const std::string& path) {
  throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

char TypeChar(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISSOCK(m)) return 's';
  return '?';
}

unsigned DtOf(char type) {
  switch (type) {
    case 'f':
      return DT_REG;
    case 'd':
      return DT_DIR;
    case 'l':
      return DT_LNK;
    case 'p':
      return DT_FIFO;
    case 'c':
      return DT_CHR;
    case 'b':
      return DT_BLK;
    case 's':
      return DT_SOCK;
  }
  return DT_UNKNOWN;
}

std::string Hex(const std::string& data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : data) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string HashFile(int dirfd, const char* name, const std::string& path) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) Throw("open", path);
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  std::vector<char> buf(1 << 16);
  for (;;) {
    ssize_t n = ::read(fd.Get(), buf.data(), buf.size());
    if (n < 0) {
      XXH3_freeState(state);
      Throw("read", path);
    }
    if (n == 0) break;
    XXH3_128bits_update(state, buf.data(), static_cast<size_t>(n));
  }
  XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  char out[40];
  std::snprintf(out, sizeof out, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return out;
}

// FOLLOW: PROC_PATH is a bare /proc/self/fd/N link to the object itself.
std::string Xattrs(const std::string& proc_path, const std::string& path, bool follow = false) {
  std::vector<char> names(65536);
  ssize_t n = follow ? ::listxattr(proc_path.c_str(), names.data(), names.size())
                     : ::llistxattr(proc_path.c_str(), names.data(), names.size());
  if (n < 0) {
    if (errno == ENOTSUP) return "";
    Throw("listxattr", path);
  }
  std::set<std::string> sorted;
  for (ssize_t pos = 0; pos < n;) {
    std::string name(names.data() + pos);
    pos += static_cast<ssize_t>(name.size()) + 1;
    if (name.starts_with("security.")) continue;  // LSM labels differ between filesystems
    std::vector<char> value(65536);
    ssize_t len = follow ? ::getxattr(proc_path.c_str(), name.c_str(), value.data(), value.size())
                         : ::lgetxattr(proc_path.c_str(), name.c_str(), value.data(), value.size());
    if (len < 0) Throw("getxattr " + name, path);
    sorted.insert(name + "=" + Hex(std::string(value.data(), static_cast<size_t>(len))));
  }
  std::string out;
  for (const std::string& s : sorted) out += s + ";";
  return out;
}

void Walk(int dirfd, const std::string& path, Tree* tree, bool skip_phantoms) {
  UniqueFd dup(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dup) Throw("open", path);
  DIR* d = ::fdopendir(dup.Release());
  if (!d) Throw("fdopendir", path);
  std::vector<std::pair<std::string, std::pair<uint64_t, unsigned>>> names;
  for (;;) {
    errno = 0;
    struct dirent* de = ::readdir(d);
    if (!de) {
      if (errno) {
        ::closedir(d);
        Throw("readdir", path);
      }
      break;
    }
    std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    names.push_back({name, {de->d_ino, de->d_type}});
  }
  std::sort(names.begin(), names.end());
  const std::string prefix = path == "/" ? "/" : path + "/";
  for (const auto& [name, info] : names) {
    const std::string child = prefix + name;
    if (tree->contains(child)) throw std::runtime_error("name listed twice: " + child);
    struct stat st;
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && skip_phantoms) continue;
      ::closedir(d);
      Throw("stat", child);
    }
    DumpEntry e;
    e.type = TypeChar(st.st_mode);
    e.mode = st.st_mode & 07777;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.size = S_ISDIR(st.st_mode) ? 0 : static_cast<uint64_t>(st.st_size);
    e.nlink = st.st_nlink;
    e.mtime_sec = st.st_mtim.tv_sec;
    e.mtime_nsec = st.st_mtim.tv_nsec;
    e.rdev = (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) ? st.st_rdev : 0;
    e.ino = st.st_ino;
    e.d_ino = info.first;
    e.d_type = info.second;
    const std::string proc = "/proc/self/fd/" + std::to_string(::dirfd(d)) + "/" + name;
    if (S_ISLNK(st.st_mode)) {
      char buf[4096];
      ssize_t n = ::readlinkat(::dirfd(d), name.c_str(), buf, sizeof buf);
      if (n < 0) Throw("readlink", child);
      e.link.assign(buf, static_cast<size_t>(n));
    } else {
      e.xattrs = Xattrs(proc, child);
    }
    if (S_ISREG(st.st_mode)) e.content_hash = HashFile(::dirfd(d), name.c_str(), child);
    (*tree)[child] = e;
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(
          ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) Throw("open", child);
      Walk(sub.Get(), child, tree, skip_phantoms);
    }
  }
  ::closedir(d);
}

}  // namespace

Tree DumpTree(const std::string& root, bool skip_phantoms) {
  Tree tree;
  UniqueFd fd(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) Throw("open", root);
  struct stat st;
  if (::fstat(fd.Get(), &st) != 0) Throw("stat", root);
  DumpEntry e;
  e.type = 'd';
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.nlink = st.st_nlink;
  e.mtime_sec = st.st_mtim.tv_sec;
  e.mtime_nsec = st.st_mtim.tv_nsec;
  e.ino = st.st_ino;
  e.xattrs = Xattrs("/proc/self/fd/" + std::to_string(fd.Get()), root, /*follow=*/true);
  tree["/"] = e;
  Walk(fd.Get(), "/", &tree, skip_phantoms);
  return tree;
}

std::string Canonical(const Tree& tree, CanonicalOptions options) {
  std::ostringstream out;
  for (const auto& [path, e] : tree) {
    out << path << " " << e.type << " " << std::oct << e.mode << std::dec << " " << e.uid << ":"
        << e.gid << " size=" << e.size;
    if (e.type != 'd' || options.dir_mtime) out << " mtime=" << e.mtime_sec << "." << e.mtime_nsec;
    if (e.type == 'd' ? options.dir_nlink : options.file_nlink) out << " nlink=" << e.nlink;
    if (e.rdev) out << " rdev=" << major(e.rdev) << "," << minor(e.rdev);
    if (!e.content_hash.empty()) out << " data=" << e.content_hash;
    if (!e.link.empty()) out << " -> " << e.link;
    if (!e.xattrs.empty()) out << " xattrs=" << e.xattrs;
    out << "\n";
  }
  return out.str();
}

std::string DiffLines(const std::string& expected, const std::string& actual, size_t max_lines) {
  auto split = [](const std::string& s) {
    std::set<std::string> lines;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line)) lines.insert(line);
    return lines;
  };
  std::set<std::string> a = split(expected), b = split(actual);
  std::ostringstream out;
  size_t shown = 0;
  for (const auto& l : a) {
    if (!b.contains(l) && shown++ < max_lines) out << "- " << l << "\n";
  }
  for (const auto& l : b) {
    if (!a.contains(l) && shown++ < max_lines) out << "+ " << l << "\n";
  }
  return out.str();
}

std::string CheckInodes(const Tree& actual, const Tree& reference) {
  std::ostringstream out;
  std::map<uint64_t, std::string> first_by_ino;  // actual ino -> first path
  for (const auto& [path, e] : actual) {
    if (path != "/" && e.d_ino != e.ino) {
      out << path << ": d_ino " << e.d_ino << " != st_ino " << e.ino << "\n";
    }
    if (path != "/" && e.d_type != DT_UNKNOWN && e.d_type != DtOf(e.type)) {
      out << path << ": d_type " << e.d_type << " does not match type " << e.type << "\n";
    }
    auto [it, inserted] = first_by_ino.try_emplace(e.ino, path);
    if (inserted) continue;
    // Two paths share an st_ino: they must be hard links in the reference too.
    auto ra = reference.find(it->second), rb = reference.find(path);
    if (ra == reference.end() || rb == reference.end() || ra->second.ino != rb->second.ino ||
        e.type == 'd') {
      out << it->second << " and " << path << " share st_ino " << e.ino << "\n";
    }
  }
  // And hard links in the reference must share an st_ino here.
  std::map<uint64_t, std::string> ref_first;
  for (const auto& [path, e] : reference) {
    auto [it, inserted] = ref_first.try_emplace(e.ino, path);
    if (inserted) continue;
    auto aa = actual.find(it->second), ab = actual.find(path);
    if (aa != actual.end() && ab != actual.end() && aa->second.ino != ab->second.ino) {
      out << it->second << " and " << path << " are one file but have different st_ino\n";
    }
  }
  return out.str();
}

std::string CheckDirNlink(const Tree& tree) {
  std::map<std::string, uint64_t> subdirs;
  for (const auto& [path, e] : tree) {
    if (e.type == 'd') subdirs.try_emplace(path, 0);
    if (path == "/" || e.type != 'd') continue;
    std::string parent = path.substr(0, path.rfind('/'));
    ++subdirs[parent.empty() ? "/" : parent];
  }
  std::ostringstream out;
  for (const auto& [path, count] : subdirs) {
    const uint64_t nlink = tree.at(path).nlink;
    if (nlink != count + 2)
      out << path << ": nlink " << nlink << ", expected " << count + 2 << "\n";
  }
  return out.str();
}

}  // namespace strata::testing
