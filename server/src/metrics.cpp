#include "metrics.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <vector>

namespace server {
namespace {

constexpr std::array<std::string_view, 8> kMethods = {"GET",    "HEAD",  "POST",    "PUT",
                                                      "DELETE", "PATCH", "OPTIONS", "OTHER"};
constexpr unsigned kMinStatus = 100;
constexpr unsigned kMaxStatus = 599;
constexpr std::size_t kStatuses = kMaxStatus - kMinStatus + 1;

std::size_t method_index(std::string_view method) noexcept {
  for (std::size_t i = 0; i + 1 < kMethods.size(); ++i) {
    if (kMethods[i] == method) return i;
  }
  return kMethods.size() - 1;
}

std::size_t status_index(unsigned status) noexcept {
  return std::clamp(status, kMinStatus, kMaxStatus) - kMinStatus;
}

bool valid_route_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == ':' || c == '/' || c == '{' || c == '}' || c == '-';
  });
}

bool valid_metric_name(std::string_view name, bool allow_colon) noexcept {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                       (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

// Exposition format 0.0.4: label values escape backslash, double quote and line feed.
void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// HELP text escapes backslash and line feed.
void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  std::array<char, 64> buf{};
  auto [ptr, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  if (ec != std::errc{}) {
    out += "NaN";
    return;
  }
  out.append(buf.data(), ptr);
}

void append_header(std::string& out, std::string_view name, std::string_view help,
                   std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_help(out, help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

// ---- Histogram -----------------------------------------------------------------------------

void Histogram::observe(std::chrono::nanoseconds elapsed) noexcept {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const auto ns = elapsed.count() < 0 ? 0 : static_cast<std::uint64_t>(elapsed.count());
  sum_ns_.fetch_add(ns, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  // Buckets are stored per interval and emitted cumulatively, as the format requires.
  // Relaxed loads make the snapshot approximate under concurrent writes, never wrong in shape:
  // the +Inf bucket is emitted as the sum of the buckets so that it never trails them.
  std::uint64_t cumulative = 0;
  const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += name;
    out += "_bucket{";
    out += prefix;
    out += "le=\"";
    if (i < kBounds.size()) {
      append_number(out, kBounds[i]);
    } else {
      out += "+Inf";
    }
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  const std::string braced = labels.empty() ? std::string() : "{" + std::string(labels) + "}";
  out += name;
  out += "_sum";
  out += braced;
  out += ' ';
  append_number(out, static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += '\n';
  out += name;
  out += "_count";
  out += braced;
  out += ' ';
  out += std::to_string(cumulative);
  out += '\n';
}

// ---- Metrics ---------------------------------------------------------------------------------

struct Metrics::Route {
  explicit Route(std::string_view n) : name(n) {}
  const std::string name;
  std::array<std::array<std::atomic<std::uint64_t>, kStatuses>, kMethods.size()> requests{};
  Histogram duration;
};

struct Metrics::Family {
  bool typed = false;  // false while only describe() has seen the name
  bool is_counter = true;
  std::string help;
  // Keyed by the rendered label set (`grant_type="code"`), empty for an unlabelled series.
  std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters;
  std::map<std::string, std::unique_ptr<Gauge>, std::less<>> gauges;
};

Metrics::Metrics() {
  routes_[0] = std::make_unique<Route>(kOtherRoute);
  route_count_.store(1, std::memory_order_release);
}

Metrics::~Metrics() = default;

Metrics::Route* Metrics::find_route(std::string_view name) const noexcept {
  const std::size_t n = route_count_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    if (routes_[i]->name == name) return routes_[i].get();
  }
  return nullptr;
}

Metrics::Route* Metrics::route_slot(std::string_view name) noexcept {
  if (!valid_route_name(name)) return routes_[0].get();
  if (Route* r = find_route(name)) return r;
  // First sighting of a name: the only path that locks, once per route per process.
  std::lock_guard lock(route_mutex_);
  if (Route* r = find_route(name)) return r;
  const std::size_t n = route_count_.load(std::memory_order_relaxed);
  if (n >= routes_.size()) return routes_[0].get();
  try {
    routes_[n] = std::make_unique<Route>(name);
  } catch (...) {
    return routes_[0].get();
  }
  route_count_.store(n + 1, std::memory_order_release);
  return routes_[n].get();
}

std::string_view Metrics::route_label(std::string_view route) noexcept {
  return route_slot(route)->name;
}

void Metrics::record_request(std::string_view route, std::string_view method, unsigned status,
                             std::chrono::nanoseconds elapsed) noexcept {
  Route* r = route_slot(route);
  r->requests[method_index(method)][status_index(status)].fetch_add(1, std::memory_order_relaxed);
  r->duration.observe(elapsed);
}

std::uint64_t Metrics::request_count(std::string_view route, std::string_view method,
                                     unsigned status) const noexcept {
  const Route* r = find_route(valid_route_name(route) ? route : kOtherRoute);
  if (r == nullptr) return 0;
  return r->requests[method_index(method)][status_index(status)].load(std::memory_order_relaxed);
}

Metrics::Family& Metrics::family(std::string_view name, bool is_counter) {
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<Family>();
    f->help = std::string(name);
    it = families_.emplace(std::string(name), std::move(f)).first;
  }
  if (!it->second->typed) {
    it->second->typed = true;
    it->second->is_counter = is_counter;
  } else if (it->second->is_counter != is_counter) {
    throw std::invalid_argument("metric " + std::string(name) +
                                " is already registered with another type");
  }
  return *it->second;
}

namespace {

std::string label_key(std::string_view name, std::string_view label_name,
                      std::string_view label_value) {
  if (!valid_metric_name(name, true)) {
    throw std::invalid_argument("invalid metric name: " + std::string(name));
  }
  if (label_name.empty()) {
    if (!label_value.empty()) throw std::invalid_argument("label value without a label name");
    return {};
  }
  if (!valid_metric_name(label_name, false) || label_name.starts_with("__")) {
    throw std::invalid_argument("invalid label name: " + std::string(label_name));
  }
  std::string key(label_name);
  key += "=\"";
  append_label_value(key, label_value);
  key += '"';
  return key;
}

}  // namespace

Counter& Metrics::counter(std::string_view name, std::string_view label_name,
                          std::string_view label_value) {
  std::string key = label_key(name, label_name, label_value);
  std::lock_guard lock(app_mutex_);
  Family& f = family(name, true);
  auto it = f.counters.find(key);
  if (it != f.counters.end()) return *it->second;
  if (series_ >= kMaxSeries) return overflow_counter_;
  ++series_;
  return *f.counters.emplace(std::move(key), std::make_unique<Counter>()).first->second;
}

Gauge& Metrics::gauge(std::string_view name, std::string_view label_name,
                      std::string_view label_value) {
  std::string key = label_key(name, label_name, label_value);
  std::lock_guard lock(app_mutex_);
  Family& f = family(name, false);
  auto it = f.gauges.find(key);
  if (it != f.gauges.end()) return *it->second;
  if (series_ >= kMaxSeries) return overflow_gauge_;
  ++series_;
  return *f.gauges.emplace(std::move(key), std::make_unique<Gauge>()).first->second;
}

void Metrics::describe(std::string_view name, std::string_view help) {
  if (!valid_metric_name(name, true)) {
    throw std::invalid_argument("invalid metric name: " + std::string(name));
  }
  std::lock_guard lock(app_mutex_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    auto f = std::make_unique<Family>();
    f->help = std::string(help);
    families_.emplace(std::string(name), std::move(f));
  } else {
    it->second->help = std::string(help);
  }
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(4096);

  const std::size_t routes = route_count_.load(std::memory_order_acquire);

  append_header(out, "http_requests_total", "HTTP requests by route, method and status.",
                "counter");
  for (std::size_t r = 0; r < routes; ++r) {
    const Route& route = *routes_[r];
    for (std::size_t m = 0; m < kMethods.size(); ++m) {
      for (std::size_t s = 0; s < kStatuses; ++s) {
        const auto v = route.requests[m][s].load(std::memory_order_relaxed);
        if (v == 0) continue;
        out += "http_requests_total{route=\"";
        append_label_value(out, route.name);
        out += "\",method=\"";
        out += kMethods[m];
        out += "\",status=\"";
        out += std::to_string(s + kMinStatus);
        out += "\"} ";
        out += std::to_string(v);
        out += '\n';
      }
    }
  }

  append_header(out, "http_request_duration_seconds",
                "Time from the first byte of a request to the last byte of its response.",
                "histogram");
  for (std::size_t r = 0; r < routes; ++r) {
    const Route& route = *routes_[r];
    if (route.duration.count() == 0) continue;
    std::string labels = "route=\"";
    append_label_value(labels, route.name);
    labels += '"';
    route.duration.render(out, "http_request_duration_seconds", labels);
  }

  append_header(out, "http_connections_open", "Open client connections.", "gauge");
  out += "http_connections_open ";
  out += std::to_string(connections_open_.value());
  out += '\n';
  append_header(out, "http_connections_accepted_total", "Client connections accepted.",
                "counter");
  out += "http_connections_accepted_total ";
  out += std::to_string(connections_accepted_.value());
  out += '\n';

  std::lock_guard lock(app_mutex_);
  for (const auto& family : families_) {
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    const std::string& name = family.first;
    const auto& f = family.second;
    if (f->counters.empty() && f->gauges.empty()) continue;  // described, never used
    append_header(out, name, f->help, f->is_counter ? "counter" : "gauge");
    auto line = [&](const std::string& labels, const std::string& value) {
      out += name;
      if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
      }
      out += ' ';
      out += value;
      out += '\n';
    };
    for (const auto& [labels, c] : f->counters) line(labels, std::to_string(c->value()));
    for (const auto& [labels, g] : f->gauges) line(labels, std::to_string(g->value()));
  }
  return out;
}

}  // namespace server
