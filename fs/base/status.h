// Error handling for strata: Result<T> and Status, shaped like std::expected.
//
// Every failure carries a positive errno (never collapsed: a filesystem must answer ENOTEMPTY,
// EXDEV, ELOOP, EACCES exactly) plus human context for messages. Expected failures are returned,
// never thrown. Thread-safety: plain values, no shared state.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace strata {

struct Error {
  int code = EIO;       // positive errno
  std::string context;  // what was being done, e.g. "open lowerdir '/x'"

  // "context: strerror(code)" (or just strerror when there is no context).
  std::string Message() const;
};

// Wrapper that marks a value as the error alternative (like std::unexpected).
struct Unexpected {
  Error error;
};

inline Unexpected Fail(int code, std::string context = {}) {
  return Unexpected{Error{code, std::move(context)}};
}
// Fail with the current errno.
inline Unexpected FailErrno(std::string context = {}) { return Fail(errno, std::move(context)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Unexpected u) : v_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : error_(std::move(u.error)), failed_(true) {}  // NOLINT

  bool has_value() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

using Status = Result<void>;

inline Status Ok() { return {}; }

}  // namespace strata

#define STRATA_CONCAT_INNER(a, b) a##b
#define STRATA_CONCAT(a, b) STRATA_CONCAT_INNER(a, b)

// Propagates the error of a Status/Result expression.
#define STRATA_RETURN_IF_ERROR(expr)                       \
  do {                                                     \
    auto strata_status_ = (expr);                          \
    if (!strata_status_) {                                 \
      return ::strata::Unexpected{strata_status_.error()}; \
    }                                                      \
  } while (0)

// `STRATA_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a Result or propagates its error.
#define STRATA_ASSIGN_OR_RETURN(lhs, expr) \
  STRATA_ASSIGN_OR_RETURN_IMPL(STRATA_CONCAT(strata_result_, __LINE__), lhs, expr)
#define STRATA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)  \
  auto tmp = (expr);                                  \
  if (!tmp) return ::strata::Unexpected{tmp.error()}; \
  lhs = std::move(*tmp)
