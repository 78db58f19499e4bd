// Metadata-only copy-up (-o metacopy=on) through real mounts: chmod/chown/touch/setfattr of
// lower files leave their data below (the upper holds sparse files marked
// trusted.overlay.metacopy, the kernel's format); readers never see a half-copied file while
// an open for writing completes one; and metacopy files kernel overlayfs wrote (also renamed
// ones, with overlay.redirect) serve stratafs as an upper layer, and the other way round.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <tuple>
#include <vector>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

constexpr const char* kMarker = "trusted.overlay.metacopy";

std::string Random(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

bool HasMarker(const std::string& path) {
  return ::lgetxattr(path.c_str(), kMarker, nullptr, 0) >= 0;
}

struct stat Lstat(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << std::strerror(errno);
  return st;
}

constexpr CanonicalOptions kView{.dir_nlink = false, .file_nlink = true, .dir_mtime = false};

class MetacopyMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* d : {"/u", "/w", "/m", "/kw", "/km"}) ::mkdir((dir_ / d).c_str(), 0755);
    LayerBuilder lower(dir_ / "l");
    for (int i = 0; i < 20; ++i) {
      lower.File("d/f" + std::to_string(i), Random(64 * 1024 + i, static_cast<uint32_t>(i)));
    }
    lower.File("d/small", "tiny\n").File("d/empty", "").Dir("other");
    lower.File("h1", Random(10000, 99)).Hardlink("h2", "h1");
  }
  std::vector<std::string> Args(const std::string& upper, const std::string& work,
                                const std::string& more = "") {
    return {"-o", "lowerdir=" + (dir_ / "l") + ",upperdir=" + upper + ",workdir=" + work +
                      ",metacopy=on" + more};
  }
  TempDir dir_;
};

