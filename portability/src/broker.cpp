// The portability broker's state machine. Each step reads what storage says, does one remote
// call (or one page: export, convert, import), and commits its result together with its audit
// entry before the next step starts. Nothing is kept only in memory across steps, which is
// what lets a process killed at any instant resume where storage says it was.

#include "portability/broker.hpp"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <cmath>
#include <exception>
#include <deque>
#include <future>
#include <pthread.h>
#include <set>
#include <utility>

#include "not_read.hpp"
#include "portability/formats.hpp"
#include "util.hpp"

namespace portability {
namespace {

constexpr std::string_view kApi = "/portability/v1";
constexpr std::string_view kExportScope = "portability.export";
constexpr std::string_view kImportScope = "portability.import";
constexpr std::string_view kDeleteScope = "portability.delete";
constexpr std::size_t kMaxErrorText = 300;

// A step that did not complete. `retry`: the service may answer next time (5xx, 429, a
// timeout, a cut connection). `fatal`: it will not (other 4xx, a broken item, a mismatch).
struct StepFailure {
  bool retry = false;
  std::string reason;
};

// The run lost its lease (another node took the transfer over) or the broker is stopping.
struct Interrupted {};

std::string encode(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string api_base(const storage::ServiceRecord& service) {
  std::string base = service.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + std::string(kApi);
}

// "dataset:format" of a service's dataset list.
std::optional<std::string> format_of(const storage::ServiceRecord& service,
                                     std::string_view dataset) {
  for (const auto& entry : service.datasets) {
    const auto colon = entry.find(':');
    if (colon != std::string::npos && std::string_view(entry).substr(0, colon) == dataset)
      return entry.substr(colon + 1);
  }
  return std::nullopt;
}

std::string shorten(std::string text) {
  if (text.size() > kMaxErrorText) text = text.substr(0, kMaxErrorText) + "...";
  return text;
}

// What a service said when it refused: its RFC 6749-style error and description when the body
// is one, else the status alone. Bodies may echo data, so only those two fields are kept.
std::string refusal(const HttpResponse& response) {
  std::string text = "HTTP " + std::to_string(response.status);
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object()) {
    if (body.contains("error") && body["error"].is_string())
      text += " " + body["error"].get<std::string>();
    if (body.contains("error_description") && body["error_description"].is_string())
      text += ": " + body["error_description"].get<std::string>();
  }
  return shorten(text);
}

bool retryable_status(int status) { return status >= 500 || status == 429 || status == 408; }

// One exported page as it will be imported: the destination's items, the digest over the
// model as the destination will read them back (its own to_model of what is sent, so that
// verify compares like with like), what the destination cannot carry, what the source's
// items held that the model has no field for, and the page's bytes
// as the source counts them (its items' native text, not the page's wrapper, so that progress
// reads against the source's announced total).
struct ConvertedPage {
  std::vector<NativeItem> items;
  Digest digest;
  std::set<std::string> not_carried;
  std::set<std::string> not_read;
  std::int64_t item_bytes = 0;
};

// Pure: no storage, no network, so it may run ahead on another thread. Throws FormatError.
ConvertedPage convert_page(const Format& from, const Format& to, std::string_view body) {
  ConvertedPage page;
  std::vector<std::string> not_read;
  auto gather = [&] {
    for (auto& part : not_read) page.not_read.insert(std::move(part));
    not_read.clear();
  };
  // What the page holds outside its items (comments, tasks, the calendar's name ...), then
  // what each item holds that the model has no field for.
  const std::vector<NativeItem> natives = from.split(body, &not_read);
  gather();
  for (const auto& native : natives) {
    page.item_bytes += static_cast<std::int64_t>(native.text.size());
    Converted converted = to.from_model(from.to_model(native, &not_read));
    gather();
    for (auto& field : converted.not_carried) page.not_carried.insert(std::move(field));
    page.digest.add(to.to_model(converted.native));
    page.items.push_back(std::move(converted.native));
  }
  return page;
}

// The page's Portability-Item-Count (docs/portability-api.md), or nullopt when the source did
// not send one. Anything but a plain non-negative decimal ("3", not "+3", " 3", "3.0" or
// "0x3") is a protocol error: the count decides whether a switch may delete, so it is not
// guessed at.
std::optional<std::int64_t> item_count(const HttpResponse& response, const std::string& where) {
  const auto it = response.headers.find("portability-item-count");
  if (it == response.headers.end()) return std::nullopt;
  const std::string& text = it->second;
  const auto count = detail::parse_int(text);  // no sign but "-", no space, no fraction
  if (!count || text.front() == '-') {
    throw StepFailure{false, where + ": the source's Portability-Item-Count \"" + shorten(text) +
                                 "\" is not a number of items; nothing was deleted at the source"};
  }
  return count;
}

// An export answer and, when it was a page (200), that page converted or the error its
// conversion raised.
struct ExportedPage {
  HttpResponse response;
  std::optional<ConvertedPage> converted;
  std::exception_ptr conversion_error;
};

// A switch paused after verify because its report names data that would be lost at the source.
constexpr std::string_view kAwaitingConfirmation = "awaiting_confirmation";

// At most this many waiting switches are decided by one expire_confirmations() call; the rest
// at the next (every idle_poll).
constexpr int kExpiryBatch = 100;

// "14 days", "2 hours", "90 seconds": a time limit as the transfer's step names it.
std::string duration_words(std::int64_t seconds) {
  const auto words = [](std::int64_t n, std::string_view unit) {
    return std::to_string(n) + " " + std::string(unit) + (n == 1 ? "" : "s");
  };
  if (seconds > 0 && seconds % 86'400 == 0) return words(seconds / 86'400, "day");
  if (seconds > 0 && seconds % 3'600 == 0) return words(seconds / 3'600, "hour");
  if (seconds > 0 && seconds % 60 == 0) return words(seconds / 60, "minute");
  return words(seconds, "second");
}

// True when the report names anything the destination does not hold: a part of the source's
// export the model has no field for, or a field the destination's format cannot keep.
bool loses_data(const std::vector<storage::TransferDatasetRecord>& datasets) {
  return std::any_of(datasets.begin(), datasets.end(), [](const auto& d) {
    return !d.not_read.empty() || !d.not_carried.empty();
  });
}

// What the transfer moved and what it could not carry (the report of GET /transfers/{id}).
nlohmann::json report_of(const storage::TransferRecord& t,
                         const std::vector<storage::TransferDatasetRecord>& datasets,
                         bool deletion_declined = false) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& d : datasets) {
    list.push_back({{"dataset", d.dataset},
                    {"source_format", d.source_format},
                    {"destination_format", d.destination_format},
                    {"items", d.items_done},
                    {"bytes", d.bytes_done},
                    {"pages", d.pages_done},
                    {"digest", d.digest},
                    {"verified", d.verified},
                    {"deleted_at_source", d.deleted},
                    {"not_carried", d.not_carried},
                    {"not_read", d.not_read}});
  }
  return {{"datasets", list},
          {"delete_at_source", t.delete_at_source},
          {"deletion_declined", deletion_declined}};
}

