// What a process (the daemon under test) holds: its open descriptors and resident memory, read
// from /proc, to report and bound them before and after a load.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace strata::testing {

// PID's open descriptors; with FILES_ONLY, not counting /dev/fuse, pipes, io_uring instances and
// eventfds: libfuse gives each worker thread a clone of /dev/fuse and a pipe to splice replies
// through, and starts workers as load asks (up to its thread limit); over io_uring it sets up a
// ring and an eventfd per queue (per CPU) in threads of its own, which may still be starting
// when the mount appears.
size_t OpenFds(pid_t pid, bool files_only = false);

// PID's resident set (VmRSS) and its peak (VmHWM), KiB; -1 if unreadable.
long RssKiB(pid_t pid);
long PeakRssKiB(pid_t pid);

// PID's state letter from /proc/PID/stat (R, S, D, T, t, Z...); '\0' once it is gone.
char ProcessState(pid_t pid);
// The state letter of each of PID's threads; empty once it is gone.
std::string ThreadStates(pid_t pid);

// Asks the kernel to drop its cached dentries and inodes (so a FUSE daemon is sent FORGETs for
// every node no one uses), then waits up to TIMEOUT_MS for PID's file descriptors (FILES_ONLY
// as above) to fall to AT_MOST; returns the count last seen.
size_t DropCachesAndCountFds(pid_t pid, size_t at_most, int timeout_ms = 5000);

}  // namespace strata::testing
