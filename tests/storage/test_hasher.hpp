#pragma once

#include <memory>
#include <string>

#include "storage/log_hasher.hpp"

namespace storage::testing {

/// A stand-in for the domain's RFC 9162 hasher: deterministic, 32 bytes, and sensitive to
/// every byte it hashes, which is all storage relies on. (The real one is tested in authz.)
class TestLogHasher final : public LogHasher {
 public:
  [[nodiscard]] std::string leaf_hash(const Event& e) const override {
    return leaf_hash(prepare(e), e.seq);
  }
  [[nodiscard]] Prepared prepare(const Event& e) const override {
    return {"leaf:", ":" + std::to_string(e.time) + ":" + e.actor + ":" + e.action + ":" +
                         e.resident + ":" + e.client_id + ":" + e.detail};
  }
  [[nodiscard]] std::string leaf_hash(const Prepared& p, std::int64_t seq) const override {
    return mix(p.before_seq + std::to_string(seq) + p.after_seq);
  }
  [[nodiscard]] std::string node_hash(std::string_view left, std::string_view right) const override {
    return mix("node:" + std::string(left) + std::string(right));
  }

 private:
  static std::string mix(const std::string& text) {
    std::string out(32, '\0');
    std::uint64_t h = 1469598103934665603ULL;  // FNV-1a, stretched over 32 bytes
    for (std::size_t round = 0; round < 4; ++round) {
      for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
      h ^= round;
      for (std::size_t i = 0; i < 8; ++i) out[round * 8 + i] = static_cast<char>(h >> (8 * i));
    }
    return out;
  }
};

/// An entry from the fields older tests name positionally.
inline Event event(std::int64_t seq, std::int64_t time, std::string actor, std::string action,
                   std::string resident, std::string client_id, std::string detail,
                   std::string request_id) {
  Event e;
  e.seq = seq;
  e.time = time;
  e.actor = std::move(actor);
  e.action = std::move(action);
  e.resident = std::move(resident);
  e.client_id = std::move(client_id);
  e.detail = std::move(detail);
  e.request_id = std::move(request_id);
  return e;
}

inline std::shared_ptr<const LogHasher> hasher() { return std::make_shared<TestLogHasher>(); }

}  // namespace storage::testing
