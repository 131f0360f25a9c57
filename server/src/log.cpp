#include "log.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

namespace server {
namespace {

std::string timestamp_now() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto secs = time_point_cast<seconds>(now);
  const auto ms = duration_cast<milliseconds>(now - secs).count();
  const std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 128> buf{};  // room for any int, so -Wformat-truncation stays quiet
  std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return std::string(buf.data());
}

char fold(char c) {
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  if (c == '-') return '_';
  return c;
}

std::string folded(std::string_view s) {
  std::string out(s.size(), '\0');
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = fold(s[i]);
  return out;
}

constexpr std::string_view kRedacted = "[REDACTED]";

void put_field(nlohmann::ordered_json& line, const LogField& field) {
  const std::string key(field.key);
  std::visit(
      [&](const auto& v) {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<V, std::string_view>) {
          line[key] = is_sensitive_key(field.key) ? kRedacted : v;
        } else {
          line[key] = v;
        }
      },
      field.value);
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  if (text == "debug") return LogLevel::debug;
  if (text == "info") return LogLevel::info;
  if (text == "warn") return LogLevel::warn;
  if (text == "error") return LogLevel::error;
  return std::nullopt;
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}

bool is_sensitive_key(std::string_view key) {
  const std::string k = folded(key);
  // Exact names: HTTP credentials headers and the OAuth parameters that are bearer secrets.
  static constexpr std::array<std::string_view, 13> kExact = {
      "authorization", "proxy_authorization", "cookie", "set_cookie", "dpop", "code",
      "code_verifier", "assertion", "client_assertion", "query", "body", "password", "state"};
  for (auto name : kExact) {
    if (k == name) return true;
  }
  // Anything that looks like a token, secret or credential by name.
  static constexpr std::array<std::string_view, 6> kParts = {"token",  "secret", "password",
                                                             "passwd", "cookie", "credential"};
  for (auto part : kParts) {
    if (k.find(part) != std::string::npos) return true;
  }
  return false;
}

std::string_view redact(std::string_view /*anything*/) { return kRedacted; }

std::string_view redact_target(std::string_view target) {
  const auto end = target.find_first_of("?#");
  return end == std::string_view::npos ? target : target.substr(0, end);
}

Logger::Logger(LogLevel level) : Logger(level, std::cerr) {}

Logger::Logger(LogLevel level, std::ostream& out) : level_(level), out_(out) {}

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields,
                 std::string_view request_id) {
  if (!enabled(level)) return;
  nlohmann::ordered_json line;
  line["ts"] = timestamp_now();
  line["level"] = to_string(level);
  line["msg"] = msg;
  if (!request_id.empty()) line["request_id"] = request_id;
  for (const auto& field : fields) {
    // The fixed keys above cannot be overwritten by a field of the same name.
    if (field.key == "ts" || field.key == "level" || field.key == "msg" ||
        field.key == "request_id") {
      continue;
    }
    put_field(line, field);
  }
  write(line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

void Logger::access(const AccessRecord& r) {
  if (!enabled(LogLevel::info)) return;
  log(LogLevel::info, "request",
      {{"method", r.method},
       {"route", r.route},
       {"status", r.status},
       {"duration_ms", r.duration_ms},
       {"remote", r.remote},
       {"bytes", r.response_bytes}},
      r.request_id);
}

void Logger::write(const std::string& line) {
  std::lock_guard lock(mutex_);
  out_ << line << '\n';
  out_.flush();
}

}  // namespace server
