// The .deb a node installs (tools/package.cmake): cpack makes it from this build tree, dpkg
// installs it on this machine, the installed stratafs mounts and the installed snapshotter
// serves, and dpkg removes it again (also when the test fails). Skipped where a strata package
// is already installed: the machine's own installation is never touched.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool : {"/usr/bin/dpkg", "/usr/bin/cpack", "/usr/bin/dpkg-deb"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed";
    }
    if (RunCommand({"/usr/bin/dpkg-query", "-W", "-f=${Status}", "strata"}).out ==
        "install ok installed") {
      GTEST_SKIP() << "a strata package is installed on this machine: left alone";
    }
  }
  void TearDown() override {
    if (installed_) {
      CommandResult removed = RunCommand({"/usr/bin/dpkg", "-r", "strata"}, 120000);
      EXPECT_EQ(removed.exit_code, 0) << removed.out << removed.err;
    }
  }
  bool installed_ = false;
  TempDir dir_;
};

TEST_F(PackageTest, InstalledBinariesMountAndServeThenTheyGoAway) {
  CommandResult built = RunCommand(
      {"/usr/bin/cpack", "-G", "DEB", "-B", dir_ / "pkg", "--config",
       std::string(STRATA_BUILD_DIR) + "/CPackConfig.cmake"},
      300000);
  ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  CommandResult deb = RunCommand({"/bin/sh", "-c", "ls " + (dir_ / "pkg") + "/strata_*.deb"});
  const std::string package = deb.out.substr(0, deb.out.find('\n'));
  ASSERT_FALSE(package.empty()) << built.out;
  CommandResult info = RunCommand({"/usr/bin/dpkg-deb", "-f", package, "Depends"});
  EXPECT_NE(info.out.find("fuse3"), std::string::npos) << info.out;
  CommandResult files = RunCommand({"/usr/bin/dpkg-deb", "-c", package});
  for (const char* f : {"bin/stratafs", "bin/strata", "bin/strata-snapshotter",
                        "sbin/mount.fuse.stratafs -> mount.fuse3", "man1/stratafs.1.gz",
                        "man1/strata.1.gz", "man1/strata-snapshotter.1.gz",
                        "completions/strata", "system/strata-snapshotter.service"}) {
    EXPECT_NE(files.out.find(f), std::string::npos) << f << " missing\n" << files.out;
  }

  CommandResult install = RunCommand({"/usr/bin/dpkg", "-i", package}, 300000);
  ASSERT_EQ(install.exit_code, 0) << install.out << install.err;
  installed_ = true;
  const std::string prefix = STRATA_INSTALL_PREFIX;
  CommandResult version = RunCommand({prefix + "/bin/stratafs", "--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE((version.out + version.err).find("stratafs"), std::string::npos);
  EXPECT_EQ(RunCommand({prefix + "/bin/strata", "--version"}).exit_code, 0);

  // The installed stratafs mounts a layer.
  LayerBuilder(dir_ / "layer").File("etc/hello", "installed\n");
  ::mkdir((dir_ / "mnt").c_str(), 0755);
  {
    StrataMount m({}, prefix + "/bin/stratafs", {"-o", "lowerdir=" + (dir_ / "layer")},
                  dir_ / "mnt");
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_EQ(ReadPath(dir_ / "mnt/etc/hello"), "installed\n");
    EXPECT_EQ(m.Stop(), 0) << m.Stderr();
  }

  // The installed snapshotter serves its socket and stops cleanly on SIGTERM.
  const std::string sock = dir_ / "snap.sock";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl((prefix + "/bin/strata-snapshotter").c_str(), "strata-snapshotter", "--address",
            sock.c_str(), "--root", (dir_ / "snap").c_str(), "--no-store",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  bool listening = false;
  for (int i = 0; i < 200 && !listening; ++i) {
    struct stat st;
    listening = ::stat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    if (!listening) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(listening);
  ::kill(pid, SIGTERM);  // our own child, by pid
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

  CommandResult removed = RunCommand({"/usr/bin/dpkg", "-r", "strata"}, 120000);
  ASSERT_EQ(removed.exit_code, 0) << removed.out << removed.err;
  installed_ = false;
  EXPECT_NE(::access((prefix + "/bin/stratafs").c_str(), F_OK), 0) << "removed with the package";
}

}  // namespace
}  // namespace strata::testing
