// The auditor's API over the audit log: entries with filters, signed tree heads, inclusion
// and consistency proofs (RFC 9162 §4.10-§4.12 in spirit, as JSON).
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "authz/oauth.hpp"
#include "internal.hpp"

namespace authz {

namespace {

// A non-negative integer query parameter; absent = fallback; malformed = nullopt.
std::optional<std::int64_t> number(const Params& q, std::string_view name, std::int64_t fallback) {
  auto v = q.get(name);
  if (!v || v->empty()) return fallback;
  std::int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size() || out < 0) return std::nullopt;
  return out;
}

}  // namespace

Expected<storage::AccessTokenRecord, EndpointError> AuthorizationServer::auditor(
    const RequestFacts& facts) {
  auto token = bearer(facts);
  if (!token) return token.error();
  const std::string scheme = token->cnf_jkt.empty() ? "Bearer" : "DPoP";
  // RFC 9068 §4: a resource server accepts only tokens meant for it.
  if (!contains_word(token->audience, settings_.issuer))
    return fail("invalid_token", "the token's audience is not this server", scheme);
  if (!contains_word(token->scope, "audit.read"))
    return fail("insufficient_scope", "the audit.read scope is required", scheme);
  return token;
}

Answer AuthorizationServer::audit_entries(const Params& q, const RequestFacts& facts,
                                          bool json_lines) {
  auto who = auditor(facts);
  if (!who) return who.error();
  if (auto dup = q.first_duplicate())
    return fail("invalid_request", "parameter " + *dup + " appears more than once");
  storage::EventQuery query;
  auto after = number(q, "after", 0);
  auto from = number(q, "from", 0);
  auto until = number(q, "until", 0);
  auto limit = number(q, "limit", 100);
  if (!after || !from || !until || !limit || *limit < 1 || *limit > 1000)
    return fail("invalid_request", "after, from, until must be integers; limit 1..1000");
  query.after_seq = *after;
  query.from = *from;
  query.until = *until;
  query.limit = static_cast<int>(*limit);
  // Auditors name the resident by their subject; the log knows only the pseudonym. A subject
  // with none (unknown, or erased) matches nothing, and asking creates nothing.
  if (auto sub = q.get("resident"); sub && !sub->empty()) {
    auto pseudonym = audit_.find_pseudonym(*sub);
    if (!pseudonym) {
      return JsonAnswer{json_lines ? std::string() : std::string(R"({"entries":[]})"), 200};
    }
    query.resident = *pseudonym;
  }
  query.client_id = q.value("client_id");
  query.action = q.value("action");
  query.purpose = q.value("purpose");
  query.dataset = q.value("dataset");
  auto entries = store_.query_events(query);
  event("client", "audit.queried", {}, who->client_id,
        nlohmann::json{{"returned", entries.size()}}.dump(), facts.request_id);
  if (json_lines) {
    std::string body;
    for (const auto& e : entries) {
      body += export_line(e);
      body += '\n';
    }
    return JsonAnswer{std::move(body), 200};
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) list.push_back(nlohmann::json::parse(export_line(e)));
  nlohmann::json out = {{"entries", std::move(list)}};
  if (static_cast<std::int64_t>(entries.size()) == *limit) out["next_after"] = entries.back().seq;
  return JsonAnswer{out.dump(), 200};
}

Answer AuthorizationServer::audit_tree_head(const RequestFacts& facts) {
  auto who = auditor(facts);
  if (!who) return who.error();
  auto head = audit_.tree_head();
  auto out = nlohmann::json::parse(head.json());
  out["log_key"] = nlohmann::json::parse(audit_.public_jwk());
  return JsonAnswer{out.dump(), 200};
}

Answer AuthorizationServer::audit_inclusion(const Params& q, const RequestFacts& facts) {
  auto who = auditor(facts);
  if (!who) return who.error();
  auto seq = number(q, "seq", 0);
  auto size = number(q, "tree_size", 0);
  if (!seq || !size || *seq == 0) return fail("invalid_request", "seq (and tree_size) must be integers");
  // The size is fixed once, so the proof and the size stated with it agree.
  const auto tree_size = *size == 0 ? store_.audit_size() : *size;
  auto proof = audit_.inclusion_proof(*seq, tree_size);
  if (!proof) return EndpointError{proof.error(), {}};
  nlohmann::json out = {{"seq", *seq},
                        {"leaf_index", *seq - 1},
                        {"tree_size", tree_size},
                        {"audit_path", *proof}};
  return JsonAnswer{out.dump(), 200};
}

Answer AuthorizationServer::audit_consistency(const Params& q, const RequestFacts& facts) {
  auto who = auditor(facts);
  if (!who) return who.error();
  auto first = number(q, "first", 0);
  auto second = number(q, "second", 0);
  if (!first || !second || *first == 0) return fail("invalid_request", "first and second must be integers");
  const auto second_size = *second == 0 ? store_.audit_size() : *second;
  auto proof = audit_.consistency_proof(*first, second_size);
  if (!proof) return EndpointError{proof.error(), {}};
  nlohmann::json out = {{"first", *first}, {"second", second_size}, {"consistency", *proof}};
  return JsonAnswer{out.dump(), 200};
}

std::vector<storage::Event> AuthorizationServer::activity_of(std::string_view resident_id, int limit) {
  auto pseudonym = audit_.find_pseudonym(resident_id);
  if (!pseudonym) return {};
  storage::EventQuery q;
  q.resident = *pseudonym;
  q.limit = limit;
  q.newest_first = true;
  return store_.query_events(q);
}

}  // namespace authz
