#pragma once

// The operator's commands for the portability broker: `service add|list|remove`,
// `contract add|list`, `transfer show`.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "authz/oauth.hpp"
#include "storage/store.hpp"

namespace server {

class PortabilityCli {
 public:
  /// Adds the subcommands to `cli`.
  explicit PortabilityCli(CLI::App& cli);
  /// True if one of these subcommands was chosen.
  [[nodiscard]] bool chosen() const;
  /// Runs the chosen subcommand; returns the exit status.
  int run(storage::Store& store, authz::AuthorizationServer& server, const authz::Clock& clock,
          authz::Random& random);

 private:
  CLI::App* service_add_;
  CLI::App* service_list_;
  CLI::App* service_remove_;
  CLI::App* contract_add_;
  CLI::App* contract_list_;
  CLI::App* transfer_show_;
  storage::ServiceRecord service_;
  std::string id_;
  std::string resident_;
  std::string subject_;
};

}  // namespace server
