#pragma once

#include <cstdint>

namespace authz {

/// Wall-clock time in seconds since the Unix epoch. Injected so that expiry, rotation and
/// DPoP `iat` windows are tested exactly and without sleeping.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual std::int64_t now() const = 0;
};

class SystemClock final : public Clock {
 public:
  [[nodiscard]] std::int64_t now() const override;
};

/// A clock that tests set and advance by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t t) : t_(t) {}
  [[nodiscard]] std::int64_t now() const override { return t_; }
  void set(std::int64_t t) { t_ = t; }
  void advance(std::int64_t seconds) { t_ += seconds; }

 private:
  std::int64_t t_;
};

}  // namespace authz
