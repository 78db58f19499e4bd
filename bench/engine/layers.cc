#include "bench/engine/layers.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>

#include "bench/engine/system.h"
#include "fs/base/unique_fd.h"

namespace strata::bench {
namespace {

// Bumped whenever a recipe changes, so an old build of the layers is not reused.
constexpr const char* kRecipe = "strata-bench-layers-v1";

std::string Path(const std::string& a, const std::string& b) { return a + "/" + b; }

// Writes SIZE bytes of pseudo-random data (not compressible, cheap to make) to PATH.
Status WriteBlob(const std::string& path, uint64_t size, uint64_t seed) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return FailErrno("create " + path);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> chunk(1 << 17);  // 1 MiB
  for (uint64_t done = 0; done < size;) {
    for (uint64_t& w : chunk) w = rng();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, chunk.size() * 8));
    if (::write(fd.Get(), chunk.data(), n) != static_cast<ssize_t>(n)) {
      return FailErrno("write " + path);
    }
    done += n;
  }
  return Ok();
}

Status File(const std::string& layer, const std::string& rel, const std::string& data) {
  const std::string full = Path(layer, rel);
  STRATA_RETURN_IF_ERROR(MakeDirs(full.substr(0, full.rfind('/'))));
  return WriteFile(full, data);
}

