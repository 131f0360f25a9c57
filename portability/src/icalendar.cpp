// iCalendar (RFC 5545): VEVENTs inside a VCALENDAR.

#include <algorithm>
#include <cctype>
#include <map>
#include <span>
#include <string_view>

#include "calendar_model.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

struct Param {
  std::string name;
  std::vector<std::string> values;  // unquoted
};

struct Line {
  std::string name;  // upper case (RFC 5545 §2: names are case-insensitive)
  std::vector<Param> params;
  std::string value;  // as written (still escaped)
  std::size_t number = 0;
};

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-';
}

// RFC 5545 §3.1: a content line is name *(";" param) ":" value; params may be quoted.
Line parse_line(const std::string& raw, std::size_t number, const std::string& what) {
  const std::string where = what + " (line " + std::to_string(number) + ")";
  Line line;
  line.number = number;
  std::size_t i = 0;
  while (i < raw.size() && name_char(raw[i])) ++i;
  if (i == 0) throw FormatError(what, "line " + std::to_string(number) + ": no property name");
  line.name = upper(raw.substr(0, i));
  while (i < raw.size() && raw[i] == ';') {
    ++i;
    const std::size_t start = i;
    while (i < raw.size() && name_char(raw[i])) ++i;
    if (i == start || i >= raw.size() || raw[i] != '=')
      throw FormatError(what, "line " + std::to_string(number) + ": malformed parameter");
    Param p{upper(raw.substr(start, i - start)), {}};
    ++i;
    for (;;) {
      std::string v;
      if (i < raw.size() && raw[i] == '"') {
        const std::size_t close = raw.find('"', i + 1);
        if (close == std::string::npos)
          throw FormatError(what, "line " + std::to_string(number) + ": unterminated quote");
        v = raw.substr(i + 1, close - i - 1);
        i = close + 1;
      } else {
        const std::size_t start_v = i;
        while (i < raw.size() && raw[i] != ',' && raw[i] != ';' && raw[i] != ':' &&
               raw[i] != '"')
          ++i;
        v = raw.substr(start_v, i - start_v);
      }
      p.values.push_back(v);
      if (i < raw.size() && raw[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
    line.params.push_back(std::move(p));
  }
  if (i >= raw.size() || raw[i] != ':')
    throw FormatError(what, "line " + std::to_string(number) + ": missing ':'");
  line.value = raw.substr(i + 1);
  for (char c : line.value) {
    // §3.1: control characters other than HTAB are not allowed in values.
    if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
      throw FormatError(what, "line " + std::to_string(number) + ": control character in value");
  }
  return line;
}

// RFC 5545 §3.1: unfold (CRLF followed by one space or tab), then parse each line. Bare LF
// line ends are accepted since many exporters write them; blank lines only at the very end.
// UTF-8 is checked once unfolded: §3.1 only says a fold SHOULD NOT split a character, and
// exporters that fold at 75 octets do split them.
std::vector<Line> parse_lines(std::string_view text, const std::string& what) {
  text = strip_bom(text);
  std::vector<std::pair<std::string, std::size_t>> logical;
  std::size_t number = 0;
  std::size_t pos = 0;
  bool blank_seen = false;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string_view phys = text.substr(pos, end == std::string_view::npos ? text.npos : end - pos);
    pos = end == std::string_view::npos ? text.size() : end + 1;
    if (!phys.empty() && phys.back() == '\r') phys.remove_suffix(1);
    ++number;
    if (!phys.empty() && (phys[0] == ' ' || phys[0] == '\t')) {
      if (logical.empty() || blank_seen)
        throw FormatError(what, "line " + std::to_string(number) + ": continuation without a line");
      logical.back().first.append(phys.substr(1));
      continue;
    }
    if (phys.empty()) {
      blank_seen = true;
      continue;
    }
    if (blank_seen) throw FormatError(what, "line " + std::to_string(number - 1) + ": empty line");
    logical.emplace_back(std::string(phys), number);
  }
  std::vector<Line> lines;
  lines.reserve(logical.size());
  for (const auto& [raw, n] : logical) {
    if (!valid_utf8(raw))
      throw FormatError(what, "line " + std::to_string(n) + ": not valid UTF-8 (RFC 5545 §3.1.4)");
    lines.push_back(parse_line(raw, n, what));
  }
  return lines;
}

// The first parameter of `line` named `name` (upper case), or null.
const Param* find_param(const Line& line, std::string_view name) {
  const auto it = std::ranges::find(line.params, name, &Param::name);
  return it == line.params.end() ? nullptr : &*it;
}

std::optional<std::string> param(const Line& line, std::string_view name) {
  const Param* p = find_param(line, name);
  if (p == nullptr || p->values.size() != 1) return std::nullopt;
  return p->values[0];
}

// §3.3.11: TEXT escapes are \\ \; \, \N \n; anything else after '\' is malformed.
std::vector<std::string> unescape_list(const std::string& v, bool split, const std::string& what) {
  std::vector<std::string> out(1);
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\\') {
      if (i + 1 >= v.size()) throw FormatError(what, "dangling '\\' in text");
      const char n = v[++i];
      if (n == 'n' || n == 'N') {
        out.back().push_back('\n');
      } else if (n == '\\' || n == ';' || n == ',') {
        out.back().push_back(n);
      } else {
        throw FormatError(what, std::string("invalid text escape \\") + n + " (RFC 5545 §3.3.11)");
      }
    } else if (c == ',' && split) {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

std::string unescape(const std::string& v, const std::string& what) {
  return unescape_list(v, false, what).front();
}

std::string escape(const std::string& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c == '\\' || c == ';' || c == ',') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n' || c == '\r') {
      // A line break, whichever way it was written (CRLF, LF, or a lone CR), becomes \n.
      if (c == '\r' && i + 1 < v.size() && v[i + 1] == '\n') ++i;
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// A DATE or DATE-TIME value (§3.3.4, §3.3.5) and its zone.
struct When {
  std::string local;  // "YYYY-MM-DDTHH:MM:SS" (DATE: T00:00:00)
  bool date = false;
  bool utc = false;
  std::optional<std::string> tzid;
  std::string zone() const { return utc ? kUtcZone : tzid.value_or(""); }
};

When parse_value(const std::string& v, bool date, std::optional<std::string> tzid,
                 const std::string& what, const std::string& prop) {
  auto bad = [&] { return FormatError(what, "bad " + prop + " value \"" + v + "\""); };
  auto num = [&](std::size_t at, std::size_t n) {
    int out = 0;
    for (std::size_t k = at; k < at + n; ++k) {
      if (k >= v.size() || !std::isdigit(static_cast<unsigned char>(v[k]))) throw bad();
      out = out * 10 + (v[k] - '0');
    }
    return out;
  };
  When w;
  w.date = date;
  const int y = num(0, 4), mo = num(4, 2), d = num(6, 2);
  if (!valid_date(y, mo, d)) throw bad();
  int h = 0, mi = 0, s = 0;
  if (date) {
    if (v.size() != 8) throw bad();
    if (tzid) throw FormatError(what, prop + ": TZID on a DATE value");
  } else {
    if (v.size() < 15 || v[8] != 'T') throw bad();
    h = num(9, 2);
    mi = num(11, 2);
    s = num(13, 2);
    if (h > 23 || mi > 59 || s > 60) throw bad();
    if (v.size() == 16 && v[15] == 'Z') {
      w.utc = true;
      if (tzid) throw FormatError(what, prop + ": TZID with a UTC time (RFC 5545 §3.3.5)");
    } else if (v.size() != 15) {
      throw bad();
    }
  }
  w.tzid = std::move(tzid);
  w.local = pad(y, 4) + "-" + pad(mo, 2) + "-" + pad(d, 2) + "T" + pad(h, 2) + ":" + pad(mi, 2) +
            ":" + pad(s, 2);
  return w;
}

bool is_date_value(const Line& line, const std::string& v) {
  const auto type = param(line, "VALUE");
  return type ? upper(*type) == "DATE" : v.size() == 8;
}

When parse_when(const Line& line, const std::string& what) {
  if (auto type = param(line, "VALUE"); type && upper(*type) != "DATE" && upper(*type) != "DATE-TIME")
    throw FormatError(what, line.name + ": unsupported VALUE=" + *type);
  return parse_value(line.value, is_date_value(line, line.value), param(line, "TZID"), what,
                     line.name);
}

std::string compact(const std::string& local) {  // "2022-01-01T10:00:00" -> "20220101T100000"
  std::string out;
  for (char c : local.substr(0, 19)) {
    if (c != '-' && c != ':') out.push_back(c);
  }
  return out;
}

// EXDATE/RDATE/RECURRENCE-ID relative to DTSTART: local in the event's zone, or "...Z" when
// given in UTC for an event that is not in UTC (no time-zone database here to convert).
std::string relative(const When& w, const When& start, const std::string& what,
                     const std::string& prop) {
  if (w.date != start.date) throw FormatError(what, prop + ": value type differs from DTSTART");
  if (w.date) return w.local;
  if (w.utc) return start.utc ? w.local : w.local + "Z";
  if (w.tzid != start.tzid)
    throw FormatError(what, prop + ": time zone differs from DTSTART (not supported)");
  return w.local;
}

// Wall-clock difference as nominal days plus exact time (§3.3.6), so that DTSTART + DURATION
// gives back the same DTEND wall time.
std::string difference(const When& a, const When& b, const std::string& what) {
  auto secs = [](const std::string& l) {
    const auto dt = parse_rfc3339(l + "Z");
    return epoch_seconds(*dt);
  };
  const std::int64_t diff = secs(b.local) - secs(a.local);
  if (diff < 0) throw FormatError(what, "DTEND is before DTSTART");
  const std::int64_t days = diff / 86400, rest = diff % 86400;
  if (a.date) return "P" + std::to_string(days) + "D";
  if (diff == 0) return "PT0S";
  std::string out = "P";
  if (days > 0) out += std::to_string(days) + "D";
  if (rest > 0) {
    out += "T";
    if (rest / 3600) out += std::to_string(rest / 3600) + "H";
    if (rest % 3600 / 60) out += std::to_string(rest % 3600 / 60) + "M";
    if (rest % 60) out += std::to_string(rest % 60) + "S";
  }
  return out;
}

std::string utc_stamp(const Line& line, const std::string& what) {
  const When w = parse_when(line, what);
  // §3.8.7.1-3: CREATED, DTSTAMP and LAST-MODIFIED MUST be in UTC.
  if (!w.utc || w.date) throw FormatError(what, line.name + " must be a UTC date-time");
  return w.local + "Z";
}

// ---- RRULE (§3.3.10) <-> model rule (RFC 8984 §4.3.3 names in snake_case) ----

const std::map<std::string, std::string>& int_list_parts() {
  static const std::map<std::string, std::string> parts{
      {"BYMONTHDAY", "by_month_day"}, {"BYYEARDAY", "by_year_day"}, {"BYWEEKNO", "by_week_no"},
      {"BYHOUR", "by_hour"},          {"BYMINUTE", "by_minute"},    {"BYSECOND", "by_second"},
      {"BYSETPOS", "by_set_position"}};
  return parts;
}

bool weekday(const std::string& d) {
  static const char* kDays[] = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"};
  return std::any_of(std::begin(kDays), std::end(kDays), [&](const char* k) { return d == k; });
}

std::vector<std::string> split_on(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == sep) {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

json parse_rrule(const std::string& value, const When& start, const std::string& what) {
  json rule = json::object();
  auto bad = [&](const std::string& why) { return FormatError(what, "bad RRULE: " + why); };
  for (const std::string& part : split_on(value, ';')) {
    const std::size_t eq = part.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == part.size()) throw bad(part);
    const std::string key = upper(part.substr(0, eq));
    const std::string v = part.substr(eq + 1);
    auto once = [&](const std::string& field) {
      if (rule.contains(field)) throw bad("repeated " + key);
    };
    if (key == "FREQ") {
      static const char* kFreq[] = {"SECONDLY", "MINUTELY", "HOURLY", "DAILY",
                                    "WEEKLY",   "MONTHLY",  "YEARLY"};
      if (std::none_of(std::begin(kFreq), std::end(kFreq),
                       [&](const char* f) { return upper(v) == f; }))
        throw bad("FREQ=" + v);
      once("frequency");
      rule["frequency"] = lower(v);
    } else if (key == "INTERVAL" || key == "COUNT") {
      const auto n = parse_int(v);
      if (!n || *n < 1) throw bad(key + "=" + v);
      const std::string field = key == "COUNT" ? "count" : "interval";
      once(field);
      if (field == "count" || *n != 1) rule[field] = *n;
    } else if (key == "UNTIL") {
      once("until");
      const When u = parse_value(v, v.size() == 8, std::nullopt, what, "UNTIL");
      // RFC 8984 §4.3.3 keeps until as a LocalDateTime; a DATE stays a date, a UTC time keeps
      // its "Z" unless the event itself is in UTC.
      if (u.date) {
        rule["until"] = u.local.substr(0, 10);
      } else {
        rule["until"] = u.utc && !start.utc ? u.local + "Z" : u.local;
      }
    } else if (key == "WKST") {
      if (!weekday(upper(v))) throw bad("WKST=" + v);
      once("first_day_of_week");
      if (upper(v) != "MO") rule["first_day_of_week"] = lower(v);
    } else if (key == "BYDAY") {
      once("by_day");
      json days = json::array();
      for (const std::string& d : split_on(v, ',')) {
        if (d.size() < 2 || !weekday(upper(d.substr(d.size() - 2)))) throw bad("BYDAY=" + v);
        json nday{{"day", lower(d.substr(d.size() - 2))}};
        if (d.size() > 2) {
          const auto n = parse_int(d[0] == '+' ? d.substr(1, d.size() - 3) : d.substr(0, d.size() - 2));
          if (!n || *n == 0 || *n < -53 || *n > 53) throw bad("BYDAY=" + v);
          nday["nth_of_period"] = *n;
        }
        days.push_back(nday);
      }
      rule["by_day"] = days;
    } else if (key == "BYMONTH") {
      once("by_month");
      json months = json::array();
      for (const std::string& m : split_on(v, ',')) {
        // RFC 7529 §4.2 allows a leap-month suffix "L"; RFC 8984 keeps months as strings.
        const std::string digits = !m.empty() && m.back() == 'L' ? m.substr(0, m.size() - 1) : m;
        const auto n = parse_int(digits);
        if (!n || *n < 1 || *n > 13) throw bad("BYMONTH=" + v);
        months.push_back(std::to_string(*n) + (digits.size() != m.size() ? "L" : ""));
      }
      rule["by_month"] = months;
    } else if (auto it = int_list_parts().find(key); it != int_list_parts().end()) {
      once(it->second);
      json list = json::array();
      for (const std::string& x : split_on(v, ',')) {
        const auto n = parse_int(x[0] == '+' ? x.substr(1) : x);
        if (!n) throw bad(key + "=" + v);
        list.push_back(*n);
      }
      rule[it->second] = list;
    } else if (key == "RSCALE" || key == "SKIP") {  // RFC 7529
      const std::string field = key == "RSCALE" ? "rscale" : "skip";
      once(field);
      rule[field] = lower(v);
    } else {
      throw bad("unknown part " + key);
    }
  }
  if (!rule.contains("frequency")) throw bad("no FREQ");
  if (rule.contains("count") && rule.contains("until")) throw bad("both COUNT and UNTIL");
  return rule;
}

std::string write_rrule(const json& rule, const std::string& uid) {
  const auto freq = model_string(rule, "frequency");
  if (!freq) throw FormatError(uid, "recurrence rule without frequency");
  std::string out = "FREQ=" + upper(*freq);
  if (rule.contains("interval")) out += ";INTERVAL=" + rule["interval"].dump();
  if (rule.contains("count")) out += ";COUNT=" + rule["count"].dump();
  if (auto u = model_string(rule, "until")) out += ";UNTIL=" + (u->size() == 10 ? compact(*u + "T") .substr(0, 8) : compact(*u) + (u->back() == 'Z' ? "Z" : ""));
  if (rule.contains("by_day")) {
    std::string days;
    for (const json& d : rule["by_day"]) {
      if (!days.empty()) days += ",";
      if (d.contains("nth_of_period")) days += d["nth_of_period"].dump();
      days += upper(d["day"].get<std::string>());
    }
    out += ";BYDAY=" + days;
  }
  if (rule.contains("by_month")) {
    std::string months;
    for (const json& m : rule["by_month"]) months += (months.empty() ? "" : ",") + m.get<std::string>();
    out += ";BYMONTH=" + months;
  }
  for (const auto& [part, field] : int_list_parts()) {
    if (!rule.contains(field)) continue;
    std::string list;
    for (const json& n : rule[field]) list += (list.empty() ? "" : ",") + n.dump();
    out += ";" + part + "=" + list;
  }
  if (auto w = model_string(rule, "first_day_of_week")) out += ";WKST=" + upper(*w);
  if (auto r = model_string(rule, "rscale")) out += ";RSCALE=" + upper(*r);
  if (auto s = model_string(rule, "skip")) out += ";SKIP=" + upper(*s);
  return out;
}

// ---- output: §3.1 folding at 75 octets, never inside a UTF-8 sequence ----

void emit(std::string& out, const std::string& line) {
  std::size_t pos = 0;
  bool first = true;
  while (pos < line.size()) {
    std::size_t room = first ? 75 : 74;
    std::size_t end = std::min(line.size(), pos + room);
    while (end < line.size() && end > pos && (static_cast<unsigned char>(line[end]) & 0xC0) == 0x80)
      --end;
    if (!first) out += " ";
    out.append(line, pos, end - pos);
    out += "\r\n";
    pos = end;
    first = false;
  }
}

std::string quote_param(const std::string& v) {
  return v.find_first_of(":;,") == std::string::npos ? v : "\"" + v + "\"";
}

std::string serialize(const Line& l) {
  std::string s = l.name;
  for (const Param& p : l.params) {
    s += ";" + p.name + "=";
    for (std::size_t i = 0; i < p.values.size(); ++i) s += (i ? "," : "") + quote_param(p.values[i]);
  }
  return s + ":" + l.value;
}

// Whether `v` can be written as a URI value (URL, CAL-ADDRESS) as it is: not empty, and no
// control character, which a URI never holds (RFC 3986 §2) and which would end the content line
// and start another one of the writer's choosing (a model from another format says anything).
bool is_uri_text(std::string_view v) {
  return !v.empty() && std::ranges::none_of(v, [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7F;
  });
}

// ---- ORGANIZER and ATTENDEE (RFC 5545 §3.8.4.3, §3.8.4.1) <-> the model's participants ----

// The model roles an ATTENDEE's ROLE (§3.2.16, upper case) stands for; none for a value the
// model has no roles for (an x-name). REQ-PARTICIPANT is the default.
std::optional<std::vector<std::string>> roles_of(std::string_view role) {
  if (role == "REQ-PARTICIPANT") return std::vector<std::string>{"attendee"};
  if (role == "CHAIR") return std::vector<std::string>{"attendee", "chair"};
  if (role == "OPT-PARTICIPANT") return std::vector<std::string>{"attendee", "optional"};
  if (role == "NON-PARTICIPANT") return std::vector<std::string>{"informational"};
  return std::nullopt;
}

// CUTYPE (§3.2.3) <-> the model's kind (RFC 8984's, where a room is a location). UNKNOWN is
// the kind left unsaid.
constexpr std::pair<std::string_view, std::string_view> kCalendarUserTypes[] = {
    {"INDIVIDUAL", "individual"}, {"GROUP", "group"}, {"RESOURCE", "resource"},
    {"ROOM", "location"}, {"UNKNOWN", ""}};

// The parameters of an ATTENDEE that hold other participants' cal-addresses, each DQUOTEd
// (§3.2.4 DELEGATED-FROM, §3.2.5 DELEGATED-TO, §3.2.11 MEMBER), and the model's lists of them.
constexpr std::pair<std::string_view, const char*> kAddressListParams[] = {
    {"DELEGATED-TO", "delegated_to"}, {"DELEGATED-FROM", "delegated_from"},
    {"MEMBER", "member_of"}};

// Whether a parameter value is a cal-address as those parameters hold it: a URI (a scheme and
// something after it; an unquoted value cannot hold the ':', so it was DQUOTEd) that a DQUOTEd
// value can hold again (§3.1: no DQUOTE, no control character).
bool is_address_param(std::string_view v) {
  const std::size_t scheme = scheme_length(v);
  return scheme > 0 && scheme + 1 < v.size() && v.find('"') == std::string_view::npos &&
         is_uri_text(v);
}

// Whether a parameter of an ATTENDEE (or ORGANIZER) is one to_model reads with this value. A
// SENT-BY (§3.2.18), on either, holds one cal-address; the lists above, on an ATTENDEE, one or
// more. A value that is not a quoted cal-address is not read (not_read names it).
bool participant_param_read(std::string_view property, const Param& param) {
  if (param.name == "CN") return param.values.size() == 1;
  if (param.name == "SENT-BY")
    return param.values.size() == 1 && is_address_param(param.values[0]);
  if (property != "ATTENDEE") return false;
  if (std::ranges::find(kAddressListParams, param.name,
                        &std::pair<std::string_view, const char*>::first) !=
      std::end(kAddressListParams))
    return !param.values.empty() && std::ranges::all_of(param.values, is_address_param);
  if (param.values.size() != 1) return false;
  const std::string v = upper(param.values[0]);
  if (param.name == "ROLE") return roles_of(v).has_value();
  if (param.name == "PARTSTAT") return among(kParticipationStatuses, lower(v));
  if (param.name == "RSVP") return v == "TRUE" || v == "FALSE";
  if (param.name == "CUTYPE")
    return std::ranges::any_of(kCalendarUserTypes, [&](const auto& k) { return k.first == v; });
  return false;
}

json participant_of(const Line& l, const std::string& what) {
  if (l.value.empty()) throw FormatError(what, l.name + " has no address");
  json p = empty_participant();
  p["address"] = canonical_address(l.value);  // a CAL-ADDRESS is a URI: no TEXT unescaping
  if (auto cn = param(l, "CN")) p["name"] = *cn;
  if (const Param* s = find_param(l, "SENT-BY"); s && participant_param_read(l.name, *s))
    p["sent_by"] = canonical_address(s->values[0]);
  for (const auto& [name, field] : kAddressListParams) {
    const Param* list = find_param(l, name);
    if (list == nullptr || !participant_param_read(l.name, *list)) continue;
    for (const std::string& a : list->values) p[field].push_back(canonical_address(a));
  }
  if (l.name == "ORGANIZER") {
    p["roles"].push_back("owner");
    return p;
  }
  const auto role = param(l, "ROLE");
  const auto roles = roles_of(role ? upper(*role) : "REQ-PARTICIPANT");
  for (const auto& r : roles ? *roles : *roles_of("REQ-PARTICIPANT")) p["roles"].push_back(r);
  if (auto s = param(l, "PARTSTAT"); s && among(kParticipationStatuses, lower(*s)))
    p["status"] = lower(*s);
  if (auto r = param(l, "RSVP")) p["expect_reply"] = upper(*r) == "TRUE";
  if (auto c = param(l, "CUTYPE")) {
    for (const auto& [type, kind] : kCalendarUserTypes) {
      if (type == upper(*c) && !kind.empty()) p["kind"] = std::string(kind);
    }
  }
  return p;
}

// The ORGANIZER and ATTENDEE lines of the model's participants: the first owner is the
// ORGANIZER (an event has one), every participant with another role an ATTENDEE. What a
// line cannot say goes to `lost`.
std::vector<std::string> participant_lines(const json& participants,
                                           std::vector<std::string>& lost) {
  std::vector<std::string> lines;
  bool organizer = false;
  auto cn = [&](const json& p) -> std::string {
    const auto name = model_string(p, "name");
    if (!name) return {};
    // A parameter value cannot hold a DQUOTE or a control character (§3.1).
    if (std::ranges::any_of(*name, [](char c) {
          return c == '"' || (static_cast<unsigned char>(c) < 0x20 && c != '\t');
        })) {
      lost.push_back("participants.name");
      return {};
    }
    return ";CN=" + quote_param(*name);
  };
  // A parameter of DQUOTEd cal-addresses (`field`: a list, or a single address or null) and,
  // for an address a quoted value cannot hold, or one with no scheme, which the reader would
  // not take for one, `field` as not carried.
  auto addresses = [&](std::string_view name, const char* field, const json& p) {
    std::string out;
    const json& v = p[field];
    for (const json& a : v.is_array() ? v : json::array({v})) {
      if (a.is_null()) continue;
      if (!is_address_param(a.get_ref<const std::string&>())) {
        lost.push_back(std::string("participants.") + field);
        continue;
      }
      out += (out.empty() ? ";" + std::string(name) + "=" : ",") + "\"" +
             a.get_ref<const std::string&>() + "\"";
    }
    return out;
  };
  for (const json& p : participants) {
    std::vector<std::string> roles;
    for (const json& r : p["roles"]) roles.push_back(r.get<std::string>());
    const auto has = [&](std::string_view r) { return std::ranges::find(roles, r) != roles.end(); };
    const std::string address = p["address"].get<std::string>();
    if (!is_uri_text(address)) {
      lost.push_back("participants.address");
      continue;
    }
    if (has("owner")) {
      if (organizer) lost.push_back("participants.roles");  // a second owner
      if (!organizer)
        lines.push_back("ORGANIZER" + cn(p) + addresses("SENT-BY", "sent_by", p) + ":" + address);
      organizer = true;
    }
    std::string role;
    if (has("chair")) {
      role = "CHAIR";
    } else if (has("optional")) {
      role = "OPT-PARTICIPANT";
    } else if (has("informational") && !has("attendee")) {
      role = "NON-PARTICIPANT";
    } else if (has("attendee") || !has("owner")) {
      // A participant with no role at all (JSCalendar allows it) is still someone the event
      // names: an ATTENDEE, with the roles listed as not carried below.
      role = "REQ-PARTICIPANT";
    }
    if (role.empty()) {
      // An owner only: the ORGANIZER line has no room for the rest.
      if (!p["status"].is_null() || p["expect_reply"] == true || !p["kind"].is_null())
        lost.push_back("participants.status");
      for (const auto& [name, field] : kAddressListParams) {
        if (!p[field].empty()) lost.push_back(std::string("participants.") + field);
      }
      continue;
    }
    auto written = *roles_of(role);
    if (has("owner")) written.emplace_back("owner");
    std::ranges::sort(written);
    if (written != roles) lost.push_back("participants.roles");
    std::string line = "ATTENDEE";
    if (auto kind = model_string(p, "kind")) {
      for (const auto& [type, k] : kCalendarUserTypes) {
        if (k == *kind) line += ";CUTYPE=" + std::string(type);
      }
    }
    // §3.8.4.1's order: CUTYPE, MEMBER, ROLE, PARTSTAT, RSVP, DELEGATED-TO, DELEGATED-FROM,
    // SENT-BY, CN.
    line += addresses("MEMBER", "member_of", p);
    if (role != "REQ-PARTICIPANT") line += ";ROLE=" + role;
    if (auto s = model_string(p, "status")) line += ";PARTSTAT=" + upper(*s);
    if (p["expect_reply"] == true) line += ";RSVP=TRUE";
    line += addresses("DELEGATED-TO", "delegated_to", p);
    line += addresses("DELEGATED-FROM", "delegated_from", p);
    line += addresses("SENT-BY", "sent_by", p);
    lines.push_back(line + cn(p) + ":" + address);
  }
  return lines;
}

// ---- what a VEVENT holds that the model has no field for (Format::to_model's not_read) ----

// A property to_model reads. `type` is the value type a VALUE parameter may name without
// changing what the model holds (the RFC 5545 §3.8 default); empty marks a DATE / DATE-TIME
// property, whose VALUE and TZID parameters the adapter interprets itself.
struct ReadProperty {
  std::string_view name;
  std::string_view type;
};

// Sorted by name for a binary search: this runs once per property of every item converted.
constexpr ReadProperty kReadProperties[] = {
    {"ATTENDEE", "CAL-ADDRESS"},
    {"CATEGORIES", "TEXT"},    {"CREATED", ""},         {"DESCRIPTION", "TEXT"},
    {"DTEND", ""},             {"DTSTAMP", ""},         {"DTSTART", ""},
    {"DURATION", "DURATION"},  {"EXDATE", ""},          {"LAST-MODIFIED", ""},
    {"LOCATION", "TEXT"},      {"ORGANIZER", "CAL-ADDRESS"},
    {"RDATE", ""},             {"RECURRENCE-ID", ""},
    {"RRULE", "RECUR"},        {"SEQUENCE", "INTEGER"}, {"STATUS", "TEXT"},
    {"SUMMARY", "TEXT"},       {"TRANSP", "TEXT"},      {"UID", "TEXT"},
    {"URL", "URI"}};
static_assert(std::is_sorted(std::begin(kReadProperties), std::end(kReadProperties),
                             [](const ReadProperty& a, const ReadProperty& b) {
                               return a.name < b.name;
                             }));

const ReadProperty* read_property(std::string_view name) {
  const auto* it = std::lower_bound(
      std::begin(kReadProperties), std::end(kReadProperties), name,
      [](const ReadProperty& p, std::string_view n) { return p.name < n; });
  return it != std::end(kReadProperties) && it->name == name ? it : nullptr;
}

// `v` equals `upper_name` ignoring case (parameter values are case-insensitive, §3.2).
bool same_upper(std::string_view v, std::string_view upper_name) {
  return v.size() == upper_name.size() &&
         std::equal(v.begin(), v.end(), upper_name.begin(), [](char a, char b) {
           return std::toupper(static_cast<unsigned char>(a)) == b;
         });
}

bool holds_something(const Param& p) {
  return std::any_of(p.values.begin(), p.values.end(),
                     [](const std::string& v) { return !v.empty(); });
}

// Whether a property holds anything: a value, or a parameter with one.
bool holds_something(const Line& l) {
  return !l.value.empty() || std::any_of(l.params.begin(), l.params.end(),
                                         [](const Param& p) { return holds_something(p); });
}

// Walks one component's own level (`inside`: the lines between its BEGIN and its END), in
// document order: names each nested component that holds something, whole, after `prefix`
// ("VLOCATION", "VALARM/X-FOO"), unless it is among `kept` (upper case), which it hands to
// `component` (its name and the lines between its BEGIN and END) instead, and hands each
// property of the component itself to `property`.
template <typename Property, typename Component>
void list_level(std::span<const Line> inside, std::span<const std::string_view> kept,
                std::string_view prefix, NotRead& out, Property property, Component component) {
  int depth = 0;
  std::size_t opened = 0;
  for (std::size_t i = 0; i < inside.size(); ++i) {
    const Line& l = inside[i];
    if (l.name == "BEGIN" || l.name == "END") {
      depth += l.name == "BEGIN" ? 1 : -1;
      if (depth == 1 && l.name == "BEGIN") {
        opened = i;
      } else if (depth == 0 && i > opened + 1) {  // a component with something inside it
        std::string name = upper(inside[opened].value);
        if (!among(kept, name)) {
          out.add(std::string(prefix) + name);
        } else {
          component(name, inside.subspan(opened + 1, i - opened - 1));
        }
      }
      continue;
    }
    if (depth == 0) property(l);  // deeper lines are inside a component listed whole
  }
}

// ---- VALARM (RFC 5545 §3.6.6; ACKNOWLEDGED from RFC 9074) <-> the model's alerts ----

// The properties of a VALARM that alert_of reads, and the value type each may name in VALUE
// without changing what the model holds (TRIGGER's is the adapter's own to interpret).
constexpr ReadProperty kAlarmProperties[] = {
    {"ACKNOWLEDGED", "DATE-TIME"}, {"ACTION", "TEXT"},   {"ATTENDEE", "CAL-ADDRESS"},
    {"DESCRIPTION", "TEXT"},       {"SUMMARY", "TEXT"},  {"TRIGGER", ""}};

// A VALARM's own properties (`inside`: the lines between its BEGIN and END), without the lines
// of a component inside it.
std::vector<const Line*> alarm_properties(std::span<const Line> inside) {
  std::vector<const Line*> own;
  int depth = 0;
  for (const Line& l : inside) {
    if (l.name == "BEGIN" || l.name == "END") {
      depth += l.name == "BEGIN" ? 1 : -1;
    } else if (depth == 0) {
      own.push_back(&l);
    }
  }
  return own;
}

// The one property named `name` among a VALARM's own (alarm_properties).
const Line* alarm_line(const std::vector<const Line*>& own, std::string_view name,
                       const std::string& what) {
  const Line* found = nullptr;
  for (const Line* l : own) {
    if (l->name != name) continue;
    if (found != nullptr)
      throw FormatError(what, "VALARM: " + std::string(name) + " appears more than once");
    found = l;
  }
  return found;
}

// Whether a VALARM holds anything: an empty one is skipped, neither read nor named.
bool alarm_holds_something(std::span<const Line> inside) {
  return std::ranges::any_of(inside, [](const Line& l) {
    return l.name != "BEGIN" && l.name != "END" && holds_something(l);
  });
}

// A VALARM (`inside`: the lines between its BEGIN and END) as the model's alert; none when it
// holds nothing, or says an action the model has no value for (list_alarm names it). A VALARM
// without ACTION or TRIGGER, or with a trigger that is not a duration or a UTC time, is refused
// (§3.6.6, §3.8.6.3).
std::optional<json> alert_of(std::span<const Line> inside, const std::string& what) {
  if (!alarm_holds_something(inside)) return std::nullopt;
  const std::vector<const Line*> own = alarm_properties(inside);
  const Line* action = alarm_line(own, "ACTION", what);
  const Line* trigger = alarm_line(own, "TRIGGER", what);
  if (action == nullptr) throw FormatError(what, "VALARM has no ACTION (RFC 5545 §3.6.6)");
  if (trigger == nullptr) throw FormatError(what, "VALARM has no TRIGGER (RFC 5545 §3.6.6)");
  const std::string act = lower(action->value);
  if (!among(kAlertActions, act)) return std::nullopt;
  json a = empty_alert();
  a["action"] = act;
  const auto type = param(*trigger, "VALUE");
  if (type && upper(*type) == "DATE-TIME") {
    const When at = parse_when(*trigger, what);
    if (!at.utc)
      throw FormatError(what, "VALARM: a TRIGGER time must be in UTC (RFC 5545 §3.8.6.3)");
    a["at"] = at.local + "Z";
  } else {
    if ((type && upper(*type) != "DURATION") || !valid_duration(trigger->value))
      throw FormatError(what, "VALARM: bad TRIGGER " + trigger->value);
    a["offset"] = trigger->value[0] == '+' ? trigger->value.substr(1) : trigger->value;
    if (auto related = param(*trigger, "RELATED")) {
      const std::string r = upper(*related);
      if (r != "START" && r != "END")
        throw FormatError(what, "VALARM: bad TRIGGER;RELATED=" + *related);
      a["relative_to"] = lower(r);
    }
  }
  if (const Line* l = alarm_line(own, "ACKNOWLEDGED", what))
    a["acknowledged"] = utc_stamp(*l, what);
  if (const Line* l = alarm_line(own, "DESCRIPTION", what))
    a["description"] = unescape(l->value, what);
  if (const Line* l = alarm_line(own, "SUMMARY", what)) a["summary"] = unescape(l->value, what);
  for (const Line* l : own) {
    if (l->name == "ATTENDEE" && !l->value.empty())
      a["recipients"].push_back(canonical_address(l->value));
  }
  sort_unique(a["recipients"]);
  return a;
}

// Names what a VALARM holds that alert_of does not keep, by its path from "VALARM": the whole
// alarm when its action is one the model has no value for ("VALARM/ACTION"), properties it does
// not read ("VALARM/REPEAT", "VALARM/X-WR-ALARMUID"), parameters of those it reads
// ("VALARM/ATTENDEE;CN") and components inside it.
void list_alarm(std::span<const Line> inside, NotRead& out) {
  if (!alarm_holds_something(inside)) return;
  if (!alert_of(inside, "")) {
    out.add("VALARM/ACTION");
    return;
  }
  list_level(
      inside, {}, "VALARM/", out,
      [&](const Line& l) {
        const auto* p = std::ranges::find(kAlarmProperties, l.name, &ReadProperty::name);
        if (p == std::end(kAlarmProperties)) {
          if (holds_something(l)) out.add("VALARM/" + l.name);
          return;
        }
        for (const Param& param : l.params) {
          if (!holds_something(param)) continue;
          const bool read =
              (param.name == "VALUE" && param.values.size() == 1 &&
               (p->type.empty() || same_upper(param.values[0], p->type))) ||
              (l.name == "TRIGGER" && param.name == "RELATED");
          if (!read) out.add("VALARM/" + l.name + ";" + param.name);
        }
      },
      [](const std::string&, std::span<const Line>) {});
}

// A model alert as VALARM lines; what they cannot say goes to `lost`. An e-mail alert needs a
// recipient (§3.6.6): one without is written as a display alert, its action listed.
std::vector<std::string> alarm_lines(const json& a, std::vector<std::string>& lost) {
  std::string action = a["action"].get<std::string>();
  std::vector<std::string> recipients;
  for (const json& r : a["recipients"]) {
    if (is_uri_text(r.get<std::string>())) {
      recipients.push_back(r.get<std::string>());
    } else {
      lost.push_back("alerts.recipients");  // a line break would start another line
    }
  }
  if (action == "email" && recipients.empty()) {
    action = "display";
    lost.push_back("alerts.action");
  }
  std::vector<std::string> lines{"BEGIN:VALARM", "ACTION:" + upper(action)};
  if (auto at = model_string(a, "at")) {
    lines.push_back("TRIGGER;VALUE=DATE-TIME:" + compact(*at) + "Z");
    if (at->find('.') != std::string::npos) lost.push_back("alerts.at.fraction");
  } else {
    const bool end = a["relative_to"] == "end";
    lines.push_back(std::string("TRIGGER") + (end ? ";RELATED=END:" : ":") +
                    a["offset"].get<std::string>());
  }
  const std::string description = a["description"].get<std::string>();
  if (action != "audio") {
    lines.push_back("DESCRIPTION:" + escape(description));  // required, even when empty
  } else if (!description.empty()) {
    lost.push_back("alerts.description");  // an AUDIO alarm has no text (§3.6.6)
  }
  const std::string summary = a["summary"].get<std::string>();
  if (action == "email") {
    lines.push_back("SUMMARY:" + escape(summary));
    for (const std::string& r : recipients) lines.push_back("ATTENDEE:" + r);
  } else {
    if (!summary.empty()) lost.push_back("alerts.summary");
    if (!recipients.empty()) lost.push_back("alerts.recipients");
  }
  if (auto t = model_string(a, "acknowledged")) {
    lines.push_back("ACKNOWLEDGED:" + compact(*t) + "Z");
    if (t->find('.') != std::string::npos) lost.push_back("alerts.acknowledged.fraction");
  }
  lines.emplace_back("END:VALARM");
  return lines;
}

// The parameter that says each field of a participant that participant_conflicts compares.
constexpr std::pair<std::string_view, std::string_view> kSaidOnceParams[] = {
    {"name", "CN"}, {"kind", "CUTYPE"}, {"status", "PARTSTAT"}, {"sent_by", "SENT-BY"}};

// The components inside a VEVENT that to_model reads.
constexpr std::string_view kEventKept[] = {"VALARM"};

// Names what a VEVENT block holds that the model has no field for, in document order:
// nested components whole ("VLOCATION") and what a VALARM holds beyond the model's alert
// (list_alarm), properties to_model does not read ("X-FOO", any name not in kReadProperties),
// and parameters of the properties it reads that the model does not keep ("DESCRIPTION;ALTREP",
// "RECURRENCE-ID;RANGE"). Empty parts are left out.
void list_not_read(const std::vector<Line>& lines, std::vector<std::string>& list) {
  NotRead out(list);
  const std::span<const Line> inside = std::span(lines).subspan(1, lines.size() - 2);
  json participants = json::array();  // as to_model merges them, to see what a merge leaves out
  const auto alarm = [&](const std::string&, std::span<const Line> a) { list_alarm(a, out); };
  list_level(inside, kEventKept, "", out, [&](const Line& l) {
    const ReadProperty* p = read_property(l.name);
    if (p == nullptr) {
      if (holds_something(l)) out.add(l.name);
      return;
    }
    if (l.name == "ORGANIZER" || l.name == "ATTENDEE") {
      // A second line for an address that says its name, kind or answer differently.
      json one = participant_of(l, "");
      for (const std::string& field : participant_conflicts(participants, one)) {
        const auto* it = std::ranges::find(kSaidOnceParams, field,
                                           &std::pair<std::string_view, std::string_view>::first);
        out.add(l.name + ";" + std::string(it->second));
      }
      add_participant(participants, std::move(one));
    }
    for (const Param& param : l.params) {
      if (!holds_something(param)) continue;
      const bool read =
          (p->type.empty() ? param.name == "VALUE" || param.name == "TZID"
                           : param.name == "VALUE" && param.values.size() == 1 &&
                                 same_upper(param.values[0], p->type)) ||
          (p->type == "CAL-ADDRESS" && participant_param_read(l.name, param));
      if (!read) out.add(l.name + ";" + param.name);
    }
  }, alarm);
}

// ---- what split skips of a VCALENDAR (Format::split's not_read) ----

// The calendar's own bookkeeping, read rather than listed: the product that wrote it, the
// RFC 5545 version, the calendar scale (GREGORIAN, the only one defined) and the iTIP method.
// join writes its own VERSION and PRODID.
constexpr std::string_view kCalendarRead[] = {"CALSCALE", "METHOD", "PRODID", "VERSION"};
// The components split does not skip: VEVENTs are the items. A VTIMEZONE defines the TZID that
// events name; the model keeps that name (time_zone), which in practice is an IANA name (RFC
// 7809) that a destination resolves with its own time-zone database, as join expects. The
// definition is consumed as the meaning of the name, not data of the resident's: listing it
// would put "VTIMEZONE" into nearly every report while nothing the resident wrote stays behind.
constexpr std::string_view kCalendarKept[] = {"VEVENT", "VTIMEZONE"};

// Names what a VCALENDAR (`inside`: the lines between BEGIN:VCALENDAR and END:VCALENDAR) holds
// besides its events, in document order: other components whole ("VTODO", "VJOURNAL",
// "VFREEBUSY") and its properties other than the bookkeeping above, by their path from
// "VCALENDAR" ("VCALENDAR/X-WR-CALNAME", "VCALENDAR/NAME"), so that a calendar's NAME or
// DESCRIPTION (RFC 7986) is not mistaken for an event's.
//
// A VTIMEZONE whose TZID is no IANA name (RFC 7808: "Area/Location" or a one-word legacy name,
// no spaces), e.g. Outlook's "Tokyo Standard Time" or a globally unique "/vendor/..." id
// (RFC 5545 §3.2.19), means only what its definition says, and the model keeps the name
// alone: such a zone is named too ("VTIMEZONE TZID=Tokyo Standard Time").
void list_skipped(std::span<const Line> inside, NotRead& out) {
  list_level(
      inside, kCalendarKept, "", out,
      [&](const Line& l) {
        if (!among(kCalendarRead, l.name) && holds_something(l)) out.add("VCALENDAR/" + l.name);
      },
      [](const std::string&, std::span<const Line>) {});
  const auto iana_shaped = [](std::string_view tzid) {
    return !tzid.empty() && tzid.front() != '/' && tzid.back() != '/' &&
           std::ranges::all_of(tzid, [](char c) {
             return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '/' || c == '_' ||
                    c == '-' || c == '+';
           });
  };
  int depth = 0;
  bool in_zone = false;
  for (const Line& l : inside) {
    if (l.name == "BEGIN" || l.name == "END") {
      depth += l.name == "BEGIN" ? 1 : -1;
      if (depth == 1 && l.name == "BEGIN") in_zone = same_upper(l.value, "VTIMEZONE");
      continue;
    }
    if (in_zone && depth == 1 && l.name == "TZID" && !iana_shaped(l.value))
      out.add("VTIMEZONE TZID=" + l.value);
  }
}

std::string item_id(const std::vector<Line>& block, std::size_t position) {
  std::string uid, rid;
  int depth = 0;
  for (const Line& l : block) {
    if (l.name == "BEGIN") ++depth;
    if (l.name == "END") --depth;
    if (depth == 1 && l.name == "UID") uid = l.value;
    if (depth == 1 && l.name == "RECURRENCE-ID") rid = l.value;
  }
  if (uid.empty()) return "VEVENT " + std::to_string(position);
  return rid.empty() ? uid : uid + "/" + rid;
}

class ICalendar final : public Format {
 public:
  std::string_view name() const override { return "icalendar"; }
  Dataset dataset() const override { return Dataset::calendar_events; }
  std::string_view media_type() const override { return "text/calendar"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    const std::vector<Line> lines = parse_lines(document, "document");
    if (lines.empty() || lines.front().name != "BEGIN" || upper(lines.front().value) != "VCALENDAR")
      throw FormatError("document", "does not start with BEGIN:VCALENDAR (RFC 5545 §3.4)");
    std::vector<NativeItem> items;
    std::vector<std::string> stack;
    std::vector<Line> block;
    std::size_t events = 0;
    // Where each VCALENDAR begins and ends (a document may hold several), for not_read.
    std::vector<std::pair<std::size_t, std::size_t>> calendars;
    auto index_of = [&](const Line& l) { return static_cast<std::size_t>(&l - lines.data()); };
    auto open_event = [&] { return std::find(stack.begin(), stack.end(), "VEVENT") != stack.end(); };
    for (const Line& l : lines) {
      if (l.name == "BEGIN") {
        const std::string comp = upper(l.value);
        if (open_event() && (comp == "VEVENT" || comp == "VCALENDAR"))
          throw FormatError(item_id(block, events), "missing END:VEVENT before line " +
                                                        std::to_string(l.number));
        if (stack.empty() != (comp == "VCALENDAR"))
          throw FormatError("document", "line " + std::to_string(l.number) + ": BEGIN:" + comp +
                                            " outside a VCALENDAR");
        stack.push_back(comp);
        if (not_read != nullptr && stack.size() == 1) calendars.emplace_back(index_of(l), 0);
        if (comp == "VEVENT") {
          if (stack.size() != 2)
            throw FormatError("document", "line " + std::to_string(l.number) + ": nested VEVENT");
          ++events;
          block.clear();
        }
      } else if (l.name == "END") {
        const std::string comp = upper(l.value);
        if (stack.empty() || stack.back() != comp) {
          const std::string what = open_event() ? item_id(block, events) : "document";
          throw FormatError(what, "line " + std::to_string(l.number) + ": END:" + comp +
                                      (stack.empty() ? " without BEGIN" : " but BEGIN:" + stack.back() + " is open"));
        }
        if (comp == "VEVENT") {
          block.push_back(l);
          std::string text;
          for (const Line& b : block) emit(text, serialize(b));
          items.push_back({item_id(block, events), text});
          block.clear();
          stack.pop_back();
          continue;
        }
        stack.pop_back();
        if (not_read != nullptr && stack.empty()) calendars.back().second = index_of(l);
      } else if (stack.empty()) {
        throw FormatError("document", "line " + std::to_string(l.number) + ": property outside VCALENDAR");
      }
      if (open_event()) block.push_back(l);
    }
    if (!stack.empty()) {
      const std::string what = open_event() ? item_id(block, events) : "document";
      throw FormatError(what, "missing END:" + stack.back());
    }
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      for (const auto& [begin, end] : calendars) {
        list_skipped(std::span(lines).subspan(begin + 1, end - begin - 1), out);
      }
    }
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    std::string out = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//infobank//portability//EN\r\n";
    for (const NativeItem& item : items) {
      // Re-emit through the parser so every line is folded and CRLF-terminated.
      const std::string what = item.id.empty() ? "item" : item.id;
      const std::vector<Line> lines = parse_lines(item.text, what);
      if (lines.empty() || lines.front().name != "BEGIN" || upper(lines.front().value) != "VEVENT" ||
          lines.back().name != "END" || upper(lines.back().value) != "VEVENT")
        throw FormatError(what, "not a VEVENT block");
      for (const Line& l : lines) emit(out, serialize(l));
    }
    return out + "END:VCALENDAR\r\n";
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const std::vector<Line> lines = parse_lines(item.text, what);
    if (lines.size() < 2 || lines.front().name != "BEGIN" || upper(lines.front().value) != "VEVENT" ||
        lines.back().name != "END" || upper(lines.back().value) != "VEVENT")
      throw FormatError(what, "not a BEGIN:VEVENT .. END:VEVENT block");
    std::vector<const Line*> props;
    json alerts = json::array();
    int depth = 0;
    std::size_t opened = 0;
    for (std::size_t i = 1; i + 1 < lines.size(); ++i) {
      const Line& l = lines[i];
      if (l.name == "BEGIN" && ++depth == 1) opened = i;
      if (l.name == "END") --depth;
      if (depth < 0) throw FormatError(what, "line " + std::to_string(l.number) + ": unbalanced END");
      if (depth == 0 && l.name == "END" && same_upper(lines[opened].value, "VALARM")) {
        if (auto a = alert_of(std::span(lines).subspan(opened + 1, i - opened - 1), what))
          alerts.push_back(std::move(*a));
      }
      if (depth == 0 && l.name != "END") props.push_back(&l);  // other components: not carried
    }
    if (depth != 0) throw FormatError(what, "missing END:VEVENT");
    auto one = [&](const char* name) -> const Line* {
      const Line* found = nullptr;
      for (const Line* l : props) {
        if (l->name == name) {
          if (found) throw FormatError(what, std::string(name) + " appears more than once");
          found = l;
        }
      }
      return found;
    };
    json m = empty_event();
    const Line* uid = one("UID");
    if (!uid) throw FormatError(what, "VEVENT has no UID (RFC 5545 §3.6.1)");
    m["uid"] = unescape(uid->value, what);
    const Line* dtstart = one("DTSTART");
    if (!dtstart) throw FormatError(what, "VEVENT has no DTSTART");
    const When start = parse_when(*dtstart, what);
    m["start"] = start.local;
    m["all_day"] = start.date;
    if (start.utc) m["time_zone"] = kUtcZone;
    if (start.tzid) m["time_zone"] = *start.tzid;

    const Line* dtend = one("DTEND");
    const Line* duration = one("DURATION");
    if (dtend && duration) throw FormatError(what, "both DTEND and DURATION (RFC 5545 §3.6.1)");
    if (dtend) {
      const When end = parse_when(*dtend, what);
      if (end.date != start.date) throw FormatError(what, "DTEND and DTSTART differ in value type");
      if (end.utc == start.utc && end.tzid == start.tzid) {
        m["duration"] = difference(start, end, what);
      } else {
        m["duration"] = nullptr;
        m["end"] = {{"date_time", end.local},
                    {"time_zone", end.utc ? json(kUtcZone) : str_or_null(end.tzid)}};
      }
    } else if (duration) {
      if (!valid_duration(duration->value) || duration->value[0] == '-')
        throw FormatError(what, "bad DURATION " + duration->value);
      m["duration"] = duration->value[0] == '+' ? duration->value.substr(1) : duration->value;
    } else {
      // §3.6.1: a DATE start with no end lasts one day; a DATE-TIME start, no time at all.
      m["duration"] = start.date ? "P1D" : "PT0S";
    }
    if (const Line* l = one("RECURRENCE-ID")) m["recurrence_id"] = relative(parse_when(*l, what), start, what, l->name);
    if (const Line* l = one("SUMMARY")) m["title"] = unescape(l->value, what);
    if (const Line* l = one("DESCRIPTION")) m["description"] = unescape(l->value, what);
    if (const Line* l = one("LOCATION")) m["location"] = unescape(l->value, what);
    if (const Line* l = one("URL")) m["url"] = l->value;  // a URI, not TEXT: no unescaping
    if (const Line* l = one("STATUS")) {
      const std::string s = upper(l->value);
      if (s != "TENTATIVE" && s != "CONFIRMED" && s != "CANCELLED")
        throw FormatError(what, "bad VEVENT STATUS " + l->value + " (RFC 5545 §3.8.1.11)");
      m["status"] = lower(s);
    }
    if (const Line* l = one("SEQUENCE")) {
      const auto n = parse_int(l->value);
      if (!n || *n < 0 || *n > INT32_MAX) throw FormatError(what, "bad SEQUENCE " + l->value);
      m["sequence"] = *n;
    }
    if (const Line* l = one("TRANSP")) {
      const std::string t = upper(l->value);
      if (t != "OPAQUE" && t != "TRANSPARENT") throw FormatError(what, "bad TRANSP " + l->value);
      m["free_busy"] = t == "OPAQUE" ? "busy" : "free";
    }
    if (const Line* l = one("CREATED")) m["created"] = utc_stamp(*l, what) ;
    if (const Line* l = one("LAST-MODIFIED")) m["updated"] = utc_stamp(*l, what);
    if (const Line* l = one("DTSTAMP")) m["timestamp"] = utc_stamp(*l, what);
    for (const Line* l : props) {
      if (l->name == "CATEGORIES") {
        for (std::string& c : unescape_list(l->value, true, what)) m["categories"].push_back(c);
      } else if (l->name == "RRULE") {
        m["recurrence_rules"].push_back(parse_rrule(l->value, start, what));
      } else if (l->name == "ORGANIZER" || l->name == "ATTENDEE") {
        add_participant(m["participants"], participant_of(*l, what));
      } else if (l->name == "RDATE" || l->name == "EXDATE") {
        if (auto type = param(*l, "VALUE"); type && upper(*type) == "PERIOD")
          throw FormatError(what, "RDATE;VALUE=PERIOD is not supported");
        const bool date = is_date_value(*l, l->value);
        for (const std::string& v : split_on(l->value, ',')) {
          const When w = parse_value(v, date, param(*l, "TZID"), what, l->name);
          m[l->name == "RDATE" ? "recurrence_dates" : "excluded_dates"].push_back(
              relative(w, start, what, l->name));
        }
      }
    }
    sort_unique(m["categories"]);
    sort_unique(m["recurrence_dates"]);
    sort_unique(m["excluded_dates"]);
    sort_alerts(alerts);
    m["alerts"] = std::move(alerts);
    // Last, so that an item refused above adds nothing to the list.
    if (not_read != nullptr) list_not_read(lines, *not_read);
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string uid = check_event(item);
    Converted out;
    auto& lost = out.not_carried;
    std::string text;
    auto prop = [&](const std::string& line) { emit(text, line); };
    prop("BEGIN:VEVENT");
    prop("UID:" + escape(uid));
    if (auto t = model_string(item, "timestamp")) prop("DTSTAMP:" + compact(*t) + "Z");
    if (auto t = model_string(item, "timestamp"); t && t->find('.') != std::string::npos) lost.push_back("timestamp.fraction");

    const std::string start = item["start"].get<std::string>();
    const auto zone = model_string(item, "time_zone");
    // A TZID is a parameter value: a DQUOTE or a control character would end it, or the line
    // (§3.1); no time zone is named so.
    for (const auto& z : {zone, item["end"].is_object() ? model_string(item["end"], "time_zone")
                                                        : std::nullopt}) {
      if (z && (z->find('"') != std::string::npos || !is_uri_text(*z)))
        throw FormatError(uid, "a time zone name with a quote or a control character");
    }
    const bool all_day = item["all_day"].get<bool>() && start.substr(10) == "T00:00:00";
    if (item["all_day"].get<bool>() && !all_day) lost.push_back("all_day");
    if (start.size() > 19) lost.push_back("start.fraction");
    // How a value in the event's own zone is written: DATE, UTC, TZID or floating (§3.3.5).
    auto in_zone = [&](const std::string& name, const std::string& local) {
      if (all_day) return name + ";VALUE=DATE:" + compact(local).substr(0, 8);
      if (zone && *zone == kUtcZone) return name + ":" + compact(local) + "Z";
      if (zone) return name + ";TZID=" + quote_param(*zone) + ":" + compact(local);
      return name + ":" + compact(local);
    };
    auto relative_value = [&](const std::string& name, const std::string& v) {
      if (!v.empty() && v.back() == 'Z') return name + ":" + compact(v) + "Z";
      return in_zone(name, v);
    };
    prop(in_zone("DTSTART", start));
    if (auto rid = model_string(item, "recurrence_id")) prop(relative_value("RECURRENCE-ID", *rid));
    if (const json& end = item["end"]; end.is_object()) {
      const std::string local = end["date_time"].get<std::string>();
      const auto ez = model_string(end, "time_zone");
      if (ez && *ez == kUtcZone) {
        prop("DTEND:" + compact(local) + "Z");
      } else if (ez) {
        prop("DTEND;TZID=" + quote_param(*ez) + ":" + compact(local));
      } else {
        prop("DTEND:" + compact(local));
      }
    } else if (auto d = model_string(item, "duration")) {
      // RFC 8984's weeks with days, or a fraction of a second, are written as RFC 5545 has
      // them: in days, and in whole seconds (the fraction said lost).
      bool fraction = false;
      const auto held = valid_duration(*d) ? d : rfc5545_duration(*d, fraction);
      if (!held || (*held)[0] == '-') throw FormatError(uid, "bad duration " + *d);
      if (fraction) lost.push_back("duration.fraction");
      if (all_day || *held != "PT0S") prop("DURATION:" + *held);
    }
    if (const std::string t = item["title"].get<std::string>(); !t.empty()) prop("SUMMARY:" + escape(t));
    if (const std::string t = item["description"].get<std::string>(); !t.empty())
      prop("DESCRIPTION:" + escape(t));
    if (auto l = model_string(item, "location")) prop("LOCATION:" + escape(*l));
    if (auto u = model_string(item, "url")) {
      if (is_uri_text(*u)) {
        prop("URL:" + *u);
      } else {
        lost.push_back("url");
      }
    }
    if (auto s = model_string(item, "status")) prop("STATUS:" + upper(*s));
    if (const auto seq = item["sequence"].get<std::int64_t>(); seq != 0) prop("SEQUENCE:" + std::to_string(seq));
    if (auto f = model_string(item, "free_busy")) prop(std::string("TRANSP:") + (*f == "free" ? "TRANSPARENT" : "OPAQUE"));
    if (!item["categories"].empty()) {
      std::string list;
      for (const json& c : item["categories"]) list += (list.empty() ? "" : ",") + escape(c.get<std::string>());
      prop("CATEGORIES:" + list);
    }
    for (const std::string& line : participant_lines(item["participants"], lost)) prop(line);
    for (const json& rule : item["recurrence_rules"]) prop("RRULE:" + write_rrule(rule, uid));
    for (const json& d : item["recurrence_dates"]) prop(relative_value("RDATE", d.get<std::string>()));
    for (const json& d : item["excluded_dates"]) prop(relative_value("EXDATE", d.get<std::string>()));
    for (const char* key : {"created", "updated"}) {
      if (auto t = model_string(item, key)) {
        prop(std::string(key[0] == 'c' ? "CREATED:" : "LAST-MODIFIED:") + compact(*t) + "Z");
        if (t->find('.') != std::string::npos) lost.push_back(std::string(key) + ".fraction");
      }
    }
    for (const json& a : item["alerts"]) {
      for (const std::string& line : alarm_lines(a, lost)) prop(line);
    }
    prop("END:VEVENT");
    // RFC 5545 §3.1, §3.3.11: no control character but tab (a line break is written \n) is
    // held: said, not written into a line a conforming reader refuses.
    if (drop_forbidden_controls(text, /*del=*/true)) lost.push_back("text.control_characters");
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    // The same id split() would give this block.
    out.native = {item_id(parse_lines(text, uid), 1), text};
    return out;
  }
};

}  // namespace

const Format& icalendar_format() {
  static const ICalendar format;
  return format;
}

}  // namespace portability::detail
