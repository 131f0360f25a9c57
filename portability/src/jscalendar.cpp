// JSCalendar (RFC 8984): Event objects in a Group.

#include <algorithm>
#include <functional>
#include <map>
#include <span>
#include <string_view>

#include "calendar_model.hpp"
#include "json_document.hpp"
#include "not_read.hpp"
#include "registry.hpp"
#include "util.hpp"

namespace portability::detail {
namespace {

// A UTC "until" for an event in a named zone cannot become a LocalDateTime without a time-zone
// database; it travels in this vendor property (RFC 8984 §3.3) and is listed as not carried.
constexpr const char* kUntilUtc = "infobank:untilUtc";

// RFC 8984 §4.3.3 RecurrenceRule members <-> model rule fields.
const std::vector<std::pair<const char*, const char*>>& list_members() {
  static const std::vector<std::pair<const char*, const char*>> m{
      {"byMonthDay", "by_month_day"}, {"byMonth", "by_month"},       {"byYearDay", "by_year_day"},
      {"byWeekNo", "by_week_no"},     {"byHour", "by_hour"},         {"byMinute", "by_minute"},
      {"bySecond", "by_second"},      {"bySetPosition", "by_set_position"}};
  return m;
}

std::string event_id(const json& e, const std::string& what) {
  std::string id = req_string(e, "uid", what);
  if (auto r = opt_string(e, "recurrenceId", what)) id += "/" + *r;
  return id;
}

json rule_to_model(const json& r, bool all_day, const std::string& what) {
  if (!r.is_object()) throw FormatError(what, "recurrence rule must be an object");
  json m = json::object();
  const auto freq = opt_string(r, "frequency", what);
  static const char* kFreq[] = {"yearly", "monthly", "weekly", "daily", "hourly", "minutely", "secondly"};
  if (!freq || std::none_of(std::begin(kFreq), std::end(kFreq), [&](const char* f) { return *freq == f; }))
    throw FormatError(what, "recurrence rule needs a valid frequency (RFC 8984 §4.3.3)");
  m["frequency"] = *freq;
  if (auto n = opt_int(r, "interval", what); n && *n != 1) {
    if (*n < 1) throw FormatError(what, "interval must be positive");
    m["interval"] = *n;
  }
  if (auto n = opt_int(r, "count", what)) {
    if (*n < 1) throw FormatError(what, "count must be positive");
    m["count"] = *n;
  }
  if (auto s = opt_string(r, "rscale", what); s && *s != "gregorian") m["rscale"] = *s;
  if (auto s = opt_string(r, "skip", what); s && *s != "omit") m["skip"] = *s;
  if (auto s = opt_string(r, "firstDayOfWeek", what); s && *s != "mo") m["first_day_of_week"] = *s;
  if (auto u = opt_string(r, "until", what)) {
    if (!is_local_date_time(*u)) throw FormatError(what, "until must be a LocalDateTime");
    m["until"] = all_day && u->substr(10) == "T00:00:00" ? u->substr(0, 10) : *u;
  }
  if (auto u = opt_string(r, kUntilUtc, what)) m["until"] = *u;
  if (m.contains("count") && m.contains("until")) throw FormatError(what, "both count and until");
  if (const json* days = member(r, "byDay"); days != nullptr) {
    if (!days->is_array()) throw FormatError(what, "byDay must be an array");
    json out = json::array();
    for (const json& d : *days) {
      json nd{{"day", req_string(d, "day", what)}};
      if (auto n = opt_int(d, "nthOfPeriod", what)) nd["nth_of_period"] = *n;
      out.push_back(nd);
    }
    if (!out.empty()) m["by_day"] = out;
  }
  for (const auto& [name, field] : list_members()) {
    const json* v = member(r, name);
    if (v == nullptr) continue;
    if (!v->is_array()) throw FormatError(what, std::string(name) + " must be an array");
    for (const json& x : *v) {
      if (std::string_view(name) == "byMonth" ? !x.is_string() : !x.is_number_integer())
        throw FormatError(what, std::string("bad ") + name);
    }
    if (!v->empty()) m[field] = *v;
  }
  return m;
}

json rule_from_model(const json& m, const std::optional<std::string>& zone, std::vector<std::string>& lost) {
  json r{{"@type", "RecurrenceRule"}, {"frequency", m["frequency"]}};
  for (const auto& [field, name] : {std::pair{"interval", "interval"}, std::pair{"count", "count"},
                                    std::pair{"rscale", "rscale"}, std::pair{"skip", "skip"},
                                    std::pair{"first_day_of_week", "firstDayOfWeek"}}) {
    if (m.contains(field)) r[name] = m[field];
  }
  if (auto u = model_string(m, "until")) {
    if (u->size() == 10) {
      r["until"] = *u + "T00:00:00";
    } else if (u->back() == 'Z') {
      if (zone == kUtcZone) {
        r["until"] = u->substr(0, u->size() - 1);
      } else {
        r[kUntilUtc] = *u;
        lost.push_back("recurrence_rules.until");
      }
    } else {
      r["until"] = *u;
    }
  }
  if (m.contains("by_day")) {
    json days = json::array();
    for (const json& d : m["by_day"]) {
      json nd{{"@type", "NDay"}, {"day", d["day"]}};
      if (d.contains("nth_of_period")) nd["nthOfPeriod"] = d["nth_of_period"];
      days.push_back(nd);
    }
    r["byDay"] = days;
  }
  for (const auto& [name, field] : list_members()) {
    if (m.contains(field)) r[name] = m[field];
  }
  return r;
}

// ---- participants (RFC 8984 §4.4.6) <-> the model's ----

// Where a Participant can be reached, as the model's address: its sendTo "imip" (a mailto:
// URI), else its sendTo "other", else its email as a mailto: URI. None when it has neither.
std::optional<std::string> participant_address(const json& p, const std::string& what) {
  if (const json* to = member(p, "sendTo"); to != nullptr) {
    if (!to->is_object()) throw FormatError(what, "a participant's sendTo must be an object");
    if (auto v = opt_string(*to, "imip", what)) return canonical_address(*v);
    if (auto v = opt_string(*to, "other", what)) return canonical_address(*v);
  }
  if (auto email = opt_string(p, "email", what)) return "mailto:" + *email;
  return std::nullopt;
}

// The address of each participant that can be reached, by its id: what the ids in other
// participants' delegatedTo, delegatedFrom and memberOf stand for (RFC 8984 §4.4.6).
using AddressesById = std::map<std::string, std::string, std::less<>>;

AddressesById addresses_by_id(const json& ps, const std::string& what) {
  AddressesById out;
  for (const auto& [id, p] : ps.items()) {
    if (auto address = participant_address(p, what); address && !address->empty())
      out.emplace(id, std::move(*address));
  }
  return out;
}

// The members of a Participant that name other participants by id, as Id[Boolean] maps, and
// the model's lists of their addresses.
constexpr std::pair<std::string_view, const char*> kParticipantRefs[] = {
    {"delegatedTo", "delegated_to"}, {"delegatedFrom", "delegated_from"},
    {"memberOf", "member_of"}};

// The participants that `p`'s member `key` names (the ids set to true): the addresses of those
// in `ids`, and whether it names one that is not there (or cannot be reached).
struct Referred {
  json addresses = json::array();
  bool unknown = false;
};

Referred referred(const json& p, std::string_view key, const AddressesById& ids,
                  const std::string& what) {
  Referred out;
  const json* refs = member(p, key);
  if (refs == nullptr || refs->is_null()) return out;
  if (!refs->is_object())
    throw FormatError(what, "a participant's " + std::string(key) + " must be an Id[Boolean] map");
  for (const auto& [id, flag] : refs->items()) {
    if (flag != true) continue;
    if (const auto it = ids.find(id); it != ids.end()) {
      out.addresses.push_back(it->second);
    } else {
      out.unknown = true;
    }
  }
  return out;
}

// The e-mail address a mailto: URI holds, when it holds exactly one and no header fields
// (RFC 6068 §2: "?" starts them, "," separates addresses); none for any other address.
std::optional<std::string> mailbox_of(std::string_view address) {
  constexpr std::string_view kMailto = "mailto:";
  if (!address.starts_with(kMailto)) return std::nullopt;
  address.remove_prefix(kMailto.size());
  if (address.empty() || address.find_first_of("?,") != std::string_view::npos)
    return std::nullopt;
  return std::string(address);
}

// One Participant as the model holds it; none when it cannot be reached (not_read names it).
std::optional<json> participant_model(const json& p, const AddressesById& ids,
                                      const std::string& what) {
  if (!p.is_object()) throw FormatError(what, "a participant must be an object");
  const auto address = participant_address(p, what);
  if (!address || address->empty()) return std::nullopt;
  json q = empty_participant();
  q["address"] = *address;
  q["name"] = str_or_null(opt_string(p, "name", what));
  for (const auto& [key, field] : kParticipantRefs) {
    q[field] = referred(p, key, ids, what).addresses;
  }
  // RFC 8984 §4.4.6: sentBy is the e-mail address that last updated the participant.
  if (auto s = opt_string(p, "sentBy", what); s && !s->empty()) q["sent_by"] = "mailto:" + *s;
  if (auto k = opt_string(p, "kind", what); k && among(kParticipantKinds, *k)) q["kind"] = *k;
  if (const json* roles = member(p, "roles"); roles != nullptr) {
    if (!roles->is_object()) throw FormatError(what, "a participant's roles must be a map");
    for (const auto& [role, flag] : roles->items()) {
      if (flag == true && among(kParticipantRoles, role)) q["roles"].push_back(role);
    }
  }
  if (auto s = opt_string(p, "participationStatus", what);
      s && among(kParticipationStatuses, *s))
    q["status"] = *s;
  if (const json* x = member(p, "expectReply"); x != nullptr) {
    if (!x->is_boolean()) throw FormatError(what, "expectReply must be a boolean");
    q["expect_reply"] = *x;
  }
  return q;
}

void participants_to_model(const json& e, json& m, const std::string& what) {
  const json* ps = member(e, "participants");
  if (ps == nullptr) return;
  if (!ps->is_object()) throw FormatError(what, "participants must be an Id[Participant] map");
  const AddressesById ids = addresses_by_id(*ps, what);
  for (const auto& [id, p] : ps->items()) {
    if (auto q = participant_model(p, ids, what)) add_participant(m["participants"], std::move(*q));
  }
}

// ---- alerts (RFC 8984 §4.5.2) <-> the model's ----

// Whether an alert's trigger is an AbsoluteTrigger: by its @type, or, without one, by its
// members (a `when` and no `offset`).
bool absolute_trigger(const json& t) {
  const auto type = opt_string(t, "@type", "");
  return type ? *type == "AbsoluteTrigger"
              : member(t, "when") != nullptr && member(t, "offset") == nullptr;
}

// Why an Alert is not carried: a trigger the model has no field for (an UnknownTrigger, an
// offset that is no RFC 5545 duration, such as a week and days together or a fraction of a
// second) or an action it has no value for. Empty for one that alert_model reads.
std::string alert_unread(const json& a) {
  const json& t = a["trigger"];
  const auto type = opt_string(t, "@type", "");
  if (!absolute_trigger(t)) {
    const auto offset = opt_string(t, "offset", "");
    if ((type && *type != "OffsetTrigger") || !offset || !valid_duration(*offset))
      return "alerts.trigger";
  }
  const auto action = opt_string(a, "action", "");
  if (action && *action != "display" && *action != "email") return "alerts.action";
  return {};
}

// One Alert as the model holds it; none when alert_unread names why not.
std::optional<json> alert_model(const json& a, const std::string& what) {
  if (!a.is_object()) throw FormatError(what, "an alert must be an object");
  const json* t = member(a, "trigger");
  if (t == nullptr || !t->is_object()) throw FormatError(what, "an alert needs a trigger object");
  for (const char* key : {"@type", "offset", "relativeTo", "when"}) opt_string(*t, key, what);
  opt_string(a, "action", what);
  if (!alert_unread(a).empty()) return std::nullopt;
  json m = empty_alert();
  m["action"] = opt_string(a, "action", what).value_or("display");
  if (absolute_trigger(*t)) {
    const auto when = opt_string(*t, "when", what);
    if (!when || !is_utc_date_time(*when))
      throw FormatError(what, "an AbsoluteTrigger's when must be a UTCDateTime");
    m["at"] = *when;
  } else {
    const std::string offset = *opt_string(*t, "offset", what);  // alert_unread checked it
    m["offset"] = offset[0] == '+' ? offset.substr(1) : offset;
    const std::string related = opt_string(*t, "relativeTo", what).value_or("start");
    if (related != "start" && related != "end")
      throw FormatError(what, "an alert's relativeTo must be start or end");
    m["relative_to"] = related;
  }
  if (auto ack = opt_string(a, "acknowledged", what)) {
    if (!is_utc_date_time(*ack)) throw FormatError(what, "acknowledged must be a UTCDateTime");
    m["acknowledged"] = *ack;
  }
  return m;
}

void alerts_to_model(const json& e, json& m, const std::string& what) {
  const json* alerts = member(e, "alerts");
  if (alerts == nullptr) return;
  if (!alerts->is_object()) throw FormatError(what, "alerts must be an Id[Alert] map");
  for (const auto& [id, a] : alerts->items()) {
    if (auto q = alert_model(a, what)) m["alerts"].push_back(std::move(*q));
  }
  sort_alerts(m["alerts"]);
}

// The model's alerts as an Id[Alert] map. JSCalendar alerts have no text or recipients of
// their own (a client shows the event, or mails its participants), and no sound.
json alerts_from_model(const json& alerts, std::vector<std::string>& lost) {
  json out = json::object();
  int n = 0;
  for (const json& a : alerts) {
    json trigger;
    if (auto at = model_string(a, "at")) {
      trigger = {{"@type", "AbsoluteTrigger"}, {"when", *at}};
    } else {
      trigger = {{"@type", "OffsetTrigger"}, {"offset", a["offset"]}};
      if (a["relative_to"] == "end") trigger["relativeTo"] = "end";
    }
    json o{{"@type", "Alert"}, {"trigger", trigger}};
    if (a["action"] == "email") o["action"] = "email";
    if (a["action"] == "audio") lost.push_back("alerts.action");  // written as a display alert
    if (auto t = model_string(a, "acknowledged")) o["acknowledged"] = *t;
    for (const char* text : {"description", "summary"}) {
      if (!a[text].get_ref<const std::string&>().empty())
        lost.push_back(std::string("alerts.") + text);
    }
    if (!a["recipients"].empty()) lost.push_back("alerts.recipients");
    out[std::to_string(++n)] = o;
  }
  return out;
}

// ---- what an Event holds that the model has no field for (Format::to_model's not_read) ----

// The members to_model reads. Anything else is reported, so a member nobody has heard of is
// not dropped silently either.
constexpr std::string_view kEventMembers[] = {
    "@type", "alerts", "created", "description", "duration", "freeBusyStatus", "keywords", "links",
    "locations", "participants", "recurrenceId", "recurrenceIdTimeZone", "recurrenceOverrides",
    "recurrenceRules", "replyTo", "sequence", "showWithoutTime", "start", "status", "timeZone",
    "title", "uid", "updated"};
constexpr std::string_view kParticipantMembers[] = {
    "@type", "delegatedFrom", "delegatedTo", "email", "expectReply", "kind", "memberOf", "name",
    "participationStatus", "roles", "sendTo", "sentBy"};
constexpr std::string_view kRuleMembers[] = {
    "@type", "byDay", "byHour", "byMinute", "byMonth", "byMonthDay", "bySecond",
    "bySetPosition", "byWeekNo", "byYearDay", "count", "firstDayOfWeek", "frequency",
    "infobank:untilUtc", "interval", "rscale", "skip", "until"};
constexpr std::string_view kAlertMembers[] = {"@type", "acknowledged", "action", "trigger"};
constexpr std::string_view kOffsetTriggerMembers[] = {"@type", "offset", "relativeTo"};
constexpr std::string_view kAbsoluteTriggerMembers[] = {"@type", "when"};
constexpr std::string_view kNDayMembers[] = {"@type", "day", "nthOfPeriod"};
constexpr std::string_view kLocationMembers[] = {"@type", "name"};
constexpr std::string_view kLinkMembers[] = {"@type", "href"};
// The model keeps one location and one link (those to_model picks); the others are reported
// whole, as "locations" / "links", and unread members of the one kept by their path.
void list_first_only(const json& map, const json* kept, const std::string& name,
                     std::span<const std::string_view> read, NotRead& out) {
  if (!map.is_object()) {
    out.add(name);
    return;
  }
  for (const auto& [key, v] : map.items()) {
    if (&v == kept) {
      out.members(v, read, name);
    } else if (holds_data(v)) {
      out.add(name);
    }
  }
}

// Whether `uri` is where a participant of `e` with the owner role is reached.
bool is_owner_address(const json& e, const json& uri) {
  const json* ps = member(e, "participants");
  if (ps == nullptr || !ps->is_object() || !uri.is_string()) return false;
  for (const auto& [id, p] : ps->items()) {
    const json* roles = member(p, "roles");
    const json* owner = roles != nullptr ? member(*roles, "owner") : nullptr;
    if (owner != nullptr && *owner == true &&
        participant_address(p, "") == canonical_address(uri.get<std::string>()))
      return true;
  }
  return false;
}

// The member that says each field of a participant that participant_conflicts compares.
constexpr std::pair<std::string_view, std::string_view> kSaidOnceMembers[] = {
    {"name", "name"}, {"kind", "kind"}, {"status", "participationStatus"},
    {"sent_by", "sentBy"}};

// What participants_to_model does not keep, by path: a participant that cannot be reached
// ("participants"), members it does not read, sendTo methods and an email beside the address
// it took, roles, kinds and statuses the model has no value for, and ids in its delegatedTo,
// delegatedFrom or memberOf of no participant that can be reached, by the participant's id
// ("participants.a.delegatedTo").
void list_participants(const json& ps, NotRead& out) {
  const std::string path = "participants";
  const AddressesById ids = addresses_by_id(ps, path);
  json merged = json::array();  // as to_model merges them, to see what a merge leaves out
  for (const auto& [id, p] : ps.items()) {
    const auto found = ids.find(id);
    if (found == ids.end()) {
      if (holds_data(p)) out.add(path);
      continue;
    }
    const std::string& address = found->second;
    // A second participant at an address that says its name, kind or status differently.
    json one = *participant_model(p, ids, path);
    for (const std::string& field : participant_conflicts(merged, one)) {
      const auto* it = std::ranges::find(kSaidOnceMembers, field,
                                         &std::pair<std::string_view, std::string_view>::first);
      out.add(path + "." + std::string(it->second));
    }
    add_participant(merged, std::move(one));
    out.members(p, kParticipantMembers, path);
    for (const auto& [key, field] : kParticipantRefs) {
      if (referred(p, key, ids, path).unknown) out.add(path + "." + id + "." + std::string(key));
    }
    if (const json* to = member(p, "sendTo"); to != nullptr) {
      for (const auto& [method, uri] : to->items()) {
        if (!uri.is_string() || canonical_address(uri.get<std::string>()) != address)
          out.add(path + ".sendTo");
      }
    }
    if (auto email = opt_string(p, "email", path); email && "mailto:" + *email != address)
      out.add(path + ".email");
    if (const json* roles = member(p, "roles"); roles != nullptr) {
      for (const auto& [role, flag] : roles->items()) {
        if (flag == true && !among(kParticipantRoles, role)) out.add(path + ".roles");
      }
    }
    if (auto k = opt_string(p, "kind", path); k && !among(kParticipantKinds, *k))
      out.add(path + ".kind");
    if (auto s = opt_string(p, "participationStatus", path);
        s && !among(kParticipationStatuses, *s))
      out.add(path + ".participationStatus");
  }
}

// Names what an Event holds that the model has no field for, in member order (a parsed object
// keeps its members sorted by name). Runs after to_model read the event, so every part checked
// here has the shape to_model required.
void list_not_read(const json& e, NotRead& out) {
  for (const auto& [key, v] : e.items()) {
    if (!holds_data(v)) continue;
    if (!among(kEventMembers, key)) {
      out.add(key);
    } else if (key == "locations") {
      // The first location with a name, as to_model picks it.
      const json* kept = nullptr;
      if (v.is_object()) {
        for (const auto& [id, loc] : v.items()) {
          if (const json* n = member(loc, "name"); n != nullptr && n->is_string()) {
            kept = &loc;
            break;
          }
        }
      }
      list_first_only(v, kept, key, kLocationMembers, out);
    } else if (key == "links") {
      // The first link, as to_model reads it (v is not empty: checked above).
      list_first_only(v, v.is_object() ? &v.begin().value() : nullptr, key, kLinkMembers, out);
    } else if (key == "recurrenceRules") {
      for (const json& rule : v) {
        out.members(rule, kRuleMembers, key);
        if (const json* days = member(rule, "byDay"); days != nullptr) {
          for (const json& d : *days) out.members(d, kNDayMembers, key + ".byDay");
        }
      }
    } else if (key == "participants") {
      list_participants(v, out);
    } else if (key == "alerts") {
      for (const auto& [id, a] : v.items()) {
        if (const std::string why = alert_unread(a); !why.empty()) {
          out.add(why);
          continue;
        }
        out.members(a, kAlertMembers, key);
        const json& t = a["trigger"];
        out.members(t,
                    absolute_trigger(t) ? std::span<const std::string_view>(kAbsoluteTriggerMembers)
                                        : std::span<const std::string_view>(kOffsetTriggerMembers),
                    key + ".trigger");
      }
    } else if (key == "replyTo") {
      // Read as the owner's address, which the model keeps; another is named.
      bool owners_only = v.is_object();
      if (owners_only) {
        for (const auto& [method, uri] : v.items()) {
          owners_only = owners_only && is_owner_address(e, uri);
        }
      }
      if (!owners_only) out.add(key);
    } else if (key == "recurrenceOverrides") {
      // The model keeps added instances ({}) and excluded ones; any other patch changes an
      // instance, which it cannot hold.
      for (const auto& [id, patch] : v.items()) {
        const json* excluded = member(patch, "excluded");
        if (!patch.empty() && (excluded == nullptr || *excluded != true)) {
          out.add(key);
          break;
        }
      }
    }
  }
}

std::optional<std::string> utc_date_time(const json& e, const char* key, const std::string& what) {
  auto s = opt_string(e, key, what);
  if (!s) return std::nullopt;
  const auto dt = parse_rfc3339(*s);
  // RFC 8984 §1.4.4: UTCDateTime ends in "Z".
  if (!dt || !dt->utc) throw FormatError(what, std::string(key) + " must be a UTCDateTime");
  return s;
}

// The Group's own bookkeeping, read rather than listed by split: its uid, the product that
// wrote it and when it last changed (join writes its own uid). Any other member holding
// something (the calendar's title, description, color, links ...) is named by its path from
// "Group", so that it is not mistaken for an Event's.
constexpr std::string_view kGroupRead[] = {"@type", "entries", "prodId", "uid", "updated"};

class JsCalendar final : public Format {
 public:
  std::string_view name() const override { return "jscalendar"; }
  Dataset dataset() const override { return Dataset::calendar_events; }
  std::string_view media_type() const override { return "application/jscalendar+json"; }