storage::Event transfer_event(BrokerContext& context, const storage::TransferRecord& t,
                              std::string_view actor, std::string_view action,
                              const nlohmann::json& detail,
                              const std::vector<std::string>& datasets = {},
                              std::string_view outcome = "success") {
  return context.event(actor, action, t.resident_id, t.client_id, detail.dump(), outcome,
                       datasets.empty() ? t.datasets : datasets);
}

// Completion, the end of the source contract and the start of the destination contract: one
// transaction (DESIGN.md, "Contract records"). The source contract ends only when the source
// deleted (a switch the resident did not stop); a copy, or a switch whose deletion the
// resident declined, keeps it. False when the stored row was no longer in `expected_state`.
// `declined_step`, when not empty, is the step of a switch completed as a copy because its
// deletion was declined (by the resident, or by their silence): it says why.
bool complete_transfer(storage::Store& store, BrokerContext& context, storage::TransferRecord& t,
                       const std::vector<storage::TransferDatasetRecord>& datasets,
                       const std::string& source_name, const std::string& destination_name,
                       std::string_view expected_state, std::vector<storage::Event> events,
                       std::string_view declined_step) {
  const bool deletion_declined = !declined_step.empty();
  const auto now = context.now();
  std::vector<storage::ContractRecord> contracts;
  if (t.delete_at_source && !deletion_declined) {
    if (auto source = store.find_active_contract(t.resident_id, t.source_id)) {
      source->status = "terminated";
      source->until = now;
      source->reason = "switched to " + destination_name + " by transfer " + t.id;
      source->transfer_id = t.id;
      contracts.push_back(*source);
      events.push_back(transfer_event(context, t, "system", "contract.ended",
                                      {{"contract", source->id},
                                       {"service", t.source_id},
                                       {"transfer", t.id}}));
    }
  }
  if (!store.find_active_contract(t.resident_id, t.destination_id)) {
    storage::ContractRecord started;
    started.id = context.new_id();
    started.resident_id = t.resident_id;
    started.service_id = t.destination_id;
    started.subject = t.destination_subject;
    started.status = "active";
    started.since = now;
    started.reason = "data moved from " + source_name + " by transfer " + t.id;
    started.transfer_id = t.id;
    contracts.push_back(started);
    events.push_back(transfer_event(context, t, "system", "contract.started",
                                    {{"contract", started.id},
                                     {"service", t.destination_id},
                                     {"transfer", t.id}}));
  }
  t.state = "completed";
  t.step = deletion_declined ? std::string(declined_step) : "completed";
  t.retries = 0;
  t.updated_at = now;
  t.report = report_of(t, datasets, deletion_declined).dump();
  events.push_back(
      transfer_event(context, t, "system", "transfer.completed", {{"transfer", t.id}}));
  return store.update_transfer(t, expected_state, datasets, contracts, events);
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  const auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

// ---------------------------------------------------------------------------------------------

class Broker::Run {
 public:
  Run(Broker& broker, storage::TransferRecord transfer)
      : b_(broker), t_(std::move(transfer)) {}

  void go() {
    try {
      load();
      while (!b_.stop_.stop_requested()) {
        if (!step()) return;
      }
    } catch (const Interrupted&) {
      // Storage holds the last committed step; whoever claims the transfer next resumes it.
    }
  }

 private:
  void load() {
    datasets_ = b_.store_.list_transfer_datasets(t_.id);
    auto source = b_.store_.find_service(t_.source_id);
    auto destination = b_.store_.find_service(t_.destination_id);
    if (!source || !destination) {
      fail("a service of this transfer is no longer registered");
      throw Interrupted{};
    }
    source_ = std::move(*source);
    destination_ = std::move(*destination);
  }

  // One step; false once the transfer has ended or waits for the resident.
  bool step() {
    try {
      if (t_.state == "consented") {
        begin();
      } else if (t_.state == "exporting" || t_.state == "importing") {
        if (!next_page()) to_verifying();
      } else if (t_.state == "verifying") {
        verify();
      } else if (t_.state == "deleting") {
        delete_at_source();
      } else {
        return false;
      }
      if (t_.retries != 0) t_.retries = 0;
      return storage::runnable_transfer_state(t_.state);
    } catch (const StepFailure& failure) {
      if (!failure.retry) {
        fail(failure.reason);
        return false;
      }
      retry(failure.reason);
      return true;
    } catch (const FormatError& error) {
      fail(where_ + ": " + shorten(error.what()));
      return false;
    } catch (const nlohmann::json::exception&) {
      // A member of the wrong type in a service's answer (e.g. "count": "many").
      fail(where_ + ": the service's answer is not the portability API's JSON");
      return false;
    }
  }

  // consented -> exporting: ask the source what it holds, for the progress totals.
  void begin() {
    where_ = "listing the source's datasets";
    const auto response = call(Side::source, source_, kExportScope, "GET",
                               api_base(source_) + "/datasets", {}, {});
    expect_ok(response, {200});
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (!body.is_object() || !body.contains("datasets") || !body["datasets"].is_array())
      throw StepFailure{false, "the source's dataset list is not the API's JSON"};
    for (auto& d : datasets_) {
      for (const auto& entry : body["datasets"]) {
        if (entry.is_object() && entry.value("name", "") == d.dataset) {
          d.items_total = entry.value("count", std::int64_t{0});
          d.bytes_total = entry.value("bytes", std::int64_t{0});
        }
      }
    }
    t_.state = "exporting";
    t_.step = "starting the export";
    commit("consented", datasets_,
           {event("transfer.started",
                  nlohmann::json{{"transfer", t_.id}, {"source", t_.source_id},
                                 {"destination", t_.destination_id},
                                 {"delete_at_source", t_.delete_at_source}})});
  }

  // One page of the first dataset not yet exported: export, convert, import, commit.
  // False when every dataset is done.
  bool next_page() {
    auto it = std::find_if(datasets_.begin(), datasets_.end(),
                           [](const auto& d) { return !d.exported_all; });
    if (it == datasets_.end()) return false;
    auto& d = *it;
    const Format* from = find_format(d.source_format);
    const Format* to = find_format(d.destination_format);
    if (from == nullptr || to == nullptr)
      throw StepFailure{false, "no adapter for " + d.source_format + " -> " + d.destination_format};
    const std::int64_t page = d.pages_done + 1;
    where_ = d.dataset + " page " + std::to_string(page);

    if (t_.state != "exporting") {
      // Resuming a page whose import may or may not have landed: the same cursor gives the
      // same page, and the same Idempotency-Key makes the destination answer as before.
      const std::string previous_state = t_.state;
      t_.state = "exporting";
      t_.step = "exporting " + where_;
      commit(previous_state, {}, {});
    }

    ExportedPage exported = export_page(export_url(d.dataset, d.cursor), d.dataset, *from, *to);
    expect_ok(exported.response, {200});
    const auto source_count = item_count(exported.response, where_);
    const std::string next_cursor = exported.response.header("portability-next-cursor");
    // While this page imports, the next one is exported and converted on another thread.
    if (!next_cursor.empty()) prefetch(export_url(d.dataset, next_cursor), *from, *to);

    if (exported.conversion_error) std::rethrow_exception(exported.conversion_error);
    ConvertedPage converted = exported.converted
                                  ? std::move(*exported.converted)
                                  : convert_page(*from, *to, exported.response.body);
    std::vector<NativeItem>& out = converted.items;
    // The source records every item it counts as exported under the transfer, and a switch
    // asks it to delete exactly those. Items it counts that split did not give (a part the
    // adapter skips, or a page that lost items on the way) would be deleted without having
    // been carried: stop before this page is imported, like a broken item, so that nothing is
    // deleted at the source (docs/portability.md, "The broker").
    if (source_count && *source_count != static_cast<std::int64_t>(out.size())) {
      throw StepFailure{false, where_ + ": the source counts " + std::to_string(*source_count) +
                                   " items in the page (Portability-Item-Count), but " +
                                   std::to_string(out.size()) +
                                   " were read from it; nothing was deleted at the source"};
    }
    std::set<std::string> not_carried(d.not_carried.begin(), d.not_carried.end());
    not_carried.merge(converted.not_carried);
    const std::int64_t item_bytes = converted.item_bytes;

    if (!out.empty()) {
      t_.state = "importing";
      t_.step = "importing " + where_;
      commit("exporting", {}, {});
      // The key names the page, not the attempt: the same page sent again after a crash or a
      // lost answer is recognised by the destination and stored once.
      const std::string key = t_.id + "." + d.dataset + "." + std::to_string(page);
      const auto imported =
          call(Side::destination, destination_, kImportScope, "POST",
               api_base(destination_) + "/datasets/" + encode(d.dataset) +
                   "/import?transfer=" + encode(t_.id),
               to->join(out),
               {{"Idempotency-Key", key}, {"Content-Type", std::string(to->media_type())}});
      expect_ok(imported, {200, 201});
      const auto body = nlohmann::json::parse(imported.body, nullptr, false);
      if (!body.is_object() || body.value("imported", std::int64_t{-1}) !=
                                   static_cast<std::int64_t>(out.size()))
        throw StepFailure{false, where_ + ": the destination did not confirm every item"};
    }

    auto sum = Digest::from_hex(d.digest).value_or(Digest{});
    sum.add(converted.digest);
    d.digest = sum.hex();
    d.cursor = next_cursor;
    d.exported_all = next_cursor.empty();
    d.pages_done = page;
    d.items_done += static_cast<std::int64_t>(out.size());
    d.bytes_done += item_bytes;
    d.not_carried.assign(not_carried.begin(), not_carried.end());
    d.not_read = detail::bounded_not_read(d.not_read, converted.not_read);
    const std::string state_before = t_.state;
    t_.state = "exporting";
    t_.step = "moved " + where_;
    commit(state_before, {d},
           {event("transfer.page",
                  nlohmann::json{{"transfer", t_.id}, {"page", page},
                                 {"items", out.size()}, {"bytes", item_bytes}},
                  {d.dataset})});
    return true;
  }

  void to_verifying() {
    t_.state = "verifying";
    t_.step = "asking the destination to verify";
    commit("exporting", {}, {});
  }

  // The destination must hold exactly what was sent: same count, same digest over the
  // common model. Only then may the source be asked to delete anything.
  void verify() {
    for (auto& d : datasets_) {
      if (d.verified) continue;
      where_ = "verifying " + d.dataset;
      const auto response =
          call(Side::destination, destination_, kImportScope, "GET",
               api_base(destination_) + "/transfers/" + encode(t_.id) +
                   "/verify?dataset=" + encode(d.dataset),
               {}, {});
      expect_ok(response, {200});
      const auto body = nlohmann::json::parse(response.body, nullptr, false);
      if (!body.is_object()) throw StepFailure{false, where_ + ": not the API's JSON"};
      const auto count = body.value("count", std::int64_t{-1});
      const auto digest = body.value("digest", std::string());
      const std::string expected = Digest::from_hex(d.digest).value_or(Digest{}).hex();
      if (count != d.items_done || digest != expected) {
        throw StepFailure{false, "the destination holds " + std::to_string(count) + " " +
                                     d.dataset + " items (digest " + shorten(digest) +
                                     "), but " + std::to_string(d.items_done) +
                                     " were sent (digest " + expected +
                                     "); nothing was deleted at the source"};
      }
      d.verified = true;
    }
    std::vector<storage::Event> events;
    for (const auto& d : datasets_) {
      events.push_back(event("transfer.verified",
                             nlohmann::json{{"transfer", t_.id}, {"items", d.items_done}},
                             {d.dataset}));
    }
    if (!t_.delete_at_source) {
      complete("verifying", std::move(events));
      return;
    }
    if (loses_data(datasets_)) {
      // "Nothing is lost": what the report names never reached the destination, and deleting
      // at the source would destroy it. The resident decides on their transfer page
      // (Broker::decide); until then no worker picks the transfer up, restarts included.
      t_.state = std::string(kAwaitingConfirmation);
      t_.step =
          "verified; some data could not be carried; waiting for the resident to decide about "
          "deletion at the source";
      t_.report = report_of(t_, datasets_).dump();
      events.push_back(event("transfer.awaiting_confirmation", {{"transfer", t_.id}}));
    } else {
      t_.state = "deleting";
      t_.step = "verified; deleting at the source";
    }
    commit("verifying", datasets_, std::move(events));
  }

  void delete_at_source() {
    for (auto& d : datasets_) {
      if (d.deleted) continue;
      where_ = "deleting " + d.dataset + " at the source";
      if (!d.verified) throw StepFailure{false, where_ + ": refused, not verified"};
      const auto response =
          call(Side::source, source_, kDeleteScope, "POST",
               api_base(source_) + "/transfers/" + encode(t_.id) +
                   "/delete?dataset=" + encode(d.dataset),
               {}, {});
      expect_ok(response, {200});
      const auto body = nlohmann::json::parse(response.body, nullptr, false);
      if (!body.is_object() || body.value("remaining", std::int64_t{-1}) != 0)
        throw StepFailure{false, where_ + ": the source did not delete every exported item"};
      d.deleted = true;
      t_.step = "deleted " + d.dataset + " at the source";
      commit("deleting", {d},
             {event("transfer.deleted_at_source",
                    nlohmann::json{{"transfer", t_.id},
                                   {"deleted", body.value("deleted", std::int64_t{0})}},
                    {d.dataset})});
    }
    complete("deleting", {});
  }

  void complete(const std::string& expected_state, std::vector<storage::Event> events) {
    if (!complete_transfer(b_.store_, b_.context_, t_, datasets_, source_.name,
                           destination_.name, expected_state, std::move(events),
                           /*declined_step=*/{}))
      throw Interrupted{};
  }

  void fail(const std::string& reason) {
    const std::string expected = t_.state;
    t_.state = "failed";
    t_.error = reason;
    t_.step = "failed";
    t_.report = report_of(t_, datasets_).dump();
    // A failed transfer deletes nothing more: the source keeps what it had. The log names the
    // step, not the reason: a reason may quote a service's answer, and the log never holds
    // personal data (the resident reads the reason on the transfer's page).
    b_.store_.update_transfer(
        t_, expected, datasets_, {},
        {event("transfer.failed", nlohmann::json{{"transfer", t_.id}, {"step", where_}}, {},
               "failure")});
  }

  void retry(const std::string& reason) {
    ++t_.retries;
    if (t_.retries > b_.settings_.max_retries) {
      fail("gave up after " + std::to_string(b_.settings_.max_retries) + " retries: " + reason);
      throw Interrupted{};
    }
    // Exponential backoff with full jitter: base * 2^(n-1), capped, times a random share.
    const auto cap = std::min<double>(
        static_cast<double>(b_.settings_.max_backoff.count()),
        static_cast<double>(b_.settings_.base_backoff.count()) * std::ldexp(1.0, t_.retries - 1));
    const auto wait = std::chrono::milliseconds(
        static_cast<std::int64_t>(cap * (0.5 + 0.5 * b_.context_.jitter())));
    t_.step = "retry " + std::to_string(t_.retries) + " of " + where_ + " after " + reason;
    commit(t_.state, {},
           {event("transfer.retry", nlohmann::json{{"transfer", t_.id}, {"step", where_},
                                                   {"retry", t_.retries}},
                  {}, "retry")});
    if (!b_.pause(wait)) throw Interrupted{};
  }

  // One call to a service with a token for its side; one fresh token after a 401.
  HttpResponse call(Side side, const storage::ServiceRecord& service, std::string_view scope,
                    const std::string& method, const std::string& url, std::string body,
                    std::vector<std::pair<std::string, std::string>> headers) {
    HttpRequest request{method, url, std::move(headers), std::move(body)};
    for (int attempt = 0; attempt < 2; ++attempt) {
      const std::string token =
          b_.tokens_.access_token(t_, service, side, scope, /*fresh=*/attempt > 0);
      auto with_token = request;
      with_token.headers.emplace_back("Authorization", "Bearer " + token);
      HttpResponse response;
      try {
        response = b_.http_.send(with_token, b_.settings_.request_timeout,
                                 b_.settings_.max_page_bytes);
      } catch (const TransportError& error) {
        throw StepFailure{true, shorten(error.what())};
      }
      if (response.status != 401) return response;
    }
    throw StepFailure{false, where_ + ": " + service.name + " refused infobank's token twice"};
  }

  std::string export_url(const std::string& dataset, const std::string& cursor) const {
    std::string url = api_base(source_) + "/datasets/" + encode(dataset) +
                      "/export?transfer=" + encode(t_.id) +
                      "&limit=" + std::to_string(b_.settings_.page_size);
    if (!cursor.empty()) url += "&cursor=" + encode(cursor);
    return url;
  }

  // Asks the source for the page at `url` on another thread and converts it there. An export
  // is a read that changes nothing and a conversion is pure, so the result is only a head
  // start: export_page uses it when the next page asked for is that one, and a crash, a
  // failure or a different page simply drops it. Nothing is done when that page is already
  // being fetched.
  void prefetch(const std::string& url, const Format& from, const Format& to) {
    if (std::any_of(prefetch_.begin(), prefetch_.end(),
                    [&](const Prefetch& p) { return p.url == url; }))
      return;
    prefetch_.clear();  // waits for prefetches of other pages and drops them
    HttpRequest request{"GET", url, {}, {}};
    request.headers.emplace_back(
        "Authorization",
        "Bearer " + b_.tokens_.access_token(t_, source_, Side::source, kExportScope, false));
    Broker& b = b_;
    std::promise<std::string> cursor;
    auto next_cursor = cursor.get_future().share();
    prefetch_.push_back(Prefetch{
        url, next_cursor,
        std::async(std::launch::async, [&b, &from, &to, request = std::move(request),
                                        cursor = std::move(cursor)]() mutable {
          ExportedPage page;
          try {
            page.response = b.http_.send(request, b.settings_.request_timeout,
                                         b.settings_.max_page_bytes);
          } catch (...) {
            cursor.set_value({});
            throw;
          }
          // Said before the conversion, so that the page after this one can be asked for
          // while this one converts.
          cursor.set_value(page.response.status == 200
                               ? page.response.header("portability-next-cursor")
                               : std::string());
          if (page.response.status != 200) return page;
          try {
            page.converted = convert_page(from, to, page.response.body);
          } catch (...) {
            page.conversion_error = std::current_exception();
          }
          return page;
        })});
  }

  // The source's page at `url` of `dataset`: the prefetched one when there is a good one,
  // else asked now (and converted by the caller). Taking a prefetched page asks for the one
  // after it as soon as its answer names it: that export runs beside this page's conversion
  // and import, so the source, the broker and the destination each work on a page of their
  // own.
  ExportedPage export_page(const std::string& url, const std::string& dataset,
                           const Format& from, const Format& to) {
    if (!prefetch_.empty() && prefetch_.front().url == url) {
      Prefetch front = std::move(prefetch_.front());
      prefetch_.pop_front();
      const std::string next = front.cursor.get();
      if (!next.empty()) prefetch(export_url(dataset, next), from, to);
      try {
        ExportedPage page = front.page.get();
        if (page.response.status != 401) return page;
      } catch (const TransportError&) {
        // As if it had not been asked: the call below retries in the ordinary way.
      }
    }
    prefetch_.clear();  // waits for prefetches of other pages and drops them
    return ExportedPage{call(Side::source, source_, kExportScope, "GET", url, {}, {}), {}, {}};
  }

  void expect_ok(const HttpResponse& response, std::initializer_list<int> ok) {
    if (std::find(ok.begin(), ok.end(), response.status) != ok.end()) return;
    throw StepFailure{retryable_status(response.status), where_ + ": " + refusal(response)};
  }

  storage::Event event(std::string_view action, const nlohmann::json& detail,
                       const std::vector<std::string>& datasets = {},
                       std::string_view outcome = "success") {
    return transfer_event(b_.context_, t_, "system", action, detail, datasets, outcome);
  }

  // Commits the transfer's row (guarded by the state it had and our lease), progress rows and
  // audit entries in one transaction, renewing the lease.
  void commit(const std::string& expected_state,
              const std::vector<storage::TransferDatasetRecord>& progress,
              std::vector<storage::Event> events) {
    const auto now = b_.context_.now();
    t_.updated_at = now;
    t_.lease_until = now + b_.settings_.lease_seconds;
    if (!b_.store_.update_transfer(t_, expected_state, progress, {}, events))
      throw Interrupted{};
  }

  Broker& b_;
  storage::TransferRecord t_;
  std::vector<storage::TransferDatasetRecord> datasets_;
  storage::ServiceRecord source_;
  storage::ServiceRecord destination_;
  std::string where_;
  struct Prefetch {
    std::string url;
    std::shared_future<std::string> cursor;  // the page's next cursor, once its answer came
    std::future<ExportedPage> page;          // from std::async: its destructor waits
  };
  // At most the page being converted ahead and the one after it. Declared last, so it is
  // destroyed (their requests waited for) before the members they read.
  std::deque<Prefetch> prefetch_;
};

// ---------------------------------------------------------------------------------------------

Broker::Broker(storage::Store& store, HttpClient& http, TokenSource& tokens,
               BrokerContext& context, BrokerSettings settings)
    : store_(store), http_(http), tokens_(tokens), context_(context),
      settings_(std::move(settings)) {}

Broker::~Broker() { stop(); }

void Broker::start() {
  // Leases this node held before it was killed are its own: take them back at once instead of
  // waiting for them to expire.
  store_.release_transfers(settings_.node_id);
  for (int i = 0; i < settings_.workers; ++i) {
    workers_.emplace_back([this, i](std::stop_token) {
      // Named for top -H, perf and gdb: "broker-0", "broker-1", ...
      pthread_setname_np(pthread_self(), ("broker-" + std::to_string(i)).c_str());
      worker(stop_.get_token());
    });
  }
  if (settings_.workers > 0) {
    timer_ = std::jthread([this] {
      pthread_setname_np(pthread_self(), "broker-timer");
      do {
        try {
          expire_confirmations();
        } catch (const std::exception&) {
          // A storage outage: the waiting transfers stay as they are; tried at the next tick.
        }
      } while (pause(settings_.idle_poll));
    });
  }
}

void Broker::stop() {
  if (workers_.empty()) return;
  stop_.request_stop();
  wakeup_.notify_all();
  workers_.clear();  // joins
  timer_ = {};       // joins
  try {
    store_.release_transfers(settings_.node_id);
  } catch (const std::exception&) {
    // Leases expire on their own; another node (or this one restarted) takes them over.
  }
}

void Broker::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakes_;
  }
  wakeup_.notify_all();
}

