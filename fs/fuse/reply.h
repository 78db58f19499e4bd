// Reply: exactly one reply per request (the idea of EdenFS's FuseRequestContext).
//
// Handlers run inside Serve(req, fn): fn gets a Reply and must answer through it. If fn returns
// without answering, or throws, the request is answered EIO, so no exception ever reaches
// libfuse's C frames and no request is left hanging. Forget-style requests, which take no
// reply, use ServeNoReply.
#pragma once

#include <exception>

#include "fs/base/log.h"
#include "fs/base/status.h"
#include "fs/fuse/fuse_api.h"

namespace strata::fuse {

class Reply {
 public:
  explicit Reply(fuse_req_t req) : req_(req) {}
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  fuse_req_t req() const { return req_; }
  bool done() const { return done_; }

  // Each returns libfuse's result (0, or -errno if the reply could not be sent).
  int Err(int code) { return Once(fuse_reply_err(req_, code)); }
  int Err(const Error& e) { return Err(e.code); }
  int Entry(const fuse_entry_param& e) { return Once(fuse_reply_entry(req_, &e)); }
  int Attr(const struct stat& st, double timeout) {
    return Once(fuse_reply_attr(req_, &st, timeout));
  }
  int Readlink(const char* target) { return Once(fuse_reply_readlink(req_, target)); }
  int Open(const fuse_file_info& fi) { return Once(fuse_reply_open(req_, &fi)); }
  int Buf(const char* data, size_t size) { return Once(fuse_reply_buf(req_, data, size)); }
  int Data(fuse_bufvec* bufv) { return Once(fuse_reply_data(req_, bufv, FUSE_BUF_SPLICE_MOVE)); }
  int Statfs(const struct statvfs& sv) { return Once(fuse_reply_statfs(req_, &sv)); }
  int Xattr(size_t size) { return Once(fuse_reply_xattr(req_, size)); }
  int Lseek(off_t off) { return Once(fuse_reply_lseek(req_, off)); }
  int Write(size_t count) { return Once(fuse_reply_write(req_, count)); }
  int Ioctl(const void* data, size_t size) { return Once(fuse_reply_ioctl(req_, 0, data, size)); }
  int Create(const fuse_entry_param& e, const fuse_file_info& fi) {
    return Once(fuse_reply_create(req_, &e, &fi));
  }

 private:
  int Once(int rc) {
    done_ = true;
    return rc;
  }
  fuse_req_t req_;
  bool done_ = false;
};

template <typename Fn>
void Serve(fuse_req_t req, const char* op, Fn&& fn) {
  Reply reply(req);
  try {
    fn(reply);
  } catch (const std::exception& e) {
    STRATA_LOG(kError) << op << ": unexpected exception: " << e.what();
  } catch (...) {
    STRATA_LOG(kError) << op << ": unexpected exception";
  }
  if (!reply.done()) reply.Err(EIO);
}

template <typename Fn>
void ServeNoReply(fuse_req_t req, const char* op, Fn&& fn) {
  try {
    fn();
  } catch (...) {
    STRATA_LOG(kError) << op << ": unexpected exception";
  }
  fuse_reply_none(req);
}

}  // namespace strata::fuse
