#include "portability_cli.hpp"

#include <boost/url.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "portability/broker.hpp"
#include "portability/formats.hpp"

namespace server {
namespace {

nlohmann::json service_json(const storage::ServiceRecord& s) {
  return {{"id", s.id},         {"name", s.name},
          {"base_url", s.base_url}, {"audience", s.audience},
          {"datasets", s.datasets}, {"authorization", s.authorization},
          {"created_at", s.created_at}};
}

nlohmann::json contract_json(const storage::ContractRecord& c) {
  return {{"id", c.id},         {"service", c.service_id}, {"subject", c.subject},
          {"status", c.status}, {"since", c.since},        {"until", c.until},
          {"reason", c.reason}, {"transfer", c.transfer_id}};
}

}  // namespace

PortabilityCli::PortabilityCli(CLI::App& cli) {
  auto* service = cli.add_subcommand("service", "services residents move data between");
  service->require_subcommand(1);
  service_add_ = service->add_subcommand("add", "register a service; prints it as JSON");
  service_add_->add_option("id", service_.id, "short name, e.g. blog-x")->required();
  service_add_->add_option("--name", service_.name, "name shown to residents")->required();
  service_add_->add_option("--url", service_.base_url, "base URL of its portability API")
      ->required();
  service_add_->add_option("--audience", service_.audience,
                           "aud of the tokens it accepts (default: the base URL)");
  service_add_->add_option("--dataset", service_.datasets,
                           "dataset:format it holds and takes, e.g. blog_posts:blogger-atom "
                           "(repeatable)")
      ->required();
  service_add_->add_option("--authorization", service_.authorization,
                           "how the broker gets its tokens: infobank (pattern 1: infobank is "
                           "the service's authorization server; the only one so far)")
      ->default_val("infobank");
  service_list_ = service->add_subcommand("list", "list services as JSON");
  service_remove_ = service->add_subcommand("remove", "remove a service");
  service_remove_->add_option("id", id_)->required();

  auto* contract = cli.add_subcommand("contract", "residents' contracts with services");
  contract->require_subcommand(1);
  contract_add_ = contract->add_subcommand("add", "record an active contract of a resident");
  contract_add_->add_option("--resident", resident_, "the resident's username")->required();
  contract_add_->add_option("--service", id_, "the service id")->required();
  contract_add_->add_option("--subject", subject_,
                            "the resident's account at the service (default: username)");
  contract_list_ = contract->add_subcommand("list", "list a resident's contracts as JSON");
  contract_list_->add_option("--resident", resident_, "the resident's username")->required();

  auto* transfer = cli.add_subcommand("transfer", "portability transfers");
  transfer->require_subcommand(1);
  transfer_show_ = transfer->add_subcommand("show", "print a transfer's state as JSON");
  transfer_show_->add_option("id", id_)->required();
}

bool PortabilityCli::chosen() const {
  return *service_add_ || *service_list_ || *service_remove_ || *contract_add_ ||
         *contract_list_ || *transfer_show_;
}

int PortabilityCli::run(storage::Store& store, authz::AuthorizationServer& server,
                        const authz::Clock& clock, authz::Random& random) {
  if (*service_add_) {
    for (const auto& entry : service_.datasets) {
      const auto colon = entry.find(':');
      const auto dataset = portability::parse_dataset(entry.substr(0, colon));
      const auto* format = colon == std::string::npos
                               ? nullptr
                               : portability::find_format(entry.substr(colon + 1));
      if (!dataset || format == nullptr || format->dataset() != *dataset) {
        std::cerr << "not a dataset:format pair infobank knows: " << entry << "\n";
        return 2;
      }
    }
    const auto url = boost::urls::parse_absolute_uri(service_.base_url);
    if (!url || (url->scheme() != "http" && url->scheme() != "https") || !url->has_authority() ||
        url->has_query() || url->has_fragment()) {
      std::cerr << "--url must be an absolute http(s) URL without query or fragment\n";
      return 2;
    }
    if (service_.authorization != "infobank") {
      std::cerr << "only --authorization infobank (pattern 1) exists so far\n";
      return 2;
    }
    if (service_.audience.empty()) service_.audience = service_.base_url;
    service_.created_at = clock.now();
    if (!store.insert_service(service_)) {
      std::cerr << "a service with this id exists\n";
      return 1;
    }
    server.event("operator", "service.added", {}, {},
                 nlohmann::json{{"service", service_.id}, {"base_url", service_.base_url}}.dump());
    std::cout << service_json(service_).dump() << "\n";
    return 0;
  }
  if (*service_list_) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : store.list_services()) out.push_back(service_json(s));
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (*service_remove_) {
    if (!store.remove_service(id_)) {
      std::cerr << "no such service\n";
      return 1;
    }
    server.event("operator", "service.removed", {}, {},
                 nlohmann::json{{"service", id_}}.dump());
    return 0;
  }
  if (*transfer_show_) {
    auto t = store.find_transfer(id_);
    if (!t) {
      std::cerr << "no such transfer\n";
      return 1;
    }
    std::cout << portability::transfer_json({*t, store.list_transfer_datasets(id_), 0}) << "\n";
    return 0;
  }
  auto resident = store.find_resident_by_username(resident_);
  if (!resident) {
    std::cerr << "no such resident\n";
    return 1;
  }
  if (*contract_add_) {
    if (!store.find_service(id_)) {
      std::cerr << "no such service\n";
      return 1;
    }
    if (store.find_active_contract(resident->id, id_)) {
      std::cerr << "the resident already has an active contract with this service\n";
      return 1;
    }
    storage::ContractRecord c;
    c.id = random.identifier(16);
    c.resident_id = resident->id;
    c.service_id = id_;
    c.subject = subject_.empty() ? resident->username : subject_;
    c.status = "active";
    c.since = clock.now();
    c.reason = "recorded by the operator";
    store.upsert_contract(c, server.make_event("operator", "contract.started", resident->id, {},
                                               nlohmann::json{{"contract", c.id},
                                                              {"service", id_}}
                                                   .dump(),
                                               {}, "success", {}));
    std::cout << contract_json(c).dump() << "\n";
    return 0;
  }
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : store.list_contracts(resident->id)) out.push_back(contract_json(c));
  std::cout << out.dump(2) << "\n";
  return 0;
}

}  // namespace server
