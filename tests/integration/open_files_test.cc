// Open files through a real mount: descriptors that outlive their file's names, mappings made
// before a copy-up, and what is left on disk afterwards. Runs with the multi-threaded and the
// single-threaded loop (the core's notices to the kernel must not block either).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "fs/base/unique_fd.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

class OpenFilesTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    LayerBuilder(dir_ / "lower")
        .File("lower-file", std::string(20000, 'L'))
        .File("target", "target")
        .Dir("d");
    // The upper layer on a small tmpfs of its own, so its free space can be watched.
    upper_fs_ = std::make_unique<TmpfsMount>(dir_ / "upperfs");
    ASSERT_TRUE(upper_fs_->ok());
    for (const char* d : {"upperfs/u", "upperfs/w", "mnt"}) {
      ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
    }
    std::string options = LowerdirOption({dir_ / "lower"}) + ",upperdir=" + (dir_ / "upperfs/u") +
                          ",workdir=" + (dir_ / "upperfs/w");
    if (std::string(GetParam()) != "default") options += std::string(",") + GetParam();
    strata_ = std::make_unique<StrataMount>(std::vector<std::string>{"-o", options}, mnt_);
    ASSERT_TRUE(strata_->ok()) << strata_->error();
  }
  void TearDown() override {
    if (strata_) {
      EXPECT_EQ(strata_->Stop(), 0) << strata_->Stderr();
    }
  }
  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }
  uint64_t UpperUsedBytes() const {
    struct statvfs sv;
    if (::statvfs((dir_ / "upperfs").c_str(), &sv) != 0) return 0;
    return (sv.f_blocks - sv.f_bfree) * sv.f_frsize;
  }

  TempDir dir_;
  std::string mnt_ = dir_ / "mnt";
  std::unique_ptr<TmpfsMount> upper_fs_;
  std::unique_ptr<StrataMount> strata_;
};

TEST_P(OpenFilesTest, UnlinkedFileWorksUntilTheLastCloseThenItsSpaceIsFreed) {
  const uint64_t before = UpperUsedBytes();
  UniqueFd fd(::open(M("scratch").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  const std::string data(8 << 20, 's');
  ASSERT_EQ(::pwrite(fd.Get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::unlink(M("scratch").c_str()), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd.Get(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(st.st_size, 8 << 20);
  EXPECT_EQ(::ftruncate(fd.Get(), 4 << 20), 0);
  EXPECT_EQ(::fsync(fd.Get()), 0);
  EXPECT_EQ(::fallocate(fd.Get(), 0, 0, 4096), 0);
  EXPECT_EQ(::fsetxattr(fd.Get(), "user.note", "x", 1, 0), 0) << std::strerror(errno);
  char value[8] = {};
  EXPECT_EQ(::fgetxattr(fd.Get(), "user.note", value, sizeof value), 1);
  ASSERT_EQ(::pwrite(fd.Get(), "end", 3, 4 << 20), 3);
  ASSERT_EQ(::fstat(fd.Get(), &st), 0);
  EXPECT_EQ(st.st_size, (4 << 20) + 3);
  EXPECT_EQ(PreadAll(fd.Get()).substr(4 << 20), "end");
  EXPECT_EQ(::access(M("scratch").c_str(), F_OK), -1);
  EXPECT_GE(UpperUsedBytes(), before + (4 << 20)) << "the data is still held";
  fd.Reset();
  // The kernel forgets the node right after the last close; the space goes with it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (UpperUsedBytes() > before + (1 << 20) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_LE(UpperUsedBytes(), before + (1 << 20)) << "freed after the last close";
  EXPECT_EQ(strata_->Stop(), 0) << strata_->Stderr();
  strata_.reset();
  // Nothing of it is left in the upper layer or the workdir.
  struct stat none;
  EXPECT_NE(::lstat((dir_ / "upperfs/u/scratch").c_str(), &none), 0);
  EXPECT_EQ(::rmdir((dir_ / "upperfs/w/work").c_str()), 0) << "the work directory is empty";
}

TEST_P(OpenFilesTest, RenamedOverFileKeepsItsDataForItsDescriptors) {
  UniqueFd old_target(::open(M("target").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(old_target);
  {
    UniqueFd fresh(::open(M("fresh").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    ASSERT_TRUE(fresh);
    ASSERT_EQ(::write(fresh.Get(), "fresh", 5), 5);
  }
  ASSERT_EQ(::rename(M("fresh").c_str(), M("target").c_str()), 0);
  EXPECT_EQ(PreadAll(old_target.Get()), "target") << "the replaced file, a lower one";
  struct stat st;
  ASSERT_EQ(::fstat(old_target.Get(), &st), 0);
  EXPECT_EQ(st.st_nlink, 0u);
  UniqueFd now(::open(M("target").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(PreadAll(now.Get()), "fresh");
}

TEST_P(OpenFilesTest, SharedMappingMadeBeforeACopyUpSeesLaterWrites) {
  // Kernel overlayfs (overlayfs.rst, "non-standard behavior"): a MAP_SHARED mapping of a lower
  // file keeps showing the lower data after the file is copied up. On stratafs the mapping
  // belongs to the FUSE inode, whose pages the writes through the copy update: it sees them.
  UniqueFd ro(::open(M("lower-file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro);
  void* map = ::mmap(nullptr, 20000, PROT_READ, MAP_SHARED, ro.Get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  const char* bytes = static_cast<const char*>(map);
  EXPECT_EQ(bytes[100], 'L');
  {
    UniqueFd rw(::open(M("lower-file").c_str(), O_WRONLY | O_CLOEXEC));  // the copy-up
    ASSERT_TRUE(rw);
    ASSERT_EQ(::pwrite(rw.Get(), "WW", 2, 100), 2);
    ASSERT_EQ(::pwrite(rw.Get(), "ZZ", 2, 12000), 2);
  }
  EXPECT_EQ(std::string(bytes + 100, 2), "WW");
  EXPECT_EQ(std::string(bytes + 12000, 2), "ZZ");
  EXPECT_EQ(PreadAll(ro.Get()).substr(12000, 2), "ZZ") << "and the read-only descriptor too";
  ::munmap(map, 20000);
}

INSTANTIATE_TEST_SUITE_P(Loops, OpenFilesTest,
                         ::testing::Values("default", "threaded=0", "writeback=1", "passthrough=0"),
                         [](const auto& info) {
                           const std::string p = info.param;
                           return p == "default"         ? "MultiThreaded"
                                  : p == "threaded=0"    ? "SingleThreaded"
                                  : p == "passthrough=0" ? "Cached"
                                                         : "Writeback";
                         });

}  // namespace
}  // namespace strata::testing
