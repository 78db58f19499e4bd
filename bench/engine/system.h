// The few system services the bench engine needs: running commands, mounts, dropping caches,
// removing trees, a monotonic clock, and what the machine is. Every function returns Status or
// a plain value; nothing throws.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "bench/engine/results.h"
#include "fs/base/status.h"

namespace strata::bench {

// Seconds on the monotonic clock.
double Now();

// Runs ARGV (argv[0] found on PATH) to completion, its output discarded unless OUT is given
// (stdout and stderr together). Errors: the errno of fork/exec, or EIO naming the exit status.
Status RunCommand(const std::vector<std::string>& argv, std::string* out = nullptr,
                  const std::string& cwd = "");
// Starts ARGV in the background, output to /dev/null. Returns its pid (-1 on failure).
pid_t Spawn(const std::vector<std::string>& argv);
// Waits for PID; returns its exit status (-1 if killed).
int Wait(pid_t pid);

bool IsMounted(const std::string& path);
// The mount points at or under DIR, in mount order.
std::vector<std::string> MountsUnder(const std::string& dir);
// Waits up to TIMEOUT_S for PATH to be a mount point while PID (if > 0) runs.
Status WaitForMount(const std::string& path, pid_t pid, double timeout_s);
// Unmounts PATH (retrying while busy, then lazily; fusermount3 -u for a user's FUSE mount).
// Errors: the errno of umount2.
Status Unmount(const std::string& path);

// sync(2), then drops the page, dentry and inode caches (needs root; false otherwise).
bool DropCaches();

// rm -rf PATH, never leaving its filesystem. Errors: the first errno.
Status RemoveTree(const std::string& path);
Status MakeDirs(const std::string& path);
// The number of bytes written. Errors: open/write errnos.
Status WriteFile(const std::string& path, const std::string& data);

Machine DescribeMachine(const std::string& work_dir);

}  // namespace strata::bench
