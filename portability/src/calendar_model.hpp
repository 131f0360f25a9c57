#pragma once

// Private: the calendar_events model (docs/portability.md, "The common model").

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_exact.hpp"

namespace portability::detail {

constexpr const char* kUtcZone = "Etc/UTC";

/// An event with every model field present (defaults where the formats define them).
json empty_event();
/// Throws FormatError unless `item` has the calendar_events shape; returns its uid.
std::string check_event(const json& item);
/// Sorts and de-duplicates a JSON array of strings (the model keeps sets in this order).
void sort_unique(json& array);
/// A participant with every model field present: address (a URI, mailto: for e-mail), name,
/// kind (individual, group, resource, location), roles (owner, attendee, optional, chair,
/// informational), status (needs-action, accepted, declined, tentative, delegated),
/// expect_reply, delegated_to and delegated_from (the addresses it handed its participation to
/// or was handed it by, sorted), sent_by (the address of who acts on its behalf, or null) and
/// member_of (the addresses of the groups it is in, sorted).
json empty_participant();
/// The length of `text`'s URI scheme (RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ),
/// followed by ':'); 0 when it does not start with one.
std::size_t scheme_length(std::string_view text);
/// A participant address in the model's one form: as written, but its scheme in lower case
/// (RFC 3986 §3.1: schemes are case-insensitive), so that "MAILTO:ann@example.org" and
/// "mailto:ann@example.org" are one participant. Text without a scheme is kept as it is.
std::string canonical_address(std::string address);
/// Adds `p` to the model's participants, kept sorted by address with one entry per address
/// (a second entry for an address adds its roles, delegates and groups, and what the first
/// left unsaid).
void add_participant(json& participants, json p);
/// What add_participant(participants, p) would leave out: the fields (name, kind, status,
/// sent_by) that `p` and the participant already there for its address both say, differently.
std::vector<std::string> participant_conflicts(const json& participants, const json& p);
/// The participation statuses of RFC 8984 §4.4.6, which RFC 5545's PARTSTAT for a VEVENT names
/// in upper case.
inline constexpr std::string_view kParticipationStatuses[] = {
    "accepted", "declined", "delegated", "needs-action", "tentative"};
/// A participant's roles and kinds the model knows (RFC 8984 §4.4.6's, less "contact").
inline constexpr std::string_view kParticipantRoles[] = {"attendee", "chair", "informational",
                                                         "optional", "owner"};
inline constexpr std::string_view kParticipantKinds[] = {"group", "individual", "location",
                                                         "resource"};
/// An alert with every model field present: action (display, email, audio), when it fires:
/// `offset` (a signed duration from the event's start or end, `relative_to`) or `at` (a UTC
/// time), `acknowledged` (UTC, or null), and what it says: `description` (the text shown or
/// mailed), `summary` (an e-mail's subject) and `recipients` (an e-mail's addresses, sorted).
json empty_alert();
/// The alert actions the model knows (RFC 5545 §3.8.6.1's, less the deprecated PROCEDURE).
inline constexpr std::string_view kAlertActions[] = {"audio", "display", "email"};
/// Puts the model's alerts in their canonical order (a set in JSCalendar, a sequence of
/// VALARMs in iCalendar: the model keeps them sorted so that both give the same model).
void sort_alerts(json& alerts);
/// True for an RFC 5545 §3.3.6 duration, signed or not ("-PT15M", "P1W", "+P1DT2H").
bool valid_duration(const std::string& d);
/// RFC 8984 §1.4.6 Duration (unsigned): "P" (dur-cal [dur-time] / dur-time), where dur-cal
/// is weeks with optional days, or days, and seconds may have a fraction (without trailing
/// zeros). It allows what RFC 5545 does not: weeks with days or a time, and fractions.
bool valid_jscalendar_duration(const std::string& d);
/// An RFC 8984 duration as RFC 5545 can hold it: weeks folded into days (P1W2D is P9D), and
/// a fraction of a second dropped (`fraction_dropped` set). nullopt if `d` is not one.
std::optional<std::string> rfc5545_duration(const std::string& d, bool& fraction_dropped);
/// True for "YYYY-MM-DDTHH:MM:SS" with an optional ".fraction" (RFC 8984 §1.4.4).
bool is_local_date_time(const std::string& s);
/// True for an RFC 8984 UTCDateTime, "YYYY-MM-DDTHH:MM:SS[.fraction]Z".
bool is_utc_date_time(const std::string& s);

}  // namespace portability::detail
