#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace server {

/// Severity, lowest first.
enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

/// "debug" | "info" | "warn" | "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view text);
std::string_view to_string(LogLevel level);

/// One extra field of a log line: a key and a string, integer, floating or boolean value.
///
/// String values whose key names a secret (see is_sensitive_key()) are written as
/// "[REDACTED]" whatever the caller passes, so `logger.info("x", {{"access_token", tok}})`
/// cannot leak a token.
struct LogField {
  using Value = std::variant<std::string_view, std::int64_t, double, bool>;

  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  LogField(std::string_view k, T v) : key(k), value(static_cast<std::int64_t>(v)) {}

  std::string_view key;
  Value value;
};

/// What the transport knows about one finished request. Deliberately has no field for the
/// request target, query string, headers or body: those carry codes, tokens, client secrets
/// and cookies (RFC 6749 §10.3, RFC 9700 §4.x), so the access log cannot print them.
struct AccessRecord {
  std::string_view method;      ///< e.g. "GET"
  std::string_view route;       ///< bounded route name from the application, or "other"
  unsigned status = 0;
  double duration_ms = 0;
  std::string_view remote;      ///< peer IP address
  std::string_view request_id;
  std::uint64_t response_bytes = 0;
};

/// True for keys whose values are secrets or may contain them (authorization, cookie, dpop,
/// password, *token*, *secret*, code, code_verifier, assertion, query, body, ...).
/// Case-insensitive; '-' and '_' are treated alike.
bool is_sensitive_key(std::string_view key);

/// Replaces any value with a fixed marker. Use it when a value might be a secret and the key
/// is not obviously one: `logger.warn("bad header", {{"value", redact(v)}})`.
std::string_view redact(std::string_view anything);

/// The path of a request-target without its query and fragment: the query of an OAuth
/// request carries codes and state, so only the path may be logged.
std::string_view redact_target(std::string_view target);

/// Structured logs: one JSON object per line, by default to stderr.
///
///   {"ts":"2024-05-01T12:00:00.123Z","level":"info","msg":"listening","port":8080}
///
/// Fields: ts (RFC 3339, UTC, milliseconds), level, msg, request_id when given, then the extra
/// fields in the order passed. Thread-safe: each line is formatted first and written whole
/// under a mutex. Invalid UTF-8 in strings is replaced, never emitted raw.
class Logger {
 public:
  /// Writes to `out` (std::cerr by default); `out` must outlive the Logger.
  explicit Logger(LogLevel level = LogLevel::info);
  Logger(LogLevel level, std::ostream& out);

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void set_level(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  [[nodiscard]] LogLevel level() const { return level_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool enabled(LogLevel level) const { return level >= this->level(); }

  /// `request_id` empty = not written.
  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {},
           std::string_view request_id = {});

  void debug(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::debug, msg, fields);
  }
  void info(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::info, msg, fields);
  }
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::warn, msg, fields);
  }
  void error(std::string_view msg, std::initializer_list<LogField> fields = {}) {
    log(LogLevel::error, msg, fields);
  }

  /// The access line, at info level: msg "request" with method, route, status, duration_ms,
  /// remote, request_id, bytes.
  void access(const AccessRecord& record);

 private:
  void write(const std::string& line);

  std::atomic<LogLevel> level_;
  std::ostream& out_;
  std::mutex mutex_;
};

}  // namespace server
