// stratafs mounted by an unprivileged user through fusermount3, the way rootless container
// tools use fuse-overlayfs: writes, deletes, opaque directories and directory renames work,
// the upper layer uses only what an unprivileged process may write (user.overlay.* markers,
// whiteouts the kernel lets anyone create), and a remount by the same user shows the same tree.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

class RootlessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (::access("/usr/sbin/runuser", X_OK) != 0) GTEST_SKIP() << "needs runuser (util-linux)";
    if (::access("/usr/bin/fusermount3", X_OK) != 0) GTEST_SKIP() << "needs fusermount3 (fuse3)";
    // Distributions ship /dev/fuse as 0666; this machine ships 0600.
    struct stat st;
    ASSERT_EQ(::stat("/dev/fuse", &st), 0);
    fuse_mode_ = st.st_mode & 07777;
    ASSERT_EQ(::chmod("/dev/fuse", 0666), 0);
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // /tmp-based: nobody can reach it
    std::filesystem::copy_file(STRATAFS_PATH, dir_ / "stratafs");
    ASSERT_EQ(::chmod((dir_ / "stratafs").c_str(), 0755), 0);
    LayerBuilder(dir_ / "l0")
        .File("d/f", "lower\n")
        .File("d/sub/x", "x\n")
        .File("gone/y", "y\n")
        .File("keep", "k\n");
    for (const char* d : {"u", "w", "mnt"}) ::mkdir((dir_ / d).c_str(), 0755);
    // The user owns its layers (as with rootless podman's storage).
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
      ASSERT_EQ(::lchown(e.path().c_str(), kNobody, kNogroup), 0);
    }
  }
  void TearDown() override {
    if (fuse_mode_) ::chmod("/dev/fuse", fuse_mode_);
  }
  StrataMount MountAsNobody() {
    return StrataMount({"/usr/sbin/runuser", "-u", "nobody", "--"}, dir_ / "stratafs",
                       {"-o", "lowerdir=" + (dir_ / "l0") + ",upperdir=" + (dir_ / "u") +
                                  ",workdir=" + (dir_ / "w")},
                       dir_ / "mnt");
  }
  CommandResult AsNobody(const std::string& script) {
    return RunCommand({"/usr/sbin/runuser", "-u", "nobody", "--", "/bin/sh", "-c",
                       "cd " + (dir_ / "mnt") + " && " + script});
  }

  TempDir dir_{"/tmp"};
  mode_t fuse_mode_ = 0;
};

TEST_F(RootlessTest, UnprivilegedMountWritesAndRemounts) {
  const std::string listing = "find . | sort; cat d/f dd/f 2>/dev/null; cat keep gone/y 2>&1; true";
  std::string before;
  {
    StrataMount mount = MountAsNobody();
    ASSERT_TRUE(mount.ok()) << mount.error();
    CommandResult r = AsNobody(
        "echo more >> d/f && rm -r gone && mkdir gone && echo new > gone/z && mv d dd && "
        "ln keep keep2 && echo changed > keep && cat keep2");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "changed\n");
    CommandResult l = AsNobody(listing);
    ASSERT_EQ(l.exit_code, 0) << l.err;
    before = l.out;
    EXPECT_NE(before.find("./dd/sub/x\n"), std::string::npos) << before;
    EXPECT_EQ(before.find("./gone/y"), std::string::npos) << before;
    EXPECT_NE(before.find("lower\nmore\n"), std::string::npos) << before;
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }
  // Nothing in the upper layer needed privilege: no trusted.* marker, everything nobody's.
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ / "u")) {
    struct stat st;
    ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kNobody) << e.path();
    char names[4096];
    const ssize_t n = ::llistxattr(e.path().c_str(), names, sizeof names);
    for (ssize_t pos = 0; pos < n; pos += static_cast<ssize_t>(std::strlen(names + pos)) + 1) {
      EXPECT_EQ(std::string(names + pos).rfind("trusted.", 0), std::string::npos) << e.path();
    }
  }
  char value[16];
  EXPECT_GT(::getxattr((dir_ / "u/gone").c_str(), "user.overlay.opaque", value, sizeof value), 0);
  EXPECT_GT(::getxattr((dir_ / "u/dd").c_str(), "user.overlay.redirect", value, sizeof value), 0);

  StrataMount again = MountAsNobody();
  ASSERT_TRUE(again.ok()) << again.error();
  CommandResult l = AsNobody(listing);
  ASSERT_EQ(l.exit_code, 0) << l.err;
  EXPECT_EQ(l.out, before) << "the same tree after a remount";
  EXPECT_EQ(again.Stop(), 0) << again.Stderr();
}

}  // namespace
}  // namespace strata::testing
