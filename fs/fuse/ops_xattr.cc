// Extended attributes. Size 0 asks for the length only; a value larger than the
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

void OpSetxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                int flags) {
  Serve(req, "setxattr", [&](Reply& r) {
    auto status = Ctx(req).fs->SetXattr(core::InodeId{ino}, name, std::string(value, size), flags);
    r.Err(status ? 0 : status.error().code);
  });
}

void OpRemovexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  Serve(req, "removexattr", [&](Reply& r) {
    auto status = Ctx(req).fs->RemoveXattr(core::InodeId{ino}, name);
    r.Err(status ? 0 : status.error().code);
  });
}

}  // namespace strata::fuse
