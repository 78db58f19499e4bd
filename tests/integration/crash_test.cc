// Crash safety of the writable layer: the daemon is killed with SIGKILL at varying moments of
// a large copy-up, of directory renames, of unlinks of lower files (whiteouts) and of new
// links to a lower hard link (its copy-up into the index, then links); after a remount every
// object is whole, either as it was before the operation or as it is after it, and the
// workdir holds no leftovers.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

// Runs FN in a child process (it may block on a dead mount: it is killed at the end).
template <typename Fn>
pid_t Spawn(Fn&& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    fn();
    ::_exit(0);
  }
  return pid;
}

void Reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

std::string WorkLeftovers(const std::string& workdir) {
  std::string out;
  const Tree work = DumpTree(workdir + "/work");
  for (const auto& [path, e] : work) {
    if (path != "/") out += path + " ";
  }
  return out;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* d : {"u", "w", "mnt"}) ::mkdir((dir_ / d).c_str(), 0755);
  }
  std::vector<std::string> Args() const {
    return {"-o",
            "lowerdir=" + (dir_ / "l0") + ",upperdir=" + (dir_ / "u") + ",workdir=" + (dir_ / "w")};
  }
  // One round: a mount, WORK run in a child process against it, the daemon SIGKILLed after
  // DELAY_MS, the child and the dead mount cleaned up.
  void KillDaemonDuring(const std::function<void()>& work, int delay_ms) {
    StrataMount mount(Args(), dir_ / "mnt");
    ASSERT_TRUE(mount.ok()) << mount.error();
    const pid_t child = Spawn(work);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(mount.pid(), SIGKILL);
    Reap(child);
    mount.Stop();
  }
  TempDir dir_;
};

TEST_F(CrashTest, KilledDuringLargeCopyUpLeavesOldOrNewFile) {
  // 64 MiB of data: long enough that the kill lands inside the copy for most delays.
  std::string big(64 << 20, '\0');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i / 4096 % 26);
  LayerBuilder(dir_ / "l0").File("big", big, 0644);
  const std::string old_hash = DumpTree(dir_ / "l0").at("/big").content_hash;
  int saw_old = 0, saw_new = 0;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::string expected_new;
    const std::string path = dir_ / "mnt/big";
    KillDaemonDuring(
        [&] {
          const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
          if (fd >= 0 && ::write(fd, "tail", 4) == 4) ::close(fd);
        },
        round * round * 3);
    StrataMount again(Args(), dir_ / "mnt");
    ASSERT_TRUE(again.ok()) << again.error();
    const Tree tree = DumpTree(dir_ / "mnt");
    const DumpEntry& e = tree.at("/big");
    if (e.content_hash == old_hash) {
      EXPECT_EQ(e.size, big.size());
      ++saw_old;
    } else {
      // The copy completed (and maybe the append): whole data, never a prefix.
      EXPECT_TRUE(e.size == big.size() || e.size == big.size() + 4) << e.size;
      std::string content;
      const int fd = ::open((dir_ / "mnt/big").c_str(), O_RDONLY);
      ASSERT_GE(fd, 0);
      content.resize(e.size);
      ASSERT_EQ(::pread(fd, content.data(), content.size(), 0), static_cast<ssize_t>(e.size));
      ::close(fd);
      EXPECT_EQ(content.compare(0, big.size(), big), 0) << "copied data differs";
      ++saw_new;
    }
    EXPECT_EQ(again.Stop(), 0);
    EXPECT_EQ(WorkLeftovers(dir_ / "w"), "") << "the mount cleans its workdir";
    // Start the next round from the lower file again.
    ::unlink((dir_ / "u/big").c_str());
  }
  std::printf("copy-up killed 8 times: %d left the lower file, %d the complete copy\n", saw_old,
              saw_new);
}

