#include "calendar_model.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>

#include "not_read.hpp"
#include "util.hpp"

namespace portability::detail {

json empty_event() {
  // Built once: copying a finished object is much cheaper than building it from an
  // initializer list each time (one per item converted).
  static const json kEmpty = json{{"uid", ""},
                                  {"recurrence_id", nullptr},
                                  {"title", ""},
                                  {"description", ""},
                                  {"location", nullptr},
                                  {"url", nullptr},
                                  {"start", ""},
                                  {"time_zone", nullptr},
                                  {"all_day", false},
                                  {"duration", "PT0S"},
                                  {"end", nullptr},
                                  {"status", nullptr},
                                  {"sequence", 0},
                                  {"categories", json::array()},
                                  {"free_busy", nullptr},
                                  {"recurrence_rules", json::array()},
                                  {"recurrence_dates", json::array()},
                                  {"excluded_dates", json::array()},
                                  {"participants", json::array()},
                                  {"alerts", json::array()},
                                  {"created", nullptr},
                                  {"updated", nullptr},
                                  {"timestamp", nullptr}};
  return kEmpty;
}

json empty_participant() {
  static const json kEmpty = json{{"address", ""},
                                  {"name", nullptr},
                                  {"kind", nullptr},
                                  {"roles", json::array()},
                                  {"status", nullptr},
                                  {"expect_reply", false},
                                  {"delegated_to", json::array()},
                                  {"delegated_from", json::array()},
                                  {"sent_by", nullptr},
                                  {"member_of", json::array()}};
  return kEmpty;
}

namespace {

// A participant's sets, which a second entry for its address adds to, and the fields that a
// second entry fills in only where the first left them unsaid (participant_conflicts names a
// second entry that says them differently).
constexpr const char* kParticipantSets[] = {"roles", "delegated_to", "delegated_from",
                                            "member_of"};
constexpr const char* kParticipantSaidOnce[] = {"name", "kind", "status", "sent_by"};

// An address as the model holds it: a non-empty string in canonical_address's form.
bool is_model_address(const json& a) {
  if (!a.is_string()) return false;
  const auto& s = a.get_ref<const std::string&>();
  return !s.empty() && canonical_address(s) == s;
}

}  // namespace

std::size_t scheme_length(std::string_view text) {
  if (text.empty() || std::isalpha(static_cast<unsigned char>(text[0])) == 0) return 0;
  for (std::size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ':') return i;
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '+' && c != '-' && c != '.')
      return 0;
  }
  return 0;
}

std::string canonical_address(std::string address) {
  const std::size_t n = scheme_length(address);
  std::transform(address.begin(), address.begin() + static_cast<std::ptrdiff_t>(n),
                 address.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return address;
}

json empty_alert() {
  static const json kEmpty = json{{"action", "display"},  {"offset", nullptr},
                                  {"relative_to", "start"}, {"at", nullptr},
                                  {"acknowledged", nullptr}, {"description", ""},
                                  {"summary", ""},          {"recipients", json::array()}};
  return kEmpty;
}

void sort_alerts(json& alerts) {
  // nlohmann::json orders objects as maps of their members: a total order on equal shapes.
  std::sort(alerts.begin(), alerts.end());
}

bool valid_duration(const std::string& d) {
  // RFC 5545 §3.3.6: ["+"/"-"] "P" (dur-date / dur-time / dur-week).
  std::size_t i = 0;
  if (i < d.size() && (d[i] == '+' || d[i] == '-')) ++i;
  if (i >= d.size() || d[i] != 'P') return false;
  ++i;
  auto number = [&] {
    const std::size_t s = i;
    while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) ++i;
    return i > s;
  };
  if (i >= d.size()) return false;
  if (d[i] != 'T') {
    if (!number() || i >= d.size()) return false;
    if (d[i] == 'W') return i + 1 == d.size();
    if (d[i] != 'D') return false;
    ++i;
    if (i == d.size()) return true;
  }
  if (d[i] != 'T') return false;
  ++i;
  bool any = false;
  for (char unit : {'H', 'M', 'S'}) {
    const std::size_t save = i;
    if (number() && i < d.size() && d[i] == unit) {
      ++i;
      any = true;
    } else {
      i = save;
    }
  }
  return any && i == d.size();
}