// A whiteout of REL in LAYER, as kernel overlayfs writes one.
Status Whiteout(const std::string& layer, const std::string& rel) {
  const std::string full = Path(layer, rel);
  STRATA_RETURN_IF_ERROR(MakeDirs(full.substr(0, full.rfind('/'))));
  if (::mknod(full.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) return FailErrno("whiteout " + rel);
  return Ok();
}

// Directory REL in LAYER made opaque: the kernel's xattr as root, else the OCI marker.
Status Opaque(const std::string& layer, const std::string& rel) {
  const std::string full = Path(layer, rel);
  STRATA_RETURN_IF_ERROR(MakeDirs(full));
  if (::geteuid() == 0) {
    if (::setxattr(full.c_str(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
      return FailErrno("opaque " + rel);
    }
    return Ok();
  }
  return WriteFile(Path(full, ".wh..wh..opq"), "");
}

// The regular files under ROOT/REL (relative to ROOT), sorted.
std::vector<std::string> FilesUnder(const std::string& root, const std::string& rel) {
  std::vector<std::string> out, dirs = {rel};
  while (!dirs.empty()) {
    const std::string d = dirs.back();
    dirs.pop_back();
    DIR* dh = ::opendir(Path(root, d).c_str());
    if (dh == nullptr) continue;
    while (const struct dirent* de = ::readdir(dh)) {
      const std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      const std::string sub = d.empty() ? n : d + "/" + n;
      struct stat st;
      if (::lstat(Path(root, sub).c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) dirs.push_back(sub);
      if (S_ISREG(st.st_mode)) out.push_back(sub);
    }
    ::closedir(dh);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The directories directly under ROOT/REL with at least MIN_FILES files, sorted.
std::vector<std::string> DirsUnder(const std::string& root, const std::string& rel,
                                   size_t min_files) {
  std::vector<std::string> out;
  DIR* dh = ::opendir(Path(root, rel).c_str());
  if (dh == nullptr) return out;
  while (const struct dirent* de = ::readdir(dh)) {
    const std::string n = de->d_name;
    struct stat st;
    if (n == "." || n == ".." || ::lstat(Path(root, rel + "/" + n).c_str(), &st) != 0 ||
        !S_ISDIR(st.st_mode)) {
      continue;
    }
    if (FilesUnder(root, rel + "/" + n).size() >= min_files) out.push_back(rel + "/" + n);
  }
  ::closedir(dh);
  std::sort(out.begin(), out.end());
  return out;
}

// A small C project: FILES sources and a Makefile that compiles each.
Status Project(const std::string& layer, const std::string& rel, int files) {
  std::string objs;
  for (int i = 0; i < files; ++i) {
    std::string src = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n";
    for (int f = 0; f < 12; ++f) {
      src += "int f" + std::to_string(i) + "_" + std::to_string(f) +
             "(const char* s, int n) {\n  int h = " + std::to_string(f) +
             ";\n  for (int k = 0; k < n && s[k]; ++k) h = h * 31 + s[k] * (k % 7);\n"
             "  char buf[64]; snprintf(buf, sizeof buf, \"%d\", h);\n"
             "  return (int)strlen(buf) + atoi(buf) % 13;\n}\n";
    }
    STRATA_RETURN_IF_ERROR(File(layer, rel + "/f" + std::to_string(i) + ".c", src));
    objs += " f" + std::to_string(i) + ".o";
  }
  STRATA_RETURN_IF_ERROR(File(layer, rel + "/main.c", "int main(void) { return 0; }\n"));
  return File(layer, rel + "/Makefile",
              "CFLAGS = -O1\nOBJS =" + objs + " main.o\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n");
}

// True if DIR holds a build of the current recipe named NAME.
bool Built(const std::string& dir, const std::string& name) {
  struct stat st;
  return ::stat(Path(dir, std::string(kRecipe) + "-" + name).c_str(), &st) == 0;
}

Status MarkBuilt(const std::string& dir, const std::string& name) {
  return WriteFile(Path(dir, std::string(kRecipe) + "-" + name), "");
}

std::vector<std::string> Lowers(const std::string& dir, int count) {
  std::vector<std::string> out;
  for (int i = count - 1; i >= 0; --i) out.push_back(Path(dir, "l" + std::to_string(i)));
  return out;
}

// The sources of the real main stack: /usr/include and a Python standard library.
std::string PythonLib() {
  for (const char* p : {"/usr/lib/python3.13", "/usr/lib/python3.12", "/usr/lib/python3.11"}) {
    struct stat st;
    if (::stat(p, &st) == 0 && S_ISDIR(st.st_mode)) return p;
  }
  return "";
}

// The synthetic stand-ins of --quick: a tree of DIRS x FILES small files.
Status SmallTree(const std::string& layer, const std::string& rel, int dirs, int files) {
  for (int d = 0; d < dirs; ++d) {
    for (int f = 0; f < files; ++f) {
      STRATA_RETURN_IF_ERROR(File(layer,
                                  rel + "/d" + std::to_string(d) + "/f" + std::to_string(f) + ".h",
                                  std::string(200 + 37 * f, static_cast<char>('a' + f % 26))));
    }
  }
  return Ok();
}

}  // namespace

Result<LayerSet> BuildMainLayers(const std::string& dir, bool quick, const Progress& progress) {
  LayerSet s;
  s.name = "main";
  s.dir = dir;
  s.lowers = Lowers(dir, 5);
  s.big_file = "big/blob";
  s.fio_file = "big/fio";
  s.common_dir = "common";
  s.small_tree = "include";
  s.remove_tree = "python";
  s.project = "proj";
  s.tarball = Path(dir, "untar.tar");
  s.big_bytes = quick ? (8ull << 20) : (512ull << 20);
  const std::string python = PythonLib();
  s.description =
      quick ? "quick: 5 small synthetic layers (whiteouts, opaque dirs, a directory in every "
              "layer), an 8 MiB file"
            : "5 layers: /usr/include, " + (python.empty() ? std::string("no Python") : python) +
                  ", /usr/share/doc, 10% rewritten, whiteouts, opaque dirs, a 2,000-entry "
                  "directory in every layer; a 512 MiB file";
  const std::string stamp = quick ? "main-quick" : "main";
  if (Built(dir, stamp)) return s;
  if (progress) progress("building the layers in " + dir + " (once)");
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  STRATA_RETURN_IF_ERROR(MakeDirs(dir));
  for (int i = 0; i < 5; ++i) STRATA_RETURN_IF_ERROR(MakeDirs(Path(dir, "l" + std::to_string(i))));
  const std::string l0 = Path(dir, "l0"), l1 = Path(dir, "l1"), l2 = Path(dir, "l2"),
                    l3 = Path(dir, "l3"), l4 = Path(dir, "l4");
  if (quick) {
    STRATA_RETURN_IF_ERROR(SmallTree(l0, "include", 10, 20));
    STRATA_RETURN_IF_ERROR(SmallTree(l0, "python", 5, 20));
    STRATA_RETURN_IF_ERROR(SmallTree(l1, "doc", 5, 20));
  } else {
    STRATA_RETURN_IF_ERROR(RunCommand({"cp", "-a", "/usr/include", Path(l0, "include")}));
    if (!python.empty()) {
      STRATA_RETURN_IF_ERROR(RunCommand({"cp", "-a", python, Path(l0, "python")}));
    }
    STRATA_RETURN_IF_ERROR(RunCommand({"cp", "-a", "/usr/share/doc", Path(l1, "doc")}));
  }
  STRATA_RETURN_IF_ERROR(MakeDirs(Path(l0, "big")));
  STRATA_RETURN_IF_ERROR(WriteBlob(Path(l0, s.big_file), s.big_bytes, 1));
  STRATA_RETURN_IF_ERROR(WriteBlob(Path(l0, s.fio_file), quick ? (4ull << 20) : (64ull << 20), 2));
  STRATA_RETURN_IF_ERROR(Project(l0, s.project, quick ? 4 : 24));
  // The directory in every layer: 400 names each (10 with --quick).
  const int common = quick ? 10 : 400;
  for (int i = 0; i < 5; ++i) {
    for (int f = 0; f < common; ++f) {
      STRATA_RETURN_IF_ERROR(File(Path(dir, "l" + std::to_string(i)),
                                  "common/l" + std::to_string(i) + "-" + std::to_string(f), "c"));
    }
  }
  // Changes in the upper layers: whiteouts, rewrites, opaque directories, new files.
  const std::vector<std::string> headers = FilesUnder(l0, "include");
  const std::vector<std::string> docs = FilesUnder(l1, "doc");
  const std::vector<std::string> pyfiles = FilesUnder(l0, "python");
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i % 50 == 7) STRATA_RETURN_IF_ERROR(Whiteout(l1, headers[i]));
    if (i % 10 == 3) STRATA_RETURN_IF_ERROR(File(l2, headers[i], "/* rewritten */\n"));
  }
  const std::vector<std::string> opaque = DirsUnder(l0, "include", 3);
  for (size_t i = 0; i < opaque.size() && i < 2; ++i) {
    STRATA_RETURN_IF_ERROR(Opaque(l2, opaque[i]));
    STRATA_RETURN_IF_ERROR(File(l2, opaque[i] + "/replaced.h", "/* opaque */\n"));
  }
  for (size_t i = 0; i < docs.size(); i += 20) {
    STRATA_RETURN_IF_ERROR(File(l3, docs[i], "rewritten\n"));
  }
  for (size_t i = 0; i < pyfiles.size(); i += 100) {
    STRATA_RETURN_IF_ERROR(Whiteout(l3, pyfiles[i]));
  }
  for (int i = 0; i < (quick ? 10 : 200); ++i) {
    STRATA_RETURN_IF_ERROR(File(l4, "include/new/n" + std::to_string(i) + ".h", "/* new */\n"));
  }
  // The untar input: the headers and Python files of at most 64 KiB (about 9,000 files).
  std::string list;
  for (const std::vector<std::string>* files : {&headers, &pyfiles}) {
    for (const std::string& f : *files) {
      struct stat st;
      if (::lstat(Path(l0, f).c_str(), &st) == 0 && st.st_size <= (64 << 10)) list += f + "\n";
    }
  }
  STRATA_RETURN_IF_ERROR(WriteFile(Path(dir, "untar.list"), list));
  STRATA_RETURN_IF_ERROR(
      RunCommand({"tar", "-cf", s.tarball, "-C", l0, "--verbatim-files-from", "-T",
                  Path(dir, "untar.list")}));
  STRATA_RETURN_IF_ERROR(MarkBuilt(dir, stamp));
  return s;
}

Result<LayerSet> BuildDeepLayers(const std::string& dir, bool quick) {
  LayerSet s;
  s.name = "deep";
  s.dir = dir;
  const int layers = 24, names = quick ? 50 : 1000;
  s.description = "24 thin layers; " + std::to_string(names) + " names in the bottom one";
  s.lowers = Lowers(dir, layers);
  s.common_dir = "d";
  for (int i = 0; i < names; ++i) s.lookup_names.push_back("d/bottom-" + std::to_string(i));
  const std::string stamp = quick ? "deep-quick" : "deep";
  if (Built(dir, stamp)) return s;
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  for (int l = 0; l < layers; ++l) {
    const std::string layer = Path(dir, "l" + std::to_string(l));
    for (int f = 0; f < (quick ? 5 : 50); ++f) {
      STRATA_RETURN_IF_ERROR(File(layer, "d/l" + std::to_string(l) + "-" + std::to_string(f), ""));
    }
  }
  for (const std::string& n : s.lookup_names) STRATA_RETURN_IF_ERROR(File(Path(dir, "l0"), n, ""));
  STRATA_RETURN_IF_ERROR(MarkBuilt(dir, stamp));
  return s;
}

Result<LayerSet> BuildScaleLayers(const std::string& dir, const std::string& kind, uint64_t n) {
  LayerSet s;
  s.name = kind + "=" + std::to_string(n);
  s.dir = dir;
  if (kind == "layers") {
    s.lowers = Lowers(dir, static_cast<int>(n));
    s.common_dir = "d";
    for (int i = 0; i < 200; ++i) s.lookup_names.push_back("d/bottom-" + std::to_string(i));
    s.description = std::to_string(n) + " layers of 20 names in one directory";
  } else {
    s.lowers = Lowers(dir, 2);  // the tree under an empty layer: still a union
    s.small_tree = "t";
    s.remove_tree = "t";
    s.description = std::to_string(n) + " files in directories of 100";
  }
  if (Built(dir, s.name)) return s;
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  if (kind == "layers") {
    for (uint64_t l = 0; l < n; ++l) {
      const std::string layer = Path(dir, "l" + std::to_string(l));
      for (int f = 0; f < 20; ++f) {
        STRATA_RETURN_IF_ERROR(
            File(layer, "d/l" + std::to_string(l) + "-" + std::to_string(f), ""));
      }
    }
    for (const std::string& name : s.lookup_names) {
      STRATA_RETURN_IF_ERROR(File(Path(dir, "l0"), name, ""));
    }
  } else {
    for (uint64_t f = 0; f < n; ++f) {
      STRATA_RETURN_IF_ERROR(File(Path(dir, "l0"),
                                  "t/d" + std::to_string(f / 100) + "/f" + std::to_string(f), "x"));
    }
    STRATA_RETURN_IF_ERROR(MakeDirs(Path(dir, "l1")));
  }
  STRATA_RETURN_IF_ERROR(MarkBuilt(dir, s.name));
  return s;
}

Result<LayerSet> LayersOfImage(const std::vector<std::string>& lowers, const std::string& label,
                               const std::string& tarball) {
  if (lowers.empty()) return Fail(EINVAL, "image " + label + " has no layers");
  LayerSet s;
  s.name = "image";
  s.description = "image " + label + " (" + std::to_string(lowers.size()) + " layers)";
  s.lowers = lowers;
  s.tarball = tarball;
  s.small_tree = "";  // the whole tree
  // What the workloads use, found in the layers: the largest file, the directory with the
  // most entries, and the largest top-level directory (each the topmost layer's name).
  uint64_t big = 0;
  std::map<std::string, size_t> dir_entries, top_files;
  for (const std::string& layer : lowers) {
    for (const std::string& f : FilesUnder(layer, "")) {
      struct stat st;
      if (::lstat(Path(layer, f).c_str(), &st) != 0) continue;
      if (static_cast<uint64_t>(st.st_size) > big) {
        big = static_cast<uint64_t>(st.st_size);
        s.big_file = f;
      }
      const size_t slash = f.rfind('/');
      ++dir_entries[slash == std::string::npos ? "" : f.substr(0, slash)];
      if (f.find('/') != std::string::npos) ++top_files[f.substr(0, f.find('/'))];
    }
  }
  s.big_bytes = big;
  if (big < (1 << 20)) s.big_file.clear();  // nothing big enough to stream
  s.fio_file = s.big_file;
  size_t most = 0;
  for (const auto& [d, n] : dir_entries) {
    if (n > most && !d.empty()) most = n, s.common_dir = d;
  }
  most = 0;
  for (const auto& [d, n] : top_files) {
    if (n > most) most = n, s.remove_tree = d;
  }
  return s;
}

}  // namespace strata::bench
