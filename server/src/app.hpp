#pragma once

#include <functional>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <string>
#include <string_view>

#include "authz/oauth.hpp"
#include "config.hpp"
#include "http_server.hpp"
#include "log.hpp"
#include "pages.hpp"
#include "metrics.hpp"
#include "portability/broker.hpp"

namespace server {

/// The bounded route name of a request path, for metrics and access logs ("other" for
/// anything we do not serve, so label cardinality stays bounded).
std::string_view route_of(std::string_view method, std::string_view target);

/// Turns HTTP into calls on the authorization server and back. Owns no socket; everything
/// blocking (storage, password hashing, signing) goes to the worker pool.
class App {
 public:
  App(const Config& config, authz::AuthorizationServer& server, boost::asio::thread_pool& workers,
      Metrics& metrics, Logger& logger, portability::Broker* broker = nullptr);

  boost::asio::awaitable<Response> handle(Request&& request, const RequestContext& context);

  /// Called (on a worker) after a session ended with back-channel logouts queued.
  void on_logout(std::function<void()> queued) { on_logout_ = std::move(queued); }

 private:
  boost::asio::awaitable<Response> dispatch(Request&& request, const RequestContext& context);
  boost::asio::awaitable<Response> authorize(const Request& req, const RequestContext& ctx,
                                             const authz::Params& query);
  boost::asio::awaitable<Response> continue_flow(const Request& req, const RequestContext& ctx,
                                                 const std::string& handle);
  boost::asio::awaitable<Response> login(const Request& req, const RequestContext& ctx);
  boost::asio::awaitable<Response> consent(const Request& req, const RequestContext& ctx);
  boost::asio::awaitable<Response> account(const Request& req, const RequestContext& ctx);
  boost::asio::awaitable<Response> revoke_grant(const Request& req, const RequestContext& ctx);
  /// The end-session endpoint (OpenID Connect RP-Initiated Logout 1.0) and the account page's
  /// sign-out.
  boost::asio::awaitable<Response> end_session(const Request& req, const RequestContext& ctx,
                                               bool get);
  boost::asio::awaitable<Response> audit_api(const Request& req, const RequestContext& ctx,
                                             std::string_view path);
  // The portability broker's routes (transfer_routes.cpp).
  boost::asio::awaitable<Response> transfers_api(const Request& req, const RequestContext& ctx,
                                                 std::string_view path);
  boost::asio::awaitable<Response> account_transfers(const Request& req,
                                                     const RequestContext& ctx,
                                                     std::string_view path);
  /// The resident's contracts, transfers and the services for the transfer form.
  void fill_portability(pages::AccountPage& page, const std::string& resident_id);

  boost::asio::awaitable<Response> back_channel(const Request& req, const RequestContext& ctx,
                                                std::string_view route);
  /// RFC 7592 client configuration endpoint: GET, PUT, DELETE /register/{client_id}.
  boost::asio::awaitable<Response> client_configuration(const Request& req,
                                                        const RequestContext& ctx,
                                                        std::string_view path);

  const Config& config_;
  authz::AuthorizationServer& server_;
  boost::asio::thread_pool& workers_;
  Metrics& metrics_;
  Logger& logger_;
  portability::Broker* broker_;
  std::function<void()> on_logout_;
  std::string oauth_metadata_;
  std::string openid_metadata_;
};

}  // namespace server