bool Broker::pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  auto token = stop_.get_token();
  wakeup_.wait_for(lock, token, delay, [] { return false; });
  return !token.stop_requested();
}

void Broker::worker(std::stop_token stop) {
  while (!stop.stop_requested()) {
    std::uint64_t seen = 0;
    {
      std::lock_guard lock(mutex_);
      seen = wakes_;
    }
    bool ran = false;
    try {
      ran = run_once();
    } catch (const std::exception&) {
      // A storage outage: wait and try again; the transfer's committed state is intact.
    }
    if (ran) continue;
    std::unique_lock lock(mutex_);
    wakeup_.wait_for(lock, stop, settings_.idle_poll, [&] { return wakes_ != seen; });
  }
}

bool Broker::run_once() {
  const auto now = context_.now();
  auto transfer = store_.claim_transfer(settings_.node_id, now, now + settings_.lease_seconds);
  if (!transfer) return false;
  const std::string id = transfer->id;
  try {
    Run(*this, std::move(*transfer)).go();
  } catch (const std::exception&) {
    // Storage failed midway (an outage, or a commit refused, such as a second active contract
    // with one service): what was committed stands, and the run resumes from it. Let the
    // transfer go now, so that it is taken again after idle_poll, not after lease_seconds.
    try {
      store_.release_transfer(id, settings_.node_id);
    } catch (const std::exception&) {
      // Still failing: the lease runs out on its own.
    }
    throw;
  }
  return true;
}

