#include "tests/support/image_check.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/mount_fixture.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {

void RunStrataKilledAfter(const std::vector<std::string>& args, int delay_ms) {
  std::vector<std::string> argv = {STRATA_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  ::usleep(static_cast<useconds_t>(delay_ms) * 1000);
  ::kill(pid, SIGKILL);  // our own child, by pid
  ::waitpid(pid, nullptr, 0);
}

std::string LayersWithoutRecord(const std::string& store_root) {
  return RunCommand(
             {"/bin/sh", "-c",
              "cd " + store_root +
                  "/layers 2>/dev/null && for l in *; do "
                  "[ -e \"$l\" ] || continue; [ -f \"$l/layer.json\" ] || echo \"$l\"; done"})
      .out;
}

void ExpectImageMountsAs(const std::string& store_root, const std::string& image,
                         const std::string& mountpoint, const std::string& expected_root) {
  CommandResult lower = RunCommand({STRATA_PATH, "--root", store_root, "lowerdirs", image});
  ASSERT_EQ(lower.exit_code, 0) << lower.err;
  ::mkdir(mountpoint.c_str(), 0755);
  StrataMount m({"-o", lower.out.substr(0, lower.out.find('\n'))}, mountpoint);
  ASSERT_TRUE(m.ok()) << m.error();
  Tree expected = DumpTree(expected_root);
  Tree actual = DumpTree(mountpoint);
  expected.erase("/");
  actual.erase("/");
  CanonicalOptions options;
  options.dir_mtime = false;
  EXPECT_EQ(DiffLines(Canonical(expected, options), Canonical(actual, options)), "");
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

}  // namespace strata::testing