namespace {

// RFC 8984 §1.4.6's parts, in their order: weeks, days, hours, minutes, seconds (with the
// fraction's digits); nullopt when `d` is no Duration.
struct DurationParts {
  std::optional<std::string> weeks, days, hours, minutes, seconds;
  std::string fraction;
};

std::optional<DurationParts> parse_jscalendar_duration(const std::string& d) {
  DurationParts out;
  std::size_t i = 0;
  if (d.empty() || d[i] != 'P') return std::nullopt;
  ++i;
  auto number = [&]() -> std::optional<std::string> {
    const std::size_t s = i;
    while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) ++i;
    if (i == s) return std::nullopt;
    return d.substr(s, i - s);
  };
  // Each part is a number and its letter; a part that does not follow is put back.
  auto part = [&](char unit, std::optional<std::string>& into) {
    const std::size_t save = i;
    auto n = number();
    if (n && i < d.size() && d[i] == unit) {
      ++i;
      into = std::move(n);
      return true;
    }
    i = save;
    return false;
  };
  const bool weeks = part('W', out.weeks);
  const bool days = part('D', out.days);
  if (i < d.size() && d[i] == 'T') {
    ++i;
    const bool h = part('H', out.hours);
    const bool m = part('M', out.minutes);
    bool s = false;
    const std::size_t save = i;
    if (auto n = number()) {
      if (i < d.size() && d[i] == '.') {
        ++i;
        const std::size_t f = i;
        while (i < d.size() && std::isdigit(static_cast<unsigned char>(d[i]))) ++i;
        out.fraction = d.substr(f, i - f);
        // A fraction has digits and no trailing zero (RFC 8984 §1.4.6).
        if (out.fraction.empty() || out.fraction.back() == '0') return std::nullopt;
      }
      if (i < d.size() && d[i] == 'S') {
        ++i;
        out.seconds = std::move(n);
        s = true;
      } else {
        i = save;
        out.fraction.clear();
      }
    }
    // dur-hour = H [M [S]], dur-minute = M [S]: no seconds after hours without minutes.
    if (!(h || m || s) || (h && !m && s)) return std::nullopt;
  } else if (!weeks && !days) {
    return std::nullopt;
  }
  if (i != d.size()) return std::nullopt;
  return out;
}

}  // namespace

bool valid_jscalendar_duration(const std::string& d) {
  return parse_jscalendar_duration(d).has_value();
}

std::optional<std::string> rfc5545_duration(const std::string& d, bool& fraction_dropped) {
  const auto p = parse_jscalendar_duration(d);
  if (!p) return std::nullopt;
  std::string out = "P";
  if (p->weeks && !p->days && !p->hours && !p->minutes && !p->seconds) return out + *p->weeks + "W";
  if (p->weeks || p->days) {
    // Nine digits of weeks and of days are far beyond any calendar, and their sum fits.
    if ((p->weeks && p->weeks->size() > 9) || (p->days && p->days->size() > 9))
      return std::nullopt;
    const auto whole = [](const std::optional<std::string>& n) {
      return n ? std::stoull(*n) : 0ULL;
    };
    out += std::to_string(whole(p->weeks) * 7 + whole(p->days)) + "D";
  }
  if (p->hours || p->minutes || p->seconds) {
    out += "T";
    if (p->hours) out += *p->hours + "H";
    if (p->minutes) out += *p->minutes + "M";
    if (p->seconds) out += *p->seconds + "S";
  }
  fraction_dropped = !p->fraction.empty();
  return out;
}

std::vector<std::string> participant_conflicts(const json& participants, const json& p) {
  std::vector<std::string> out;
  for (const json& q : participants) {
    if (q["address"] != p["address"]) continue;
    for (const char* key : kParticipantSaidOnce) {
      if (!q[key].is_null() && !p[key].is_null() && q[key] != p[key]) out.emplace_back(key);
    }
  }
  return out;
}

void add_participant(json& participants, json p) {
  for (const char* key : kParticipantSets) sort_unique(p[key]);
  // One participant per address: an organizer who is also an attendee (as Google writes
  // them) is one person with both roles; what the first one said of them stays.
  for (json& q : participants) {
    if (q["address"] != p["address"]) continue;
    for (const char* key : kParticipantSets) {
      for (const json& r : p[key]) q[key].push_back(r);
      sort_unique(q[key]);
    }
    for (const char* key : kParticipantSaidOnce) {
      if (q[key].is_null()) q[key] = p[key];
    }
    if (p["expect_reply"] == true) q["expect_reply"] = true;
    return;
  }
  participants.push_back(std::move(p));
  std::sort(participants.begin(), participants.end(), [](const json& a, const json& b) {
    return a["address"].get_ref<const std::string&>() < b["address"].get_ref<const std::string&>();
  });
}