TEST_F(MetacopyMountTest, AttributeChangesLeaveTheDataBelow) {
  const std::string m = dir_ / "m", u = dir_ / "u";
  Tree before;
  {
    StrataMount mount(Args(u, dir_ / "w"), m);
    ASSERT_TRUE(mount.ok()) << mount.error();
    before = DumpTree(m);
    for (int i = 0; i < 20; ++i) {
      const std::string f = m + "/d/f" + std::to_string(i);
      switch (i % 4) {
        case 0: ASSERT_EQ(::chmod(f.c_str(), 0600), 0); break;
        case 1: ASSERT_EQ(::chown(f.c_str(), 1000, 1000), 0); break;
        case 2: {
          const struct timespec times[2] = {{1000, 0}, {2000, 0}};
          ASSERT_EQ(::utimensat(AT_FDCWD, f.c_str(), times, 0), 0);
          break;
        }
        default: ASSERT_EQ(::setxattr(f.c_str(), "user.tag", "v", 1, 0), 0); break;
      }
    }
    ASSERT_EQ(::chmod((m + "/d/small").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((m + "/d/empty").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((m + "/h1").c_str(), 0600), 0);
    for (int i = 0; i < 20; ++i) {
      const std::string name = "/d/f" + std::to_string(i);
      EXPECT_TRUE(HasMarker(u + name)) << name;
      EXPECT_LT(Lstat(u + name).st_blocks, Lstat(dir_ / ("l" + name)).st_blocks) << name;
      EXPECT_EQ(Lstat(m + name).st_blocks, Lstat(dir_ / ("l" + name)).st_blocks)
          << name << ": du counts the data below";
      EXPECT_TRUE(SameData(ReadPath(m + name), ReadPath(dir_ / ("l" + name)))) << name;
    }
    EXPECT_TRUE(HasMarker(u + "/d/small"));
    EXPECT_FALSE(HasMarker(u + "/d/empty")) << "nothing to leave below";
    EXPECT_FALSE(HasMarker(u + "/h1")) << "hard links are copied whole (the index)";
    EXPECT_EQ(Lstat(m + "/d/f0").st_mode & 07777, 0600u);
    EXPECT_EQ(Lstat(m + "/d/f1").st_uid, 1000u);
    EXPECT_EQ(Lstat(m + "/d/f2").st_mtim.tv_sec, 2000);
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }
  // The same tree after a remount, and through kernel overlayfs (metacopy=on) reading the
  // upper layer stratafs wrote.
  Tree again, kernel;
  {
    StrataMount mount(Args(u, dir_ / "w"), m);
    ASSERT_TRUE(mount.ok()) << mount.error();
    again = DumpTree(m);
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }
  {
    KernelOverlay k(LowerdirOption({u, dir_ / "l"}) + ",metacopy=on,redirect_dir=follow",
                    dir_ / "km");
    ASSERT_TRUE(k.ok()) << k.error();
    kernel = DumpTree(dir_ / "km");
  }
  Tree strata_view = again;
  for (const char* linked : {"/h1", "/h2"}) {  // the kernel does not know stratafs's index
    kernel.erase(linked);
    strata_view.erase(linked);
  }
  EXPECT_EQ(DiffLines(Canonical(kernel, kView), Canonical(strata_view, kView)), "");
  for (int i = 0; i < 20; ++i) {
    const std::string name = "/d/f" + std::to_string(i);
    EXPECT_EQ(again[name].content_hash, before[name].content_hash) << name;
  }
}

// Readers in other processes open and read a big lower file over and over while it is
// copied up for metadata, then completed by an open for writing (its data copied in place),
// then appended to: every read shows the original data in full, never a hole of the copy.
TEST_F(MetacopyMountTest, ReadersNeverSeeAHalfCompletedFile) {
  constexpr size_t kChunk = 1 << 20;
  const std::string data = Random(32 * kChunk, 7);
  LayerBuilder(dir_ / "l").File("big", data);
  const std::string m = dir_ / "m";
  StrataMount mount(Args(dir_ / "u", dir_ / "w"), m);
  ASSERT_TRUE(mount.ok()) << mount.error();
  const std::string path = m + "/big";
  std::vector<pid_t> readers;
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  for (int r = 0; r < 3; ++r) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(go[1]);
      char c;
      (void)::read(go[0], &c, 1);  // returns when the parent closes its end
      int bad = 0;
      const int held = ::open(path.c_str(), O_RDONLY);  // opened before every copy-up
      for (int round = 0; round < 12; ++round) {
        const int fd = round % 2 ? held : ::open(path.c_str(), O_RDONLY);
        // From the daemon each time, not from what the page cache kept of an earlier read;
        // from the end backwards, ahead of a copy that runs forwards.
        if (fd >= 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        bool same = fd >= 0;
        std::string chunk(kChunk, '\0');
        for (size_t off = data.size(); same && off > 0; off -= kChunk) {
          const ssize_t n = ::pread(fd, chunk.data(), kChunk, static_cast<off_t>(off - kChunk));
          same = n == static_cast<ssize_t>(kChunk) && data.compare(off - kChunk, kChunk, chunk) == 0;
        }
        if (fd != held && fd >= 0) ::close(fd);
        if (!same) ++bad;
      }
      ::_exit(bad > 100 ? 100 : bad);
    }
    readers.push_back(pid);
  }
  ::close(go[0]);
  ::close(go[1]);  // starts every reader at once
  EXPECT_EQ(::chmod(path.c_str(), 0600), 0);
  const int rw = ::open(path.c_str(), O_RDWR | O_APPEND);
  EXPECT_GE(rw, 0) << std::strerror(errno);
  EXPECT_EQ(::write(rw, "tail", 4), 4);
  ::close(rw);
  for (pid_t pid : readers) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "reader " << pid << ": " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1)
        << " reads did not show the original data";
  }
  EXPECT_FALSE(HasMarker(dir_ / "u/big"));
  EXPECT_TRUE(SameData(ReadPath(path), data + "tail"));
  EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
}