std::variant<storage::TransferRecord, BrokerError> Broker::request(const TransferRequest& r) {
  auto bad = [](std::string description) {
    return BrokerError{"invalid_request", std::move(description)};
  };
  auto source = store_.find_service(r.source_id);
  auto destination = store_.find_service(r.destination_id);
  if (!source) return bad("unknown source service");
  if (!destination) return bad("unknown destination service");
  if (source->id == destination->id) return bad("source and destination are the same service");
  if (r.datasets.empty()) return bad("no dataset chosen");
  std::set<std::string> seen;
  std::vector<storage::TransferDatasetRecord> rows;
  for (const auto& dataset : r.datasets) {
    if (!parse_dataset(dataset)) return bad("unknown dataset " + shorten(dataset));
    if (!seen.insert(dataset).second) return bad("dataset " + dataset + " named twice");
    auto from = format_of(*source, dataset);
    auto to = format_of(*destination, dataset);
    if (!from) return bad(source->name + " holds no " + dataset);
    if (!to) return bad(destination->name + " does not take " + dataset);
    if (!find_format(*from) || !find_format(*to))
      return bad("no adapter for " + *from + " -> " + *to);
    storage::TransferDatasetRecord row;
    row.dataset = dataset;
    row.source_format = *from;
    row.destination_format = *to;
    row.digest = Digest{}.hex();
    rows.push_back(std::move(row));
  }
  auto contract = store_.find_active_contract(r.resident_id, source->id);
  if (!contract) return bad("you have no active contract with " + source->name);
  auto at_destination = store_.find_active_contract(r.resident_id, destination->id);

  storage::TransferRecord t;
  t.id = context_.new_id();
  t.resident_id = r.resident_id;
  t.client_id = r.client_id;
  t.source_id = source->id;
  t.destination_id = destination->id;
  t.source_subject = contract->subject;
  t.destination_subject = at_destination ? at_destination->subject : r.resident_username;
  t.datasets = r.datasets;
  t.delete_at_source = r.delete_at_source;
  t.state = r.consented ? "consented" : "requested";
  t.step = r.consented ? "waiting for a worker" : "waiting for the resident's consent";
  t.created_at = t.updated_at = context_.now();
  for (auto& row : rows) row.transfer_id = t.id;
  store_.insert_transfer(
      t, rows,
      context_.event(r.client_id.empty() ? "resident" : "client",
                     r.consented ? "transfer.consented" : "transfer.requested", r.resident_id,
                     r.client_id,
                     nlohmann::json{{"transfer", t.id},
                                    {"source", t.source_id},
                                    {"destination", t.destination_id},
                                    {"delete_at_source", t.delete_at_source}}
                         .dump(),
                     "success", t.datasets));
  if (r.consented) wake();
  return t;
}

