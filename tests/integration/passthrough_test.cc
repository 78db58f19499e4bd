// FUSE passthrough (fs/fuse/passthrough.h) through a real mount: the kernel reads and writes
// upper files, and every file of a read-only union, without a request to the daemon; lower
// files of a writable union stay with the daemon, so a reader opened before a copy-up follows
// it; files opened both ways at once show one content. The daemon's request trace (-d) tells
// which requests reached it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

#include "fs/base/unique_fd.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

// Drops what the page cache holds of FD's file (this mount's pages, not the real file's), so
// a cached-mode read has to ask the daemon.
void DropPages(int fd) { ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0); }

std::string Pattern(size_t size, char seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i % 61);
  return s;
}

bool KernelHasPassthrough() {
  struct utsname u;
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  return major > 6 || (major == 6 && minor >= 9);
}

class PassthroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (DaemonLibfuseMinor() < 17) GTEST_SKIP() << "libfuse before 3.17 has no passthrough";
    if (!KernelHasPassthrough()) GTEST_SKIP() << "FUSE passthrough needs Linux 6.9+";
    if (ExtraModeHas("passthrough=0") || ExtraModeHas("writeback=1")) {
      GTEST_SKIP() << "the mode under test (" << ExtraMountOptions() << ") has no passthrough";
    }
    LayerBuilder(dir_ / "lower").File("lower-file", lower_data_);
    for (const char* d : {"upper", "work", "mnt"}) ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
  }
  std::unique_ptr<StrataMount> Mount(const std::string& extra, bool writable = true) {
    std::string opts = LowerdirOption({dir_ / "lower"});
    if (writable) opts += ",upperdir=" + (dir_ / "upper") + ",workdir=" + (dir_ / "work");
    if (!extra.empty()) opts += "," + extra;
    auto m = std::make_unique<StrataMount>(std::vector<std::string>{"-d", "-o", opts}, mnt_);
    EXPECT_TRUE(m->ok()) << m->error();
    return m;
  }
  // Writes a new file NAME, reads it back through a fresh descriptor with its pages dropped,
  // and returns how many READ and WRITE requests the daemon got meanwhile.
  std::pair<int, int> NewFileRoundTrip(StrataMount& m, const std::string& name) {
    const size_t from = m.Stderr().size();
    const std::string data = Pattern(2 << 20, 'a');
    {
      UniqueFd fd(
          ::open((mnt_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      EXPECT_TRUE(fd);
      EXPECT_EQ(::write(fd.Get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
      EXPECT_EQ(::fsync(fd.Get()), 0);
    }
    UniqueFd fd(::open((mnt_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(fd);
    DropPages(fd.Get());
    EXPECT_TRUE(PreadAll(fd.Get()) == data) << "the data read back differs";
    const std::string trace = m.Stderr();
    return {TraceRequests(trace, from, "READ"), TraceRequests(trace, from, "WRITE")};
  }

  TempDir dir_;
  std::string mnt_ = dir_ / "mnt";
  const std::string lower_data_ = Pattern(1 << 20, 'L');
};

TEST_F(PassthroughTest, UpperFilesAreReadAndWrittenByTheKernel) {
  {
    auto m = Mount("");
    ASSERT_TRUE(m->ok());
    const auto [reads, writes] = NewFileRoundTrip(*m, "new");
    EXPECT_EQ(reads, 0) << "passthrough: no READ reaches the daemon";
    EXPECT_EQ(writes, 0) << "passthrough: no WRITE reaches the daemon";
    EXPECT_EQ(m->Stop(), 0) << m->Stderr().substr(0, 4000);
  }
  // The control: served by the daemon when turned off, and with the writeback cache.
  for (const char* off : {"passthrough=0", "writeback=1"}) {
    auto m = Mount(off);
    ASSERT_TRUE(m->ok());
    const auto [reads, writes] = NewFileRoundTrip(*m, std::string("new-") + off);
    EXPECT_GT(reads, 0) << off;
    EXPECT_GT(writes, 0) << off;
    EXPECT_EQ(m->Stop(), 0);
  }
}

TEST_F(PassthroughTest, ReadOnlyUnionIsReadByTheKernel) {
  auto m = Mount("", /*writable=*/false);
  ASSERT_TRUE(m->ok());
  const size_t from = m->Stderr().size();
  UniqueFd fd(::open((mnt_ + "/lower-file").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  DropPages(fd.Get());
  EXPECT_TRUE(PreadAll(fd.Get()) == lower_data_);
  EXPECT_EQ(TraceRequests(m->Stderr(), from, "READ"), 0);
  fd.Reset();
  EXPECT_EQ(m->Stop(), 0);
}

// A lower file of a writable union may be copied up under its readers: it is read through
// the daemon, which moves them to the upper file. Once upper, it goes to the kernel; opens of
// both kinds at once, mappings and attributes all show the one current content.
TEST_F(PassthroughTest, LowerReadersFollowACopyUpAndAllOpensAgree) {
  auto m = Mount("");
  ASSERT_TRUE(m->ok());
  const std::string path = mnt_ + "/lower-file";
  size_t from = m->Stderr().size();
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader);
  DropPages(reader.Get());
  EXPECT_TRUE(PreadAll(reader.Get()) == lower_data_);
  EXPECT_GT(TraceRequests(m->Stderr(), from, "READ"), 0)
      << "a lower file is read through the daemon";

  {
    UniqueFd writer(::open(path.c_str(), O_RDWR | O_CLOEXEC));  // copies up
    ASSERT_TRUE(writer);
    ASSERT_EQ(::pwrite(writer.Get(), "FIRST", 5, 0), 5);
  }
  char head[6] = {};
  ASSERT_EQ(::pread(reader.Get(), head, 5, 0), 5);
  EXPECT_STREQ(head, "FIRST") << "the reader opened before the copy-up follows it";
  reader.Reset();

  // Upper now, and no open left: new opens are passthrough, and share one backing file.
  from = m->Stderr().size();
  UniqueFd writer(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
  ASSERT_TRUE(writer);
  UniqueFd second(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(second);
  void* map = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, second.Get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  struct stat before;
  ASSERT_EQ(::fstat(second.Get(), &before), 0);
  ASSERT_EQ(::pwrite(writer.Get(), "SECOND", 6, 0), 6);  // O_APPEND: lands at the end
  UniqueFd third(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(third);
  ASSERT_EQ(::pwrite(third.Get(), "THIRD", 5, 0), 5);
  std::string all = PreadAll(second.Get());
  ASSERT_EQ(all.size(), lower_data_.size() + 6);
  EXPECT_EQ(all.substr(0, 5), "THIRD");
  EXPECT_EQ(all.substr(all.size() - 6), "SECOND");
  EXPECT_EQ(std::memcmp(map, "THIRD", 5), 0) << "a mapping shows the writes";
  struct stat after;
  ASSERT_EQ(::fstat(second.Get(), &after), 0);
  EXPECT_EQ(after.st_size, static_cast<off_t>(lower_data_.size() + 6));
  EXPECT_TRUE(after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
              after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
      << "the kernel asks again for attributes a passthrough write changed";
  struct stat real;
  ASSERT_EQ(::stat((dir_ / "upper/lower-file").c_str(), &real), 0);
  EXPECT_EQ(real.st_size, after.st_size);
  const std::string trace = m->Stderr();
  EXPECT_EQ(TraceRequests(trace, from, "READ"), 0);
  EXPECT_EQ(TraceRequests(trace, from, "WRITE"), 0);
  ::munmap(map, 4096);
  writer.Reset();
  second.Reset();
  third.Reset();
  EXPECT_EQ(m->Stop(), 0);
}

// While a reader of the lower file is open, the node stays in cached mode (the kernel allows
// one mode per inode): a writer opened meanwhile is served by the daemon, and both agree.
TEST_F(PassthroughTest, AnOpenLowerReaderKeepsTheFileWithTheDaemon) {
  auto m = Mount("");
  ASSERT_TRUE(m->ok());
  const std::string path = mnt_ + "/lower-file";
  UniqueFd reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(reader);
  const size_t from = m->Stderr().size();
  UniqueFd writer(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(writer) << std::strerror(errno);
  UniqueFd upper_reader(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(upper_reader) << "an open in the wrong mode fails with EIO: " << std::strerror(errno);
  ASSERT_EQ(::pwrite(writer.Get(), "DAEMON", 6, 100), 6);
  EXPECT_GT(TraceRequests(m->Stderr(), from, "WRITE"), 0);
  for (int fd : {reader.Get(), upper_reader.Get()}) {
    char got[7] = {};
    ASSERT_EQ(::pread(fd, got, 6, 100), 6);
    EXPECT_STREQ(got, "DAEMON");
  }
  reader.Reset();
  writer.Reset();
  upper_reader.Reset();
  EXPECT_EQ(m->Stop(), 0);
}

}  // namespace
}  // namespace strata::testing
