#include "fs/core/inode.h"

#include <unistd.h>

#include "fs/core/layer_format.h"

namespace strata::core {

std::shared_ptr<const Placement> UpperPlacement(std::shared_ptr<Inode> parent,
                                                std::shared_ptr<const RealDirs> reals,
                                                std::string name) {
  auto place = std::make_shared<Placement>();
  place->parent_fd = (*reals)[0].fd.Get();
  place->parent = std::move(parent);
  place->parent_reals = std::move(reals);
  place->name = std::move(name);
  place->layer = 0;
  return place;
}

int LinkInto(const Placement& place, int dirfd, const std::string& name) {
  return place.anchor ? ::linkat(AT_FDCWD, ProcFdPath(place.anchor->Get()).c_str(), dirfd,
                                 name.c_str(), AT_SYMLINK_FOLLOW)
                      : ::linkat(place.parent_fd, place.name.c_str(), dirfd, name.c_str(), 0);
}

}  // namespace strata::core
