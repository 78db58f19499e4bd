// A container's upper layer becomes a lower layer under a new upper (what an image build does
// when it commits a layer and starts the next step on it): directories the first session
// renamed away and back, renamed, or moved into another directory carry overlay.redirect in
// that layer, and the second session changes files under them, which copies the directories
// up again without their redirects. The tree must be what kernel overlayfs
// (redirect_dir=on,index=on) shows for the same two sessions on its own layers, also after a
// remount: markers are read the same in every layer.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <stdexcept>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

void Must(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what + ": " + std::strerror(errno));
}
void Rename(const std::string& root, const std::string& from, const std::string& to) {
  Must(::rename((root + "/" + from).c_str(), (root + "/" + to).c_str()) == 0,
       "rename " + from + " " + to);
}
void Touch(const std::string& root, const std::string& rel) {
  const int fd = ::open((root + "/" + rel).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  Must(fd >= 0, "create " + rel);
  ::close(fd);
}
void Append(const std::string& root, const std::string& rel) {
  const int fd = ::open((root + "/" + rel).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  Must(fd >= 0, "open " + rel);
  Must(::write(fd, "+", 1) == 1, "append " + rel);
  ::close(fd);
}

void FirstSession(const std::string& m) {
  Rename(m, "a", "a2");  // renamed away and back
  Rename(m, "a2", "a");
  Touch(m, "a/new");
  Rename(m, "b", "b2");  // renamed
  Must(::mkdir((m + "/d").c_str(), 0755) == 0, "mkdir d");
  Rename(m, "c", "d/c");      // moved into another directory
  Rename(m, "e/deep", "e2");  // a subdirectory moved up
}

void SecondSession(const std::string& m) {
  Touch(m, "a/sub/x");  // copies a and a/sub up again, without their lower redirects
  Append(m, "b2/g1");
  Touch(m, "d/c/z");
  Append(m, "e2/inner/i1");
  Rename(m, "b2", "b3");  // and moves one of them on
}

class RestackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    tmp_ = std::make_unique<TmpfsMount>(dir_ / "t");
    ASSERT_TRUE(tmp_->ok());
    LayerBuilder(t_ + "/l0")
        .File("a/f1", "f1")
        .File("a/sub/f2", "f2")
        .File("b/g1", "g1")
        .File("c/h1", "h1")
        .File("e/deep/inner/i1", "i1");
    for (const char* d : {"ku1", "kw1", "ku2", "kw2", "su1", "sw1", "su2", "sw2", "km", "sm"}) {
      ASSERT_EQ(::mkdir((t_ + "/" + d).c_str(), 0755), 0);
    }
  }
  std::string KernelData(const std::string& lowers, const std::string& n) const {
    return "lowerdir=" + lowers + ",upperdir=" + t_ + "/ku" + n + ",workdir=" + t_ + "/kw" + n +
           ",redirect_dir=on,index=on";
  }
  std::vector<std::string> StrataArgs(const std::string& lowers, const std::string& n) const {
    return {"-o",
            "lowerdir=" + lowers + ",upperdir=" + t_ + "/su" + n + ",workdir=" + t_ + "/sw" + n};
  }
  // Runs SESSION on both (mount, run, unmount), then returns both trees after a remount.
  void Both(const std::string& n, const std::string& klowers, const std::string& slowers,
            const std::function<void(const std::string&)>& session) {
    {
      KernelOverlay kernel(KernelData(klowers, n), t_ + "/km");
      ASSERT_TRUE(kernel.ok()) << kernel.error();
      StrataMount strata(StrataArgs(slowers, n), t_ + "/sm");
      ASSERT_TRUE(strata.ok()) << strata.error();
      ASSERT_NO_THROW(session(t_ + "/km"));
      ASSERT_NO_THROW(session(t_ + "/sm"));
      Compare("session " + n);
      EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
    }
    KernelOverlay kernel(KernelData(klowers, n), t_ + "/km");
    ASSERT_TRUE(kernel.ok()) << kernel.error();
    StrataMount strata(StrataArgs(slowers, n), t_ + "/sm");
    ASSERT_TRUE(strata.ok()) << strata.error();
    Compare("session " + n + " after remount");
    EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
  }
  // The times the sessions set themselves differ between the two mounts: zeroed.
  Tree WithoutSessionTimes(Tree tree) const {
    for (auto& [path, e] : tree) {
      if (e.mtime_sec >= start_) e.mtime_sec = e.mtime_nsec = 0;
    }
    return tree;
  }
  void Compare(const std::string& what) {
    const Tree kernel = DumpTree(t_ + "/km", /*skip_phantoms=*/true);
    const Tree strata = DumpTree(t_ + "/sm");
    CanonicalOptions options;
    options.dir_mtime = false;  // the sessions' own changes
    EXPECT_EQ(DiffLines(Canonical(WithoutSessionTimes(kernel), options),
                        Canonical(WithoutSessionTimes(strata), options)),
              "")
        << what;
    EXPECT_EQ(CheckInodes(strata, kernel), "") << what;
  }

  TempDir dir_;
  const time_t start_ = std::time(nullptr) - 1;
  std::unique_ptr<TmpfsMount> tmp_;
  std::string t_ = dir_ / "t";
};

TEST_F(RestackTest, AFormerUpperLayerReadsTheSameAsAnyOther) {
  Both("1", t_ + "/l0", t_ + "/l0", FirstSession);
  if (HasFailure()) return;
  {
    // Kernel overlayfs reads the layer stratafs wrote as stratafs does.
    KernelOverlay kernel("lowerdir=" + t_ + "/su1:" + t_ + "/l0,redirect_dir=follow", t_ + "/km");
    ASSERT_TRUE(kernel.ok()) << kernel.error();
    StrataMount strata({"-o", "lowerdir=" + t_ + "/su1:" + t_ + "/l0"}, t_ + "/sm");
    ASSERT_TRUE(strata.ok()) << strata.error();
    Compare("stratafs's upper layer read by both");
    EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
  }
  // The first upper layers are now lower layers under fresh ones.
  Both("2", t_ + "/ku1:" + t_ + "/l0", t_ + "/su1:" + t_ + "/l0", SecondSession);
  if (HasFailure()) return;
  // And the directories' contents are all there.
  StrataMount strata(StrataArgs(t_ + "/su1:" + t_ + "/l0", "2"), t_ + "/sm");
  ASSERT_TRUE(strata.ok()) << strata.error();
  for (const char* path :
       {"a/f1", "a/sub/f2", "a/sub/x", "a/new", "b3/g1", "d/c/h1", "d/c/z", "e2/inner/i1"}) {
    EXPECT_EQ(::access((t_ + "/sm/" + path).c_str(), F_OK), 0) << path;
  }
  EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
}

}  // namespace
}  // namespace strata::testing