std::variant<storage::TransferRecord, BrokerError> Broker::decide(std::string_view transfer_id,
                                                                 std::string_view resident_id,
                                                                 Decision decision) {
  const bool consent = decision == Decision::approve || decision == Decision::deny;
  const std::string expected(consent ? std::string_view("requested") : kAwaitingConfirmation);
  // The write is conditional on the row as read (state and lease owner): when it changed in
  // between without leaving the awaited state (a worker releasing its lease as it paused the
  // transfer, say), the decision is read and tried again rather than refused.
  constexpr int kAttempts = 4;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto t = store_.find_transfer(transfer_id);
    if (!t || t->resident_id != resident_id) return BrokerError{"not_found", "no such transfer"};
    if (t->state != expected) {
      return BrokerError{"conflict", consent ? "this transfer was already " + t->state
                                             : "this transfer is not waiting for a decision "
                                               "about deletion at the source (it is " +
                                                   t->state + ")"};
    }
    if (apply_decision(*t, expected, decision)) {
      if (storage::runnable_transfer_state(t->state)) wake();
      return *t;
    }
  }
  return BrokerError{"conflict", "this transfer changed while it was being decided; try again"};
}

bool Broker::apply_decision(storage::TransferRecord& t, const std::string& expected,
                            Decision decision) {
  const std::string_view actor = "resident";
  const nlohmann::json detail = {{"transfer", t.id}};
  t.updated_at = context_.now();
  switch (decision) {
    case Decision::approve:
    case Decision::deny: {
      const bool approve = decision == Decision::approve;
      t.state = approve ? "consented" : "cancelled";
      t.step = approve ? "waiting for a worker" : "cancelled by the resident";
      return store_.update_transfer(
          t, expected, {}, {},
          {transfer_event(context_, t, actor,
                          approve ? "transfer.consented" : "transfer.refused", detail, {},
                          approve ? "success" : "refused")});
    }
    case Decision::delete_at_source:
      t.state = "deleting";
      t.step = "the resident chose to delete at the source anyway; deleting at the source";
      t.lease_until = 0;  // whichever node's worker is free takes it now
      return store_.update_transfer(
          t, expected, {}, {},
          {transfer_event(context_, t, actor, "transfer.deletion_confirmed", detail)});
    case Decision::keep_at_source:
      return complete_as_copy(
          t, transfer_event(context_, t, actor, "transfer.deletion_declined", detail, {},
                            "refused"),
          "completed as a copy: the resident declined deletion at the source, because some "
          "data could not be carried to the destination");
  }
  return false;
}

