#include "bench/engine/workloads.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "bench/engine/system.h"
#include "fs/base/unique_fd.h"

namespace strata::bench {
namespace {

std::string Join(const std::string& root, const std::string& rel) {
  return rel.empty() ? root : root + "/" + rel;
}

// Calls FN(dirfd, name, st) for every entry under DIRFD, depth first, directories before
// their contents.
template <typename Fn>
Status WalkAt(int dirfd, Fn& fn) {
  UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno("open directory");
  DIR* d = ::fdopendir(fd.Get());
  if (d == nullptr) return FailErrno("fdopendir");
  fd.Release();
  std::vector<std::string> subdirs;
  Status s = Ok();
  while (const struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") == 0 || std::strcmp(de->d_name, "..") == 0) continue;
    struct stat st;
    if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      s = FailErrno(std::string("stat ") + de->d_name);
      break;
    }
    s = fn(::dirfd(d), de->d_name, st);
    if (!s) break;
    if (S_ISDIR(st.st_mode)) subdirs.emplace_back(de->d_name);
  }
  for (const std::string& sub : subdirs) {
    if (!s) break;
    UniqueFd child(::openat(::dirfd(d), sub.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                                          O_CLOEXEC));
    if (!child) {
      s = FailErrno("open " + sub);
      break;
    }
    s = WalkAt(child.Get(), fn);
  }
  ::closedir(d);
  return s;
}

template <typename Fn>
Status Walk(const std::string& dir, Fn fn) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno("open " + dir);
  return WalkAt(fd.Get(), fn);
}

Status ReadAll(int dirfd, const char* name) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno(std::string("open ") + name);
  static thread_local std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.Get(), buf.data(), buf.size());
    if (n < 0) return FailErrno(std::string("read ") + name);
    if (n == 0) return Ok();
  }
}

Status WriteBytes(const std::string& path, uint64_t size, bool sync) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return FailErrno("create " + path);
  std::vector<char> buf(1 << 20, 'w');
  for (uint64_t done = 0; done < size;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, buf.size()));
    if (::write(fd.Get(), buf.data(), n) != static_cast<ssize_t>(n)) {
      return FailErrno("write " + path);
    }
    done += n;
  }
  if (sync && ::fsync(fd.Get()) != 0) return FailErrno("fsync " + path);
  return Ok();
}

// Each regular file under ENV's small tree, changed by FN(dirfd, name).
template <typename Fn>
Status EachSmallFile(const Env& env, Fn fn) {
  return Walk(Join(env.root, env.layers->small_tree),
              [&](int dirfd, const char* name, const struct stat& st) -> Status {
                return S_ISREG(st.st_mode) ? fn(dirfd, name) : Ok();
              });
}

std::string NeedsTool(const char* tool) {
  for (const char* dir : {"/usr/bin/", "/bin/", "/usr/local/bin/"}) {
    if (::access((std::string(dir) + tool).c_str(), X_OK) == 0) return "";
  }
  return std::string(tool) + " is not installed";
}

std::string Needs(const std::string& what, const std::string& have) {
  return have.empty() ? "the layers have no " + what : "";
}

Status WalkAll(const Env& e) {
  Result<uint64_t> n = WalkTree(e.root, "");
  if (!n) return Unexpected{n.error()};
  return Ok();
}

// fio: random 4 KiB reads and writes (half each) of a fixed amount, so the time it takes is
// the result. On a lower file its copy-up is included; a new file is laid out first (included).
Status Fio(const Env& env, const std::string& file, bool lower) {
  std::vector<std::string> argv = {"fio",           "--name=strata",      "--filename=" + file,
                                   "--rw=randrw",   "--bs=4k",            "--ioengine=psync",
                                   "--randrepeat=1", "--norandommap",
                                   "--output=" + env.scratch + "/fio.out"};
  argv.push_back(std::string("--io_size=") + (env.quick ? "1m" : "32m"));
  if (!lower) argv.push_back(std::string("--size=") + (env.quick ? "4m" : "64m"));
  return RunCommand(argv);
}