TEST_F(CrashTest, KilledDuringDirectoryRenamesLeavesOneWholeDirectory) {
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < 50; ++i) l0.File("a/f" + std::to_string(i), "data" + std::to_string(i));
  l0.Dir("a/sub").File("a/sub/deep", "deep");
  const Tree original = DumpTree(dir_ / "l0/a");
  CanonicalOptions opts;
  opts.dir_mtime = false;  // renames change the parent's times, copy-up keeps the children's
  const std::string want = Canonical(original, opts);
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string a = dir_ / "mnt/a", b = dir_ / "mnt/b";
    KillDaemonDuring(
        [&] {
          for (;;) {
            if (::rename(a.c_str(), b.c_str()) != 0 && ::rename(b.c_str(), a.c_str()) != 0) break;
          }
        },
        5 + round * 7);
    StrataMount again(Args(), dir_ / "mnt");
    ASSERT_TRUE(again.ok()) << again.error();
    const Tree tree = DumpTree(dir_ / "mnt");
    const bool has_a = tree.contains("/a"), has_b = tree.contains("/b");
    EXPECT_NE(has_a, has_b) << "exactly one name for the directory";
    const Tree moved = DumpTree(dir_ / (has_a ? "mnt/a" : "mnt/b"));
    EXPECT_EQ(DiffLines(want, Canonical(moved, opts)), "");
    EXPECT_EQ(again.Stop(), 0);
    EXPECT_EQ(WorkLeftovers(dir_ / "w"), "");
  }
}

TEST_F(CrashTest, KilledDuringUnlinksOfLowerFilesLeavesEachNameWholeOrGone) {
  constexpr int kFiles = 300;
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < kFiles; ++i) l0.File("d/f" + std::to_string(i), "data" + std::to_string(i));
  int removed_total = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string d = dir_ / "mnt/d/f";
    KillDaemonDuring(
        [&] {
          for (int i = 0; i < kFiles; ++i) ::unlink((d + std::to_string(i)).c_str());
        },
        2 + round * round * 4);
    StrataMount again(Args(), dir_ / "mnt");
    ASSERT_TRUE(again.ok()) << again.error();
    const Tree tree = DumpTree(dir_ / "mnt/d");
    int present = 0;
    for (int i = 0; i < kFiles; ++i) {
      auto it = tree.find("/f" + std::to_string(i));
      if (it == tree.end()) continue;
      ++present;
      EXPECT_EQ(ReadPath(dir_ / "mnt/d/f" + std::to_string(i)), "data" + std::to_string(i));
    }
    for (const auto& [path, e] : tree) {
      EXPECT_TRUE(path == "/" || path.starts_with("/f")) << "stray name " << path;
      EXPECT_TRUE(path == "/" || e.type == 'f') << path << " is a " << e.type;
    }
    removed_total += kFiles - present;
    EXPECT_EQ(again.Stop(), 0);
    EXPECT_EQ(WorkLeftovers(dir_ / "w"), "");
    // The next round starts from the lower layer again.
    ASSERT_EQ(RunCommand({"/bin/rm", "-rf", dir_ / "u/d"}).exit_code, 0);
  }
  std::printf("unlinks killed 6 times: %d names removed in all\n", removed_total);
}

TEST_F(CrashTest, KilledDuringLinksOfALowerHardLinkLeavesOneFile) {
  constexpr int kLinks = 200;
  LayerBuilder(dir_ / "l0").File("h1", "linked data\n", 0644).Hardlink("h2", "h1");
  int made_total = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::string target = dir_ / "mnt/h1", n = dir_ / "mnt/n";
    KillDaemonDuring(
        [&] {
          for (int i = 0; i < kLinks; ++i) ::link(target.c_str(), (n + std::to_string(i)).c_str());
        },
        1 + round * round * 4);
    StrataMount again(Args(), dir_ / "mnt");
    ASSERT_TRUE(again.ok()) << again.error();
    const Tree tree = DumpTree(dir_ / "mnt");
    const DumpEntry& h1 = tree.at("/h1");
    int names = 0;
    for (const auto& [path, e] : tree) {
      if (path == "/") continue;
      SCOPED_TRACE(path);
      EXPECT_TRUE(path == "/h1" || path == "/h2" || path.starts_with("/n")) << "stray name";
      EXPECT_EQ(e.type, 'f');
      EXPECT_EQ(e.ino, h1.ino) << "every name is the one file";
      EXPECT_EQ(e.content_hash, h1.content_hash);
      ++names;
    }
    EXPECT_EQ(ReadPath(dir_ / "mnt/h2"), "linked data\n");
    EXPECT_EQ(h1.nlink, static_cast<uint64_t>(names)) << "its link count counts its names";
    made_total += names - 2;
    EXPECT_EQ(again.Stop(), 0);
    EXPECT_EQ(WorkLeftovers(dir_ / "w"), "");
    ASSERT_EQ(RunCommand({"/bin/sh", "-c",
                          "rm -rf " + (dir_ / "u") + "/* " + (dir_ / "w") + "/strata-index/*"})
                  .exit_code,
              0);
  }
  std::printf("links killed 6 times: %d links made in all\n", made_total);
}

}  // namespace
}  // namespace strata::testing