bool is_local_date_time(const std::string& s) {
  if (s.size() < 19) return false;
  const auto dt = parse_rfc3339(s + "Z");
  return dt.has_value() && dt->second < 60;
}

bool is_utc_date_time(const std::string& s) {
  const auto dt = parse_rfc3339(s);
  return dt.has_value() && dt->utc && dt->second < 60 && s.size() >= 20 && s[10] == 'T';
}

std::string check_event(const json& item) {
  if (!item.is_object()) throw FormatError("", "event model must be an object");
  const auto uid = model_string(item, "uid");
  if (!uid || uid->empty()) throw FormatError("", "event model needs a non-empty \"uid\"");
  const auto start = model_string(item, "start");
  if (!start || !is_local_date_time(*start))
    throw FormatError(*uid, "model start must be a LocalDateTime");
  for (const char* key : {"title", "description", "duration"}) {
    if (!model_string(item, key)) throw FormatError(*uid, std::string(key) + " must be a string");
  }
  for (const char* key :
       {"categories", "recurrence_rules", "recurrence_dates", "excluded_dates"}) {
    if (!item.contains(key) || !item[key].is_array())
      throw FormatError(*uid, std::string(key) + " must be an array");
  }
  if (!item.contains("all_day") || !item["all_day"].is_boolean())
    throw FormatError(*uid, "all_day must be a boolean");
  if (!item.contains("sequence") || !item["sequence"].is_number_integer())
    throw FormatError(*uid, "sequence must be an integer");
  if (!item.contains("participants") || !item["participants"].is_array())
    throw FormatError(*uid, "participants must be an array");
  for (const json& p : item["participants"]) {
    const json* address = member(p, "address");
    if (address == nullptr || !is_model_address(*address))
      throw FormatError(*uid, "a participant needs a non-empty address, its scheme in lower case");
    if (!p.contains("roles") || !p["roles"].is_array())
      throw FormatError(*uid, "a participant's roles must be an array");
    for (const char* key : {"delegated_to", "delegated_from", "member_of"}) {
      const json* list = member(p, key);
      if (list == nullptr || !list->is_array() || !std::ranges::all_of(*list, is_model_address))
        throw FormatError(*uid, std::string("a participant's ") + key +
                                    " must be an array of addresses");
    }
    const json* sent_by = member(p, "sent_by");
    if (sent_by == nullptr || !(sent_by->is_null() || is_model_address(*sent_by)))
      throw FormatError(*uid, "a participant's sent_by must be an address or null");
  }
  if (!item.contains("alerts") || !item["alerts"].is_array())
    throw FormatError(*uid, "alerts must be an array");
  for (const json& a : item["alerts"]) {
    const auto action = model_string(a, "action");
    if (!action || !among(kAlertActions, *action))
      throw FormatError(*uid, "an alert's action must be display, email or audio");
    const auto offset = model_string(a, "offset");
    const auto at = model_string(a, "at");
    if (offset.has_value() == at.has_value())
      throw FormatError(*uid, "an alert needs either an offset or an at time");
    if (offset && !valid_duration(*offset)) throw FormatError(*uid, "bad alert offset " + *offset);
    for (const char* key : {"at", "acknowledged"}) {
      if (auto t = model_string(a, key); t && !is_utc_date_time(*t))
        throw FormatError(*uid, std::string("an alert's ") + key + " must be a UTC time");
    }
    const auto related = model_string(a, "relative_to");
    if (!related || (*related != "start" && *related != "end"))
      throw FormatError(*uid, "an alert's relative_to must be start or end");
    for (const char* key : {"description", "summary"}) {
      if (!model_string(a, key)) throw FormatError(*uid, std::string("an alert's ") + key +
                                                             " must be a string");
    }
    if (!a.contains("recipients") || !a["recipients"].is_array() ||
        !std::ranges::all_of(a["recipients"], is_model_address))
      throw FormatError(*uid, "an alert's recipients must be an array of addresses");
  }
  return *uid;
}

void sort_unique(json& array) {
  std::vector<std::string> v;
  for (const json& s : array) v.push_back(s.get<std::string>());
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  array = v;
}

}  // namespace portability::detail
