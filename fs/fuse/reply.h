// Reply: exactly one reply per request (the idea of EdenFS's FuseRequestContext).
//
// Handlers run inside Serve(req, fn): fn gets a Reply and must answer through it. If fn returns
// without answering, or throws, the request is answered EIO, so no exception ever reaches
// libfuse's C frames and no request is left hanging. Forget-style requests, which take no
// reply, use ServeNoReply.
#pragma once

#include <exception>
#include <string>

#include "fs/base/log.h"
#include "fs/base/status.h"
#include "fs/fuse/fuse_api.h"

namespace strata::fuse {

// The kernel orders requests: one it sends after a reply arrived (a release after the last
// read's reply, a forget after the reply that handed out the entry) happens after everything
// the replying handler did. That order passes through /dev/fuse, where ThreadSanitizer cannot
// see it, so under TSan every reply releases and every request acquires one sync object.
// Handlers running at the same time are still checked against each other.
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
inline char kernel_order;
inline void KernelOrderAcquire() { __tsan_acquire(&kernel_order); }
inline void KernelOrderRelease() { __tsan_release(&kernel_order); }
#else
inline void KernelOrderAcquire() {}
inline void KernelOrderRelease() {}
#endif

class Reply {
 public:
  explicit Reply(fuse_req_t req) : req_(req) {}
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  fuse_req_t req() const { return req_; }
  bool done() const { return done_; }

  // Each returns libfuse's result (0, or -errno if the reply could not be sent).
  int Err(int code) {
    return Once([&] { return fuse_reply_err(req_, code); });
  }
  int Err(const Error& e) { return Err(e.code); }
  int Err(const Status& s) { return Err(s ? 0 : s.error().code); }  // 0 for success
  int Entry(const fuse_entry_param& e) {
    return Once([&] { return fuse_reply_entry(req_, &e); });
  }
  int Attr(const struct stat& st, double timeout) {
    return Once([&] { return fuse_reply_attr(req_, &st, timeout); });
  }
  int Readlink(const char* target) {
    return Once([&] { return fuse_reply_readlink(req_, target); });
  }
  int Open(const fuse_file_info& fi) {
    return Once([&] { return fuse_reply_open(req_, &fi); });
  }
  int Buf(const char* data, size_t size) {
    return Once([&] { return fuse_reply_buf(req_, data, size); });
  }
#if defined(__SANITIZE_THREAD__)
  // Under TSan the data is read here, before the release: fuse_reply_data would read the fd
  // inside the reply, after it (the kernel may release the handle as soon as the reply is out).
  int Data(fuse_bufvec* bufv) {
    std::string data(fuse_buf_size(bufv), '\0');
    fuse_bufvec mem = FUSE_BUFVEC_INIT(data.size());
    mem.buf[0].mem = data.data();
    const ssize_t n = fuse_buf_copy(&mem, bufv, static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) return Err(static_cast<int>(-n));
    return Buf(data.data(), static_cast<size_t>(n));
  }
#else
  int Data(fuse_bufvec* bufv) {
    return Once([&] { return fuse_reply_data(req_, bufv, FUSE_BUF_SPLICE_MOVE); });
  }
#endif
  int Statfs(const struct statvfs& sv) {
    return Once([&] { return fuse_reply_statfs(req_, &sv); });
  }
  int Xattr(size_t size) {
    return Once([&] { return fuse_reply_xattr(req_, size); });
  }
  int Lseek(off_t off) {
    return Once([&] { return fuse_reply_lseek(req_, off); });
  }
  int Write(size_t count) {
    return Once([&] { return fuse_reply_write(req_, count); });
  }
  int Ioctl(const void* data, size_t size) {
    return Once([&] { return fuse_reply_ioctl(req_, 0, data, size); });
  }
  int Create(const fuse_entry_param& e, const fuse_file_info& fi) {
    return Once([&] { return fuse_reply_create(req_, &e, &fi); });
  }

 private:
  // Sends the reply SEND makes. The release comes first: once the reply is out, the kernel may
  // send the next request at once.
  template <typename Send>
  int Once(Send&& send) {
    done_ = true;
    KernelOrderRelease();
    return send();
  }
  fuse_req_t req_;
  bool done_ = false;
};

template <typename Fn>
void Serve(fuse_req_t req, const char* op, Fn&& fn) {
  KernelOrderAcquire();
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
  KernelOrderAcquire();
  try {
    fn();
  } catch (...) {
    STRATA_LOG(kError) << op << ": unexpected exception";
  }
  fuse_reply_none(req);
}

}  // namespace strata::fuse
