#include "fs/core/inode.h"

#include <sys/stat.h>
#include <unistd.h>

#include "fs/core/layer_format.h"

namespace strata::core {

std::string RealAt::Proc() const {
  return (flags & AT_EMPTY_PATH) ? ProcFdPath(dirfd) : ProcFdPath(dirfd, path);
}

Result<RealAt> Placement::At() const {
  if (anchor) return RealAt{anchor, anchor->Get(), "", AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH};
  STRATA_ASSIGN_OR_RETURN(FdLease dir, Dir());
  const int fd = dir->Get();
  return RealAt{std::move(dir), fd, name.c_str(), AT_SYMLINK_NOFOLLOW};
}

std::shared_ptr<const Placement> UpperPlacement(std::shared_ptr<Inode> parent,
                                                std::shared_ptr<const RealDirs> reals,
                                                std::string name) {
  auto place = std::make_shared<Placement>();
  place->parent = std::move(parent);
  place->parent_reals = std::move(reals);
  place->parent_index = 0;
  place->name = std::move(name);
  place->layer = 0;
  return place;
}

namespace {

class UpperDir final : public DirFd::Source {
 public:
  UpperDir(std::weak_ptr<const Inode> node, dev_t dev, ino_t ino)
      : node_(std::move(node)), dev_(dev), ino_(ino) {}

  Result<UniqueFd> Reopen() const override {
    auto node = node_.lock();
    if (!node) return Fail(ESTALE, "reopen upper directory: its node is gone");
    return StablePlaced(*node, [&]() -> Result<UniqueFd> {
      auto place = node->Place();
      if (!place->parent) return Fail(ESTALE, "reopen upper directory: no parent");
      // The parent is in the upper layer (its child is): its current snapshot starts there.
      auto reals = place->parent->Reals();
      if (reals->empty() || (*reals)[0].layer != 0) {
        return Fail(ESTALE, "reopen upper directory '" + place->name + "': parent not upper");
      }
      STRATA_ASSIGN_OR_RETURN(FdLease parent, (*reals)[0].fd.Open());
      UniqueFd fd(::openat(parent->Get(), place->name.c_str(),
                           O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return FailErrno("reopen upper directory '" + place->name + "'");
      struct stat st;
      if (::fstat(fd.Get(), &st) != 0) return FailErrno("reopen upper directory");
      if (st.st_dev != dev_ || st.st_ino != ino_) {
        return Fail(ESTALE, "upper directory '" + place->name +
                                "' was replaced behind the mount: layers must not be modified "
                                "while mounted");
      }
      return fd;
    });
  }

 private:
  std::weak_ptr<const Inode> node_;
  dev_t dev_;
  ino_t ino_;
};

}  // namespace

std::shared_ptr<const DirFd::Source> UpperDirSource(std::weak_ptr<const Inode> node, dev_t dev,
                                                    ino_t ino) {
  return std::make_shared<const UpperDir>(std::move(node), dev, ino);
}

int LinkInto(const Placement& place, int dirfd, const std::string& name) {
  if (place.anchor) {
    return ::linkat(AT_FDCWD, ProcFdPath(place.anchor->Get()).c_str(), dirfd, name.c_str(),
                    AT_SYMLINK_FOLLOW);
  }
  auto dir = place.Dir();
  if (!dir) {
    errno = dir.error().code;
    return -1;
  }
  return ::linkat((*dir)->Get(), place.name.c_str(), dirfd, name.c_str(), 0);
}

}  // namespace strata::core