  std::vector<NativeItem> split(std::string_view document,
                                std::vector<std::string>* not_read) const override {
    const json doc = parse_json(document, "document");
    const json* entries = &doc;
    if (doc.is_object()) {
      // RFC 8984 §2.3: a Group holds its members in "entries".
      if (opt_string(doc, "@type", "document") != "Group")
        throw FormatError("document", "expected a JSCalendar Group");
      entries = member(doc, "entries");
      if (entries == nullptr || !entries->is_array())
        throw FormatError("document", "Group has no entries array");
    } else if (!doc.is_array()) {
      throw FormatError("document", "expected a Group or an array of Events");
    }
    json events = json::array();
    std::size_t position = 0;
    for (const json& e : *entries) {
      ++position;
      const std::string where = "item " + std::to_string(position);
      if (!e.is_object()) throw FormatError(where, "not an object");
      const auto type = opt_string(e, "@type", where);
      if (!type) throw FormatError(where, "no @type");
      // Tasks and nested Groups are not events.
      if (*type == "Event") events.push_back(e);
    }
    auto items = split_items(events, [](const json& e) { return event_id(e, ""); });
    // Last, so that a document refused above adds nothing to the list.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      if (doc.is_object()) out.members(doc, kGroupRead, "Group");
      // The entries that are not Events, by their @type ("Task", "Group"): checked above.
      for (const json& e : *entries) {
        const auto& type = e.at("@type").get_ref<const std::string&>();
        if (type != "Event") out.add(type);
      }
    }
    return items;
  }

