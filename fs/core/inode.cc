#include "fs/core/inode.h"

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