// Kernel overlayfs (metacopy=on) writes metacopy files, one renamed into another directory
// (an absolute overlay.redirect) and one within its directory; stratafs then uses that upper
// layer as its own upper: it shows what the kernel showed, completes a redirected file when
// it is written, and the kernel reads the result back.
TEST_F(MetacopyMountTest, KernelMetacopyFilesServeAsStratafsUpper) {
  const std::string l = dir_ / "l", u = dir_ / "u", km = dir_ / "km", m = dir_ / "m";
  const std::string kernel_data = "lowerdir=" + l + ",upperdir=" + u + ",workdir=" + (dir_ / "kw") +
                                  ",metacopy=on,redirect_dir=on,index=on";
  Tree kernel_before;
  {
    KernelOverlay k(kernel_data, km);
    ASSERT_TRUE(k.ok()) << k.error();
    ASSERT_EQ(::chmod((km + "/d/f0").c_str(), 0600), 0);
    ASSERT_EQ(::chmod((km + "/d/f1").c_str(), 0600), 0);
    ASSERT_EQ(::rename((km + "/d/f1").c_str(), (km + "/other/moved").c_str()), 0);
    ASSERT_EQ(::chown((km + "/d/f2").c_str(), 5, 5), 0);
    ASSERT_EQ(::rename((km + "/d/f2").c_str(), (km + "/d/renamed").c_str()), 0);
  }
  ASSERT_TRUE(HasMarker(u + "/other/moved")) << "the kernel renamed a metacopy file";
  {
    KernelOverlay k(kernel_data, km);
    ASSERT_TRUE(k.ok()) << k.error();
    kernel_before = DumpTree(km);
  }
  {
    StrataMount mount(Args(u, dir_ / "w"), m);
    ASSERT_TRUE(mount.ok()) << mount.error();
    EXPECT_EQ(DiffLines(Canonical(kernel_before, kView), Canonical(DumpTree(m), kView)), "");
    const int fd = ::open((m + "/other/moved").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::write(fd, "more", 4), 4);
    ::close(fd);
    EXPECT_FALSE(HasMarker(u + "/other/moved"));
    EXPECT_TRUE(SameData(ReadPath(m + "/other/moved"), ReadPath(l + "/d/f1") + "more"));
    EXPECT_TRUE(SameData(ReadPath(m + "/d/renamed"), ReadPath(l + "/d/f2")));
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }
  KernelOverlay k(kernel_data, km);
  ASSERT_TRUE(k.ok()) << k.error();
  EXPECT_TRUE(SameData(ReadPath(km + "/other/moved"), ReadPath(l + "/d/f1") + "more"));
  EXPECT_EQ(Lstat(km + "/other/moved").st_mode & 07777, 0600u);
  EXPECT_TRUE(SameData(ReadPath(km + "/d/renamed"), ReadPath(l + "/d/f2")));
}

// Data-only layers (lowerdir=TOP::DATA, the kernel's syntax): stratafs shows what kernel
// overlayfs shows for the same layers, whose metacopy files name their data by absolute
// redirects into the data layer (as composefs images do).
TEST_F(MetacopyMountTest, DataOnlyLayersMatchKernelOverlayfs) {
  const std::string top = dir_ / "top", data = dir_ / "data";
  LayerBuilder(data).File("objects/1", Random(70000, 1)).File("objects/2", Random(3000, 2));
  LayerBuilder(top).Dir("app").Dir("etc").File("etc/conf", "plain\n");
  for (const auto& [name, object, size] :
       {std::tuple<std::string, std::string, off_t>{"app/one", "/objects/1", 70000},
        {"app/two", "/objects/2", 3000}, {"etc/also-two", "/objects/2", 3000}}) {
    const std::string path = top + "/" + name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0755);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::ftruncate(fd, size), 0);
    ::close(fd);
    ASSERT_EQ(::lsetxattr(path.c_str(), kMarker, "", 0, 0), 0);
    ASSERT_EQ(::lsetxattr(path.c_str(), "trusted.overlay.redirect", object.data(), object.size(),
                          0),
              0);
    const std::string dir = path.substr(0, path.rfind('/'));
    ASSERT_EQ(::lsetxattr(dir.c_str(), "trusted.overlay.impure", "y", 1, 0), 0);
  }
  const std::string lowerdir = "lowerdir=" + top + "::" + data;
  KernelOverlay kernel(lowerdir + ",metacopy=on,redirect_dir=follow", dir_ / "km");
  ASSERT_TRUE(kernel.ok()) << kernel.error();
  StrataMount strata({"-o", lowerdir}, dir_ / "m");
  ASSERT_TRUE(strata.ok()) << strata.error();
  const Tree want = DumpTree(dir_ / "km"), got = DumpTree(dir_ / "m");
  EXPECT_EQ(want.count("/objects"), 0u);
  EXPECT_EQ(got.count("/app/one"), 1u);
  EXPECT_EQ(DiffLines(Canonical(want, kView), Canonical(got, kView)), "");
  EXPECT_TRUE(SameData(ReadPath(dir_ / "m/app/one"), ReadPath(data + "/objects/1")));
  EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
}

}  // namespace
}  // namespace strata::testing
