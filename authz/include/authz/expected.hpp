#pragma once

#include <string>
#include <utility>
#include <variant>

namespace authz {

/// An OAuth error as the RFCs name it (RFC 6749 §5.2, RFC 6750 §3.1, RFC 9449 §7.1, ...).
/// The domain only names the error; server/ maps it to an HTTP status and body.
struct OAuthError {
  std::string error;        ///< e.g. "invalid_request", "invalid_grant"
  std::string description;  ///< human-readable, never contains secrets or personal data
};

inline OAuthError make_error(std::string error, std::string description = {}) {
  return OAuthError{std::move(error), std::move(description)};
}

/// A value or an error. Small on purpose: C++20 has no std::expected.
template <class T, class E = OAuthError>
class Expected {
 public:
  /// A default-constructed Expected holds an empty error (coroutine plumbing needs one).
  Expected() : v_(std::in_place_index<1>, E{}) {}
  Expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT implicit
  Expected(E error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT implicit

  [[nodiscard]] bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// Expected<void>: success or an error.
struct Ok {};
using Status = Expected<Ok>;

}  // namespace authz
