// Extended attributes (read side). Size 0 asks for the length only; a value larger than the
// caller's buffer is ERANGE, as getxattr(2) requires.
#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

void ReplySized(Reply& r, const std::string& value, size_t size) {
  if (size == 0) {
    r.Xattr(value.size());
  } else if (value.size() > size) {
    r.Err(ERANGE);
  } else {
    r.Buf(value.data(), value.size());
  }
}

}  // namespace

void OpGetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  Serve(req, "getxattr", [&](Reply& r) {
    auto value = Ctx(req).fs->GetXattr(core::InodeId{ino}, name);
    if (!value) return (void)r.Err(value.error());
    ReplySized(r, *value, size);
  });
}

void OpListxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  Serve(req, "listxattr", [&](Reply& r) {
    auto names = Ctx(req).fs->ListXattr(core::InodeId{ino});
    if (!names) return (void)r.Err(names.error());
    ReplySized(r, *names, size);
  });
}

}  // namespace strata::fuse