bool Broker::complete_as_copy(storage::TransferRecord& t, storage::Event decided,
                              std::string step) {
  // Nothing is deleted and nothing remains to be done: the transfer ends now as a copy.
  auto name_of = [this](const std::string& id) {
    auto service = store_.find_service(id);
    return service ? service->name : id;
  };
  const std::string source_name = name_of(t.source_id);
  const std::string destination_name = name_of(t.destination_id);
  return complete_transfer(store_, context_, t, store_.list_transfer_datasets(t.id), source_name,
                           destination_name, kAwaitingConfirmation, {std::move(decided)}, step);
}

int Broker::expire_confirmations() {
  const auto now = context_.now();
  const auto limit = settings_.confirmation_timeout_seconds;
  int decided = 0;
  // Waited longer than the limit: entered the state (its last change) before now - limit.
  for (auto& t : store_.list_transfers_waiting(kAwaitingConfirmation, now - limit,
                                                kExpiryBatch)) {
    const std::int64_t waited = now - t.updated_at;
    // Keeping is the choice that loses nothing: what could not be carried stays at the
    // source, and the resident may still delete it there themselves.
    if (complete_as_copy(
            t,
            transfer_event(context_, t, "system", "transfer.deletion_declined",
                           {{"transfer", t.id}, {"reason", "timeout"}, {"waited_seconds", waited}},
                           {}, "refused"),
            "completed as a copy: nothing was deleted at the source, because the resident did "
            "not decide within " +
                duration_words(limit) +
                " whether to delete there what could not be carried to the destination")) {
      ++decided;
    }
  }
  return decided;
}