  std::string join(const std::vector<NativeItem>& items) const override {
    std::string ids;
    for (const NativeItem& item : items) ids += item.id + "\n";
    return join_items(R"({"@type":"Group","uid":"urn:infobank:jscalendar:)" + sha256_hex(ids) +
                          R"(","entries":[)",
                      items, "]}");
  }

  Item to_model(const NativeItem& item, std::vector<std::string>* not_read) const override {
    const std::string what = item.id.empty() ? "item" : item.id;
    const json e = parse_item(item);
    if (opt_string(e, "@type", what) != "Event") throw FormatError(what, "not a JSCalendar Event");
    json m = empty_event();
    m["uid"] = req_string(e, "uid", what);
    const std::string start = req_string(e, "start", what);
    if (!is_local_date_time(start)) throw FormatError(what, "start is not a LocalDateTime (RFC 8984 §1.4.4)");
    m["start"] = start;
    m["time_zone"] = str_or_null(opt_string(e, "timeZone", what));
    if (const json* b = member(e, "showWithoutTime"); b != nullptr) {
      if (!b->is_boolean()) throw FormatError(what, "showWithoutTime must be a boolean");
      m["all_day"] = *b;
    }
    const bool all_day = m["all_day"].get<bool>();
    m["duration"] = opt_string(e, "duration", what).value_or("PT0S");
    // An RFC 8984 Duration; an unsigned one RFC 5545's reader takes too (the model's from an
    // iCalendar file, written here as it came) also reads.
    if (const std::string d = m["duration"].get<std::string>();
        !valid_jscalendar_duration(d) && !(valid_duration(d) && d[0] == 'P'))
      throw FormatError(what, "duration is not an RFC 8984 Duration: " + d);
    m["title"] = opt_string(e, "title", what).value_or("");
    m["description"] = opt_string(e, "description", what).value_or("");
    if (auto r = opt_string(e, "recurrenceId", what)) {
      // RFC 8984 §4.3.2: recurrenceIdTimeZone is the master's zone. The model's recurrence_id
      // is in the instance's own zone, or "…Z" in UTC (as RECURRENCE-ID in iCalendar).
      const auto rz = opt_string(e, "recurrenceIdTimeZone", what);
      if (!rz || json(*rz) == m["time_zone"]) {
        m["recurrence_id"] = *r;
      } else if (*rz == kUtcZone && is_local_date_time(*r)) {
        m["recurrence_id"] = *r + "Z";
      } else {
        throw FormatError(what, "recurrenceIdTimeZone differs from timeZone (not supported)");
      }
    }
    if (auto s = opt_string(e, "status", what)) {
      if (*s != "confirmed" && *s != "tentative" && *s != "cancelled")
        throw FormatError(what, "bad status " + *s);
      m["status"] = *s;
    }
    if (auto n = opt_int(e, "sequence", what)) m["sequence"] = *n;
    if (auto f = opt_string(e, "freeBusyStatus", what)) {
      if (*f != "free" && *f != "busy") throw FormatError(what, "bad freeBusyStatus " + *f);
      m["free_busy"] = *f;
    }
    if (const json* k = member(e, "keywords"); k != nullptr) {
      if (!k->is_object()) throw FormatError(what, "keywords must be a String[Boolean] map");
      for (const auto& [word, flag] : k->items()) {
        if (flag != true) throw FormatError(what, "keywords values must be true");
        m["categories"].push_back(word);
      }
    }
    if (const json* locs = member(e, "locations"); locs != nullptr && locs->is_object()) {
      for (const auto& [key, loc] : locs->items()) {
        if (auto n = opt_string(loc, "name", what)) {
          m["location"] = *n;
          break;
        }
      }
    }
    if (const json* links = member(e, "links"); links != nullptr && links->is_object()) {
      for (const auto& [key, link] : links->items()) {
        m["url"] = req_string(link, "href", what);
        break;
      }
    }
    if (const json* rules = member(e, "recurrenceRules"); rules != nullptr) {
      if (!rules->is_array()) throw FormatError(what, "recurrenceRules must be an array");
      for (const json& r : *rules) m["recurrence_rules"].push_back(rule_to_model(r, all_day, what));
    }
    if (const json* ov = member(e, "recurrenceOverrides"); ov != nullptr) {
      if (!ov->is_object()) throw FormatError(what, "recurrenceOverrides must be an object");
      for (const auto& [key, patch] : ov->items()) {
        if (!is_local_date_time(key)) throw FormatError(what, "override key is not a LocalDateTime: " + key);
        if (!patch.is_object()) throw FormatError(what, "override must be a PatchObject");
        if (patch.empty()) {
          m["recurrence_dates"].push_back(key);  // RFC 8984 §4.3.5: an empty patch adds an instance
        } else if (member(patch, "excluded") != nullptr && *member(patch, "excluded") == true) {
          m["excluded_dates"].push_back(key);
        }
        // Other patches (changed instances) are not carried by the model.
      }
    }
    participants_to_model(e, m, what);
    alerts_to_model(e, m, what);
    m["created"] = str_or_null(utc_date_time(e, "created", what));
    m["updated"] = str_or_null(utc_date_time(e, "updated", what));
    sort_unique(m["categories"]);
    sort_unique(m["recurrence_dates"]);
    sort_unique(m["excluded_dates"]);
    // Last, so that an item refused above adds nothing to the list.
    if (not_read != nullptr) {
      NotRead out(*not_read);
      list_not_read(e, out);
    }
    return m;
  }

