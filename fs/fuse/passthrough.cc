#include "fs/fuse/passthrough.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "fs/base/log.h"

namespace strata::fuse {
namespace {

// From <linux/fuse.h> (protocol 7.40).
struct BackingMap {
  int32_t fd;
  uint32_t flags;
  uint64_t padding;
};
constexpr unsigned kDevIocMagic = 229;
constexpr unsigned long kBackingOpen = _IOW(kDevIocMagic, 1, BackingMap);
constexpr unsigned long kBackingClose = _IOW(kDevIocMagic, 2, uint32_t);

}  // namespace

int RegisterBackingFile(int dev_fd, int fd) {
  BackingMap map{fd, 0, 0};
  const int id = ::ioctl(dev_fd, kBackingOpen, &map);
  return id > 0 ? id : (id == 0 ? -EIO : -errno);
}

void UnregisterBackingFile(int dev_fd, int backing_id) {
  uint32_t id = static_cast<uint32_t>(backing_id);
  if (::ioctl(dev_fd, kBackingClose, &id) != 0) {
    STRATA_LOG(kWarn) << "passthrough: unregistering backing file " << backing_id << ": "
                      << std::strerror(errno);
  }
}

int IoModes::Register(int fd, const OpenBacking& open) {
  const int got = open(fd);
  if (got > 0) return got;
  if (got == -EPERM) {
    enabled_.store(false, std::memory_order_relaxed);
    STRATA_LOG(kInfo) << "passthrough: not permitted (needs CAP_SYS_ADMIN); every file is "
                         "served through the daemon";
  } else if (!warned_.exchange(true)) {
    STRATA_LOG(kInfo) << "passthrough: a backing file could not be registered ("
                      << std::strerror(-got) << "); such files are served through the daemon";
  }
  return 0;
}

IoModes::Choice IoModes::Choose(uint64_t id, bool settled, int fd, const OpenBacking& open) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  Node& node = shard.nodes[id];
  if (settled && node.backing_id == 0 && node.cached == 0 && enabled()) {
    node.backing_id = Register(fd, open);
  }
  // A backing file means passthrough opens (or this settled one). A handle that raced with
  // the node's copy-up (opened on the lower file, unsettled) joins them too: the backing file
  // is the node's current data, and a cached open now would fail (the kernel refuses the mix).
  if (node.backing_id > 0) {
    ++node.passthrough;
    return Choice{node.backing_id};
  }
  ++node.cached;
  return Choice{};
}

void IoModes::Release(uint64_t id, Choice choice, const CloseBacking& close) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.nodes.find(id);
  if (it == shard.nodes.end()) return;
  Node& node = it->second;
  if (choice.backing_id == 0) {
    --node.cached;
  } else if (--node.passthrough == 0) {
    // Unregistered under the lock: a concurrent Choose must not reuse the id meanwhile.
    close(node.backing_id);
    node.backing_id = 0;
  }
  if (node.cached == 0 && node.passthrough == 0) shard.nodes.erase(it);
}

}  // namespace strata::fuse