std::optional<TransferView> Broker::view(std::string_view transfer_id) {
  auto t = store_.find_transfer(transfer_id);
  if (!t) return std::nullopt;
  // The wait counts from the pause, the transfer's last change (expire_confirmations).
  const std::int64_t decide_by = t->state == kAwaitingConfirmation
                                     ? t->updated_at + settings_.confirmation_timeout_seconds
                                     : 0;
  return TransferView{*t, store_.list_transfer_datasets(transfer_id), decide_by};
}

std::string transfer_json(const TransferView& view) {
  const auto& t = view.transfer;
  nlohmann::json datasets = nlohmann::json::array();
  for (const auto& d : view.datasets) {
    datasets.push_back({{"dataset", d.dataset},
                        {"source_format", d.source_format},
                        {"destination_format", d.destination_format},
                        {"items_done", d.items_done},
                        {"items_total", d.items_total},
                        {"bytes_done", d.bytes_done},
                        {"bytes_total", d.bytes_total},
                        {"pages_done", d.pages_done},
                        {"verified", d.verified},
                        {"deleted_at_source", d.deleted},
                        {"not_carried", d.not_carried},
                        {"not_read", d.not_read}});
  }
  nlohmann::json body = {{"id", t.id},
                         {"state", t.state},
                         {"step", t.step},
                         {"source", t.source_id},
                         {"destination", t.destination_id},
                         {"mode", t.delete_at_source ? "switch" : "copy"},
                         {"delete_at_source", t.delete_at_source},
                         {"datasets", datasets},
                         {"retries", t.retries},
                         {"created_at", t.created_at},
                         {"updated_at", t.updated_at}};
  if (!t.error.empty()) body["error"] = t.error;
  if (view.decide_by != 0) body["decide_by"] = view.decide_by;
  if (!t.report.empty()) {
    auto report = nlohmann::json::parse(t.report, nullptr, false);
    if (!report.is_discarded()) body["report"] = std::move(report);
  }
  return body.dump();
}

}  // namespace portability