  Converted from_model(const Item& item) const override {
    const std::string uid = check_event(item);
    Converted out;
    auto& lost = out.not_carried;
    const auto zone = model_string(item, "time_zone");
    json e{{"@type", "Event"}, {"uid", uid}, {"start", item["start"]}};
    if (zone) e["timeZone"] = *zone;
    if (item["all_day"].get<bool>()) e["showWithoutTime"] = true;
    if (auto d = model_string(item, "duration"); d && *d != "PT0S") e["duration"] = *d;
    if (item["end"].is_object()) lost.push_back("end");
    for (const char* key : {"title", "description"}) {
      if (const std::string s = item[key].get<std::string>(); !s.empty()) e[key] = s;
    }
    if (auto r = model_string(item, "recurrence_id")) {
      // RFC 8984 §4.3.2: recurrenceIdTimeZone MUST be set when the master has a timeZone.
      if (r->back() == 'Z') {
        e["recurrenceId"] = r->substr(0, r->size() - 1);
        e["recurrenceIdTimeZone"] = kUtcZone;
      } else {
        e["recurrenceId"] = *r;
        if (zone) e["recurrenceIdTimeZone"] = *zone;
      }
    }
    if (auto s = model_string(item, "status")) e["status"] = *s;
    if (const auto seq = item["sequence"].get<std::int64_t>(); seq != 0) e["sequence"] = seq;
    if (auto f = model_string(item, "free_busy")) e["freeBusyStatus"] = *f;
    if (!item["categories"].empty()) {
      json k = json::object();
      for (const json& c : item["categories"]) k[c.get<std::string>()] = true;
      e["keywords"] = k;
    }
    if (auto l = model_string(item, "location"))
      e["locations"] = {{"1", {{"@type", "Location"}, {"name", *l}}}};
    if (auto u = model_string(item, "url")) e["links"] = {{"1", {{"@type", "Link"}, {"href", *u}}}};
    if (!item["recurrence_rules"].empty()) {
      json rules = json::array();
      for (const json& r : item["recurrence_rules"]) rules.push_back(rule_from_model(r, zone, lost));
      e["recurrenceRules"] = rules;
    }
    json overrides = json::object();
    for (const auto& [key, patch] : {std::pair{"recurrence_dates", json::object()},
                                     std::pair{"excluded_dates", json{{"excluded", true}}}}) {
      for (const json& d : item[key]) {
        const std::string s = d.get<std::string>();
        if (s.back() == 'Z') {
          lost.push_back(key);  // a UTC instant in a zoned event: no tz database to convert
          continue;
        }
        overrides[s] = patch;
      }
    }
    if (!overrides.empty()) e["recurrenceOverrides"] = overrides;
    if (!item["participants"].empty()) {
      json ps = json::object();
      std::optional<std::string> reply_to;
      // Each participant's id (its position): what delegatedTo, delegatedFrom and memberOf
      // name it by.
      std::map<std::string, std::string> id_of;
      int n = 0;
      for (const json& p : item["participants"]) {
        id_of.emplace(p["address"].get<std::string>(), std::to_string(++n));
      }
      n = 0;
      for (const json& p : item["participants"]) {
        const std::string address = p["address"].get<std::string>();
        // check_event saw the scheme in lower case (RFC 3986 §3.1: the model's one form).
        const bool mail = address.size() > 7 && address.starts_with("mailto:");
        json o{{"@type", "Participant"}, {"sendTo", {{mail ? "imip" : "other", address}}}};
        for (const auto& [key, field] : kParticipantRefs) {
          json refs = json::object();
          for (const json& a : p[field]) {
            if (const auto it = id_of.find(a.get_ref<const std::string&>()); it != id_of.end()) {
              refs[it->second] = true;
            } else {
              lost.push_back(std::string("participants.") + field);  // not in this event
            }
          }
          if (!refs.empty()) o[key] = refs;
        }
        if (auto s = model_string(p, "sent_by")) {
          if (auto mailbox = mailbox_of(*s)) {
            o["sentBy"] = *mailbox;
          } else {
            lost.push_back("participants.sent_by");  // sentBy is an e-mail address
          }
        }
        if (auto name = model_string(p, "name")) o["name"] = *name;
        if (auto kind = model_string(p, "kind")) o["kind"] = *kind;
        json roles = json::object();
        for (const json& r : p["roles"]) roles[r.get<std::string>()] = true;
        o["roles"] = roles;
        if (auto s = model_string(p, "status")) o["participationStatus"] = *s;
        if (p["expect_reply"] == true) o["expectReply"] = true;
        if (roles.contains("owner") && mail && !reply_to) reply_to = address;
        ps[std::to_string(++n)] = o;
      }
      e["participants"] = ps;
      // §4.4.4: where replies go, the owner's address.
      if (reply_to) e["replyTo"] = {{"imip", *reply_to}};
    }
    if (!item["alerts"].empty()) e["alerts"] = alerts_from_model(item["alerts"], lost);
    for (const char* key : {"created", "updated"}) {
      if (auto t = model_string(item, key)) e[key] = *t;
    }
    if (model_string(item, "timestamp")) lost.push_back("timestamp");
    std::sort(lost.begin(), lost.end());
    lost.erase(std::unique(lost.begin(), lost.end()), lost.end());
    out.native = {event_id(e, uid), dump(e)};
    return out;
  }
};

}  // namespace

const Format& jscalendar_format() {
  static const JsCalendar format;
  return format;
}

}  // namespace portability::detail