std::vector<Workload> Make() {
  std::vector<Workload> w;
  auto add = [&](Workload x) { w.push_back(std::move(x)); };
  add({.name = "walk-cold",
       .description = "every entry of the tree stat'ed, caches dropped",
       .cold = true,
       .mutates = false,
       .scale = {"files"},
       .run = WalkAll});
  add({.name = "walk-warm",
       .description = "the same walk again, caches warm",
       .mutates = false,
       .warmup = WalkAll,
       .run = WalkAll});
  add({.name = "readdir",
       .description = "20 listings of a directory present in every layer",
       .mutates = false,
       .scale = {"layers"},
       .unavailable = [](const LayerSet& l) { return Needs("common directory", l.common_dir); },
       .run = [](const Env& e) -> Status {
         for (int i = 0; i < 20; ++i) {
           DIR* d = ::opendir(Join(e.root, e.layers->common_dir).c_str());
           if (d == nullptr) return FailErrno("opendir");
           while (::readdir(d) != nullptr) {
           }
           ::closedir(d);
         }
         return Ok();
       }});
  add({.name = "read-big-cold",
       .description = "sequential read of the big lower file, caches dropped",
       .cold = true,
       .mutates = false,
       .unavailable = [](const LayerSet& l) { return Needs("big file", l.big_file); },
       .run = [](const Env& e) { return ReadAll(AT_FDCWD, Join(e.root, e.layers->big_file).c_str()); }});
  add({.name = "read-small-cold",
       .description = "every small file read, caches dropped",
       .cold = true,
       .mutates = false,
       .scale = {"files"},
       .run = [](const Env& e) { return EachSmallFile(e, ReadAll); }});
  add({.name = "copyup-append",
       .description = "one byte appended to the big lower file (its copy-up)",
       .in_place = Workload::InPlace::kBigFiles,
       .unavailable = [](const LayerSet& l) { return Needs("big file", l.big_file); },
       .run = [](const Env& e) -> Status {
         UniqueFd fd(::open(Join(e.root, e.layers->big_file).c_str(),
                            O_WRONLY | O_APPEND | O_CLOEXEC));
         if (!fd) return FailErrno("open big file");
         if (::write(fd.Get(), "+", 1) != 1) return FailErrno("append");
         return Ok();
       }});
  add({.name = "chmod",
       .description = "chmod of every small lower file (metadata-only change)",
       .in_place = Workload::InPlace::kSmallTree,
       .scale = {"files"},
       .run = [](const Env& e) {
         return EachSmallFile(e, [](int dirfd, const char* name) -> Status {
           return ::fchmodat(dirfd, name, 0640, 0) == 0 ? Ok() : FailErrno("chmod");
         });
       }});
  add({.name = "chown",
       .description = "chown of every small lower file",
       .in_place = Workload::InPlace::kSmallTree,
       .run = [](const Env& e) {
         return EachSmallFile(e, [](int dirfd, const char* name) -> Status {
           return ::fchownat(dirfd, name, 1000, 1000, AT_SYMLINK_NOFOLLOW) == 0 ? Ok()
                                                                                : FailErrno("chown");
         });
       }});
  add({.name = "touch",
       .description = "the times of every small lower file set to now",
       .in_place = Workload::InPlace::kSmallTree,
       .run = [](const Env& e) {
         return EachSmallFile(e, [](int dirfd, const char* name) -> Status {
           return ::utimensat(dirfd, name, nullptr, AT_SYMLINK_NOFOLLOW) == 0 ? Ok()
                                                                             : FailErrno("touch");
         });
       }});
  add({.name = "untar",
       .description = "a tar of about 9,000 small files (the headers and Python files) extracted into the mount",
       .unavailable = [](const LayerSet& l) -> std::string {
         if (!NeedsTool("tar").empty()) return NeedsTool("tar");
         return Needs("untar input", l.tarball);
       },
       .run = [](const Env& e) -> Status {
         STRATA_RETURN_IF_ERROR(MakeDirs(e.root + "/untarred"));
         return RunCommand({"tar", "-xf", e.layers->tarball, "-C", e.root + "/untarred"});
       }});
  add({.name = "write-fsync",
       .description = "a new file as big as the big file written, then fsync",
       .run = [](const Env& e) {
         return WriteBytes(e.root + "/written", std::max<uint64_t>(e.layers->big_bytes, 8 << 20),
                           true);
       }});
  add({.name = "rm-rf",
       .description = "rm -rf of a lower tree",
       .scale = {"files"},
       .unavailable = [](const LayerSet& l) { return Needs("tree to remove", l.remove_tree); },
       .run = [](const Env& e) { return RemoveTree(Join(e.root, e.layers->remove_tree)); }});
  add({.name = "lookup-deep",
       .description = "names of the bottom layer looked up through 24 layers (fresh mount)",
       .deep = true,
       .mutates = false,
       .scale = {"layers"},
       .unavailable = [](const LayerSet& l) {
         return l.lookup_names.empty() ? "the layers have no names to look up" : "";
       },
       .run = [](const Env& e) -> Status {
         for (const std::string& n : e.layers->lookup_names) {
           struct stat st;
           if (::lstat(Join(e.root, n).c_str(), &st) != 0) return FailErrno("lookup " + n);
         }
         return Ok();
       }});
  add({.name = "fio-lower",
       .description = "fio random 4 KiB reads and writes on a lower file (its copy-up included)",
       .in_place = Workload::InPlace::kBigFiles,
       .unavailable = [](const LayerSet& l) -> std::string {
         if (!NeedsTool("fio").empty()) return NeedsTool("fio");
         return Needs("fio file", l.fio_file);
       },
       .run = [](const Env& e) { return Fio(e, Join(e.root, e.layers->fio_file), true); }});
  add({.name = "fio-new",
       .description = "fio random 4 KiB reads and writes on a new 64 MiB file (its layout included)",
       .unavailable = [](const LayerSet&) { return NeedsTool("fio"); },
       .run = [](const Env& e) { return Fio(e, e.root + "/fio-new", false); }});
  add({.name = "parallel",
       .description = "4 processes at once: 2 walk the tree, 2 write 200 small files each",
       .run = [](const Env& e) -> Status {
         std::vector<pid_t> pids;
         for (int p = 0; p < 4; ++p) {
           const pid_t pid = ::fork();
           if (pid == 0) {
             Status s = Ok();
             if (p < 2) {
               s = WalkAll(e);
             } else {
               const std::string dir = e.root + "/parallel-" + std::to_string(p);
               s = MakeDirs(dir);
               for (int f = 0; s && f < 200; ++f) {
                 s = WriteFile(dir + "/f" + std::to_string(f), std::string(4096, 'p'));
               }
             }
             ::_exit(s ? 0 : 1);
           }
           if (pid > 0) pids.push_back(pid);
         }
         bool ok = pids.size() == 4;
         for (pid_t pid : pids) ok = Wait(pid) == 0 && ok;
         return ok ? Ok() : Fail(EIO, "a parallel process failed");
       }});
  add({.name = "compile",
       .description = "make -j of a small C project in the tree (objects into the upper)",
       .unavailable = [](const LayerSet& l) -> std::string {
         for (const char* tool : {"make", "cc"}) {
           if (!NeedsTool(tool).empty()) return NeedsTool(tool);
         }
         return Needs("C project", l.project);
       },
       .run = [](const Env& e) {
         return RunCommand({"make", "-s", "-j" + std::to_string(e.cpus), "-C",
                            Join(e.root, e.layers->project)});
       }});
  add({.name = "podman-start",
       .description = "podman run --rm IMAGE true, the target as podman's storage",
       .mutates = false,
       .container = true,
       .unavailable = [](const LayerSet&) -> std::string {
         if (!NeedsTool("podman").empty()) return NeedsTool("podman");
         if (::access("/bin/busybox", X_OK) != 0) return "the image needs /bin/busybox";
         return ::geteuid() == 0 ? "" : "podman start-up is measured as root";
       }});
  return w;
}

}  // namespace

Result<uint64_t> WalkTree(const std::string& root, const std::string& rel) {
  uint64_t n = 0;
  STRATA_RETURN_IF_ERROR(Walk(Join(root, rel), [&](int, const char*, const struct stat&) {
    ++n;
    return Ok();
  }));
  return n;
}

const std::vector<Workload>& AllWorkloads() {
  static const std::vector<Workload> all = Make();
  return all;
}

const Workload* FindWorkload(const std::string& name) {
  for (const Workload& w : AllWorkloads()) {
    if (w.name == name) return &w;
  }
  return nullptr;
}

}  // namespace strata::bench
