#include "app.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/url.hpp>
#include <nlohmann/json.hpp>

#include "authz/crypto.hpp"
#include "authz/form.hpp"
#include "cors.hpp"
#include "pages.hpp"
#include "web.hpp"

namespace server {


using boost::asio::awaitable;

std::string_view route_of(std::string_view method, std::string_view target) {
  static constexpr std::string_view kRoutes[] = {
      "/healthz", "/readyz", "/metrics", "/.well-known/oauth-authorization-server",
      "/.well-known/openid-configuration", "/jwks", "/authorize", "/authorize/continue",
      "/login", "/consent", "/account", "/account/grants/revoke", "/logout", "/par", "/token",
      "/introspect", "/revoke", "/userinfo", "/register", "/audit/v1/entries", "/audit/v1/sth",
      "/audit/v1/key", "/audit/v1/proof/inclusion", "/audit/v1/proof/consistency",
      "/transfers", "/contracts", "/account/transfers"};
  (void)method;
  auto path = path_of(target);
  for (auto r : kRoutes) {
    if (r == path) return r;
  }
  // Paths with an id in them: one label per kind, never the id.
  if (path.starts_with("/transfers/")) return "/transfers/{id}";
  if (path.starts_with("/account/transfers/")) return "/account/transfers/{id}";
  if (path.starts_with("/register/")) return "/register/{id}";
  return "other";
}

App::App(const Config& config, authz::AuthorizationServer& server,
         boost::asio::thread_pool& workers, Metrics& metrics, Logger& logger,
         portability::Broker* broker)
    : config_(config),
      server_(server),
      workers_(workers),
      metrics_(metrics),
      logger_(logger),
      broker_(broker),
      oauth_metadata_(server.metadata_json(false)),
      openid_metadata_(server.metadata_json(true)) {
  metrics_.describe("infobank_tokens_issued_total", "Successful token endpoint answers.");
  metrics_.describe("infobank_tokens_issued_on_io_thread_total",
                    "Of those, client_credentials tokens issued on the I/O thread that read the "
                    "request, without a worker (their client cached, the keys fresh).");
  metrics_.describe("infobank_introspections_from_memory_total",
                    "Introspection answers given on the I/O thread from an answer read before, "
                    "while storage had committed no change that a token's answer depends on.");
  // The nonce's key is read from storage once, here, not later on an I/O thread.
  if (server_.settings().dpop_require_nonce) (void)server_.dpop_nonce();
}


awaitable<Response> App::handle(Request&& request, const RequestContext& ctx) {
  const auto route = route_of(request.method_string(), request.target());
  const std::string target(request.target());
  const auto path = path_of(target);
  if (auto preflight = cors_preflight(request, path)) {
    set_route(*preflight, route);
    co_return std::move(*preflight);
  }
  const auto cors = cors_kind(path);
  const std::string origin =
      cors == CorsKind::none ? std::string() : header(request, http::field::origin);
  const std::string client_id =
      cors == CorsKind::client && !origin.empty() ? claimed_client_id(request) : std::string();
  // RFC 9449 §8.2 and §9: a request with a DPoP proof learns the nonce to use next, whatever
  // the answer (with use_dpop_nonce, it is the one to try again with).
  const bool dpop_nonce =
      server_.settings().dpop_require_nonce && request.find("DPoP") != request.end();
  auto res = co_await dispatch(std::move(request), ctx);
  if (dpop_nonce) res.set("DPoP-Nonce", server_.dpop_nonce());
  if (cors == CorsKind::public_data && !origin.empty()) allow_origin(res, "*");
  if (!client_id.empty()) {
    auto job = [&] {
      const auto client = server_.find_client(client_id);
      return client && std::ranges::any_of(client->redirect_uris, [&](const std::string& uri) {
               return origin_of(uri) == origin;
             });
    };
    if (co_await offload(workers_, job)) allow_origin(res, origin);
  }
  set_route(res, route);
  co_return res;
}

awaitable<Response> App::dispatch(Request&& req, const RequestContext& ctx) {
  const std::string target(req.target());
  const auto path = path_of(target);
  const auto method = req.method();
  const bool get = method == http::verb::get || method == http::verb::head;
  const bool post = method == http::verb::post;

  if (path == "/healthz" && get) {
    auto res = json_response(req, http::status::ok, R"({"status":"ok"})");
    co_return res;
  }
  if (path == "/readyz" && get) {
    auto job = [this] { return server_.store().schema_version() > 0; };
    bool ready = co_await offload(workers_, job);
    co_return json_response(req, ready ? http::status::ok : http::status::service_unavailable,
                            ready ? R"({"status":"ready"})" : R"({"status":"not ready"})");
  }
  if (path == "/metrics" && get) {
    auto res = base_response(req, http::status::ok);
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = metrics_.render();
    res.prepare_payload();
    co_return res;
  }
  if (path == "/.well-known/oauth-authorization-server" && get) {
    auto res = json_response(req, http::status::ok, oauth_metadata_);
    res.set(http::field::cache_control, "public, max-age=300");
    res.erase(http::field::pragma);
    co_return res;
  }
  if (path == "/.well-known/openid-configuration" && get) {
    auto res = json_response(req, http::status::ok, openid_metadata_);
    res.set(http::field::cache_control, "public, max-age=300");
    res.erase(http::field::pragma);
    co_return res;
  }
  if (path == "/jwks" && get) {
    auto job = [this] { return server_.keys().jwks_json(); };
    auto jwks = co_await offload(workers_, job);
    auto res = json_response(req, http::status::ok, std::move(jwks));
    res.set(http::field::content_type, "application/jwk-set+json");
    // Short: a rotated key must reach verifiers quickly.
    res.set(http::field::cache_control, "public, max-age=60");
    res.erase(http::field::pragma);
    co_return res;
  }
  if (path == "/authorize" && (get || post)) {
    authz::Expected<authz::Params> params = authz::Params{};
    if (get) {
      params = authz::parse_query(query_of(target));
    } else {
      if (media_type(req) != kFormType) {
        co_return page_response(req, http::status::bad_request,
                                pages::render_error({"invalid_request", "form body expected"}, lang_of(req)));
      }
      params = authz::parse_form(req.body());
    }
    if (!params) {
      co_return page_response(req, http::status::bad_request,
                              pages::render_error({params.error().error, params.error().description}, lang_of(req)));
    }
    co_return co_await authorize(req, ctx, *params);
  }
  if (path == "/authorize/continue" && get) {
    auto params = authz::parse_query(query_of(target));
    const std::string handle = params ? params->value("handle") : std::string();
    co_return co_await continue_flow(req, ctx, handle);
  }
  if (path == "/login" && post) co_return co_await login(req, ctx);
  if (path == "/consent" && post) co_return co_await consent(req, ctx);
  if (path == "/account" && get) co_return co_await account(req, ctx);
  if (path == "/account/grants/revoke" && post) co_return co_await revoke_grant(req, ctx);
  if (path == "/logout" && (get || post)) co_return co_await end_session(req, ctx, get);
  if ((path == "/par" || path == "/token" || path == "/introspect" || path == "/revoke" ||
       path == "/register") && post) {
    co_return co_await back_channel(req, ctx, path);
  }
  if (path == "/userinfo" && (get || post)) co_return co_await back_channel(req, ctx, path);
  if (path.starts_with("/register/") &&
      (get || method == http::verb::put || method == http::verb::delete_)) {
    co_return co_await client_configuration(req, ctx, path);
  }
  if (path.starts_with("/audit/v1/") && get) co_return co_await audit_api(req, ctx, path);
  if ((path == "/transfers" && post) || (path.starts_with("/transfers/") && get) ||
      (path == "/contracts" && get)) {
    co_return co_await transfers_api(req, ctx, path);
  }
  if ((path == "/account/transfers" && post) ||
      (path.starts_with("/account/transfers/") && (get || post))) {
    co_return co_await account_transfers(req, ctx, path);
  }

  // RFC 9110 §15.5.6: a known resource asked with a method it does not take gets 405 and the
  // methods it does take.
  struct Known {
    std::string_view path;
    std::string_view allow;
    bool prefix = false;
  };
  static constexpr Known kKnown[] = {
      {"/healthz", "GET, HEAD"}, {"/readyz", "GET, HEAD"}, {"/metrics", "GET, HEAD"},
      {"/jwks", "GET, HEAD"}, {"/authorize", "GET, HEAD, POST"}, {"/login", "POST"},
      {"/consent", "POST"}, {"/account", "GET, HEAD"}, {"/par", "POST"}, {"/token", "POST"},
      {"/introspect", "POST"}, {"/revoke", "POST"}, {"/userinfo", "GET, HEAD, POST"},
      {"/register", "POST"}, {"/logout", "GET, HEAD, POST"}, {"/authorize/continue", "GET, HEAD"},
      {"/account/grants/revoke", "POST"}, {"/audit/v1/entries", "GET, HEAD"},
      {"/audit/v1/sth", "GET, HEAD"}, {"/audit/v1/key", "GET, HEAD"},
      {"/audit/v1/proof/inclusion", "GET, HEAD"}, {"/audit/v1/proof/consistency", "GET, HEAD"},
      {"/.well-known/oauth-authorization-server", "GET, HEAD"},
      {"/.well-known/openid-configuration", "GET, HEAD"}, {"/transfers", "POST"},
      {"/transfers/", "GET, HEAD", true}, {"/contracts", "GET, HEAD"},
      {"/account/transfers", "POST"}, {"/account/transfers/", "GET, HEAD, POST", true},
      {"/register/", "GET, HEAD, PUT, DELETE", true}};
  for (const auto& known : kKnown) {
    if (known.prefix ? path.starts_with(known.path) : known.path == path) {
      auto res = json_response(req, http::status::method_not_allowed,
                               R"({"error":"invalid_request","error_description":"method not allowed"})");
      res.set(http::field::allow, known.allow);
      co_return res;
    }
  }
  co_return json_response(req, http::status::not_found, R"({"error":"not_found"})");
}

awaitable<Response> App::authorize(const Request& req, const RequestContext& ctx,
                                   const authz::Params& query) {
  auto job = [&] { return server_.authorize(query); };
  auto result = co_await offload(workers_, job);
  using Kind = authz::AuthorizeResult::Kind;
  if (result.kind == Kind::show_error) {
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({result.error.error, result.error.description}, lang_of(req)));
  }
  if (result.kind == Kind::redirect_error) {
    co_return to_client(req, result.response, lang_of(req, query.value("ui_locales")));
  }
  co_return co_await continue_flow(req, ctx, result.pending.handle);
}

awaitable<Response> App::continue_flow(const Request& req, const RequestContext& ctx,
                                       const std::string& handle) {
  const auto cookies = read_cookies(req, ctx.tls);
  struct Step {
    std::optional<storage::PendingAuthorization> pending;
    std::optional<storage::LoginSession> session;
    authz::NextStep next = authz::NextStep::login;
    std::optional<authz::Redirect> redirect;
    std::string client_name;
    std::string resident_name;
    std::string login_hint;
  };
  auto job = [&, session = cookies.session] {
    Step s;
    s.pending = server_.find_pending(handle);
    if (!s.pending) return s;
    s.login_hint = server_.login_hint(*s.pending);
    s.session = server_.session_from_cookie(session);
    s.next = server_.next_step(*s.pending, s.session);
    if (auto client = server_.find_client(s.pending->client_id)) s.client_name = client->client_name;
    if (s.session) {
      if (auto r = server_.find_resident(s.session->resident_id)) {
        s.resident_name = r->name.empty() ? r->username : r->name;
      }
    }
    using N = authz::NextStep;
    if (s.next == N::issue_code || s.next == N::login_required || s.next == N::consent_required) {
      // One-time: take the pending request so it cannot be completed twice.
      auto taken = server_.take_pending(handle);
      if (!taken) {
        s.pending.reset();
        return s;
      }
      if (s.next == N::issue_code) s.redirect = server_.approve(*taken, *s.session);
      else
        s.redirect = server_.deny(*taken, s.next == N::login_required ? "login_required" : "consent_required");
    }
    return s;
  };
  auto step = co_await offload(workers_, job);
  const auto lang = step.pending ? lang_of(req, step.pending->ui_locales) : lang_of(req);
  if (!step.pending) {
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({"invalid_request", "this sign-in request has expired or was already used; start again from the application"}, lang));
  }
  if (step.redirect) co_return to_client(req, *step.redirect, lang);
  if (step.next == authz::NextStep::login) {
    std::string csrf = cookies.login_csrf;
    if (csrf.size() < 32) {
      authz::OsRandom random;
      csrf = random.token(32);
    }
    auto res = page_response(req, http::status::ok,
                             pages::render_login({"/login", handle, csrf, step.client_name,
                                                  step.login_hint, ""},
                                                 lang),
                             step.pending->redirect_uri);
    res.insert(http::field::set_cookie, cookie(csrf_cookie_name(ctx.tls), csrf, ctx.tls, "Strict", 3600));
    co_return res;
  }
  // Consent.
  pages::ConsentPage page;
  page.action = "/consent";
  page.handle = handle;
  page.csrf_token = step.session->csrf_token;
  page.client_name = step.client_name;
  page.client_id = step.pending->client_id;
  page.resident_name = step.resident_name;
  page.scopes = authz::split_scope(step.pending->scope);
  page.details = detail_views(step.pending->authorization_details);
  if (auto u = boost::urls::parse_uri(step.pending->redirect_uri)) page.redirect_host = std::string(u->encoded_host_and_port());
  co_return page_response(req, http::status::ok, pages::render_consent(page, lang),
                          step.pending->redirect_uri);
}

awaitable<Response> App::login(const Request& req, const RequestContext& ctx) {
  const auto lang = lang_of(req);
  if (media_type(req) != kFormType) {
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({"invalid_request", "form body expected"}, lang));
  }
  auto form = authz::parse_form(req.body());
  const auto cookies = read_cookies(req, ctx.tls);
  // Login CSRF (RFC 9700 §4.7, OWASP double submit): the form's token must equal the
  // SameSite=Strict cookie set with the form, which another site can neither read nor send.
  if (!form || cookies.login_csrf.size() < 32 ||
      !authz::constant_time_equal(form->value("csrf_token"), cookies.login_csrf)) {
    co_return page_response(req, http::status::forbidden,
                            pages::render_error({"invalid_request", "the form expired or came from another site"}, lang));
  }
  auto handle = form->value("handle");
  auto username = form->value("username");
  std::string redirect_uri;
  std::string client_name;
  std::string ui_locales;
  auto job = [&] {
    auto outcome =
        server_.login(username, form->value("password"), ctx.remote_addr, cookies.session);
    if (outcome.logouts_queued > 0 && on_logout_) on_logout_();
    if (outcome.kind == authz::LoginOutcome::Kind::ok && !handle.empty())
      server_.after_login(handle, outcome.session.resident_id);
    if (outcome.kind != authz::LoginOutcome::Kind::ok && !handle.empty()) {
      if (auto pending = server_.find_pending(handle)) {
        redirect_uri = pending->redirect_uri;
        ui_locales = pending->ui_locales;
        if (auto client = server_.find_client(pending->client_id)) client_name = client->client_name;
      }
    }
    return outcome;
  };
  auto outcome = co_await offload(workers_, job);
  if (outcome.kind != authz::LoginOutcome::Kind::ok) {
    // Slow down repeated failures (on a timer, never blocking a thread).
    if (outcome.failures > 2) {
      boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(std::min(outcome.failures * 250, 3000)));
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    bool throttled = outcome.kind == authz::LoginOutcome::Kind::too_many_attempts;
    co_return page_response(req, throttled ? http::status::too_many_requests : http::status::unauthorized,
                            pages::render_login({"/login", handle, cookies.login_csrf, client_name, username,
                                                 throttled ? "too_many_attempts" : "invalid_credentials"},
                                                lang_of(req, ui_locales)),
                            redirect_uri);
  }
  auto res = redirect(req, handle.empty() ? std::string("/account")
                                          : authz::with_params("/authorize/continue", {{"handle", handle}}));
  res.insert(http::field::set_cookie, cookie(session_cookie_name(ctx.tls), outcome.session_cookie, ctx.tls, "Lax",
                                             server_.settings().session_ttl));
  co_return res;
}

awaitable<Response> App::consent(const Request& req, const RequestContext& ctx) {
  const auto lang = lang_of(req);
  if (media_type(req) != kFormType) {
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({"invalid_request", "form body expected"}, lang));
  }
  auto form = authz::parse_form(req.body());
  if (!form) {
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({"invalid_request", form.error().description}, lang));
  }
  const auto cookies = read_cookies(req, ctx.tls);
  struct Outcome {
    int status = 0;  // 0 = redirect
    std::string message;
    authz::Redirect response;
    std::string ui_locales;
  };
  auto decision = form->value("decision");
  const auto& f = *form;
  const auto& session_cookie = cookies.session;
  auto job = [&] {
    Outcome o;
    auto session = server_.session_from_cookie(session_cookie);
    // CSRF on consent (RFC 9700 §4.7): the token is bound to the login session.
    if (!session || !authz::constant_time_equal(f.value("csrf_token"), session->csrf_token)) {
      o.status = 403;
      o.message = "the form expired or came from another site";
      return o;
    }
    if (decision != "approve" && decision != "deny") {
      o.status = 400;
      o.message = "decision must be approve or deny";
      return o;
    }
    auto pending = server_.take_pending(f.value("handle"));
    if (!pending) {
      o.status = 400;
      o.message = "this request has expired or was already answered";
      return o;
    }
    o.response = decision == "approve"
                     ? server_.approve(*pending, *session)
                     : server_.deny(*pending, "access_denied", session->resident_id);
    o.ui_locales = pending->ui_locales;
    return o;
  };
  auto out = co_await offload(workers_, job);
  if (out.status != 0) {
    co_return page_response(req, static_cast<http::status>(out.status),
                            pages::render_error({"invalid_request", out.message}, lang));
  }
  co_return to_client(req, out.response, lang_of(req, out.ui_locales));
}

awaitable<Response> App::account(const Request& req, const RequestContext& ctx) {
  const auto cookies = read_cookies(req, ctx.tls);
  struct View {
    bool signed_in = false;
    pages::AccountPage page;
  };
  const auto& session_cookie = cookies.session;
  auto job = [&] {
    View v;
    auto session = server_.session_from_cookie(session_cookie);
    if (!session) return v;
    v.signed_in = true;
    if (auto r = server_.find_resident(session->resident_id)) v.page.resident_name = r->name.empty() ? r->username : r->name;
    v.page.csrf_token = session->csrf_token;
    v.page.revoke_action = "/account/grants/revoke";
    v.page.logout_action = "/logout";
    fill_portability(v.page, session->resident_id);
    for (const auto& g : server_.grants_of(session->resident_id)) {
      pages::GrantView gv;
      gv.id = g.id;
      auto client = server_.find_client(g.client_id);
      gv.client_name = client ? client->client_name : g.client_id;
      gv.scope = g.scope;
      gv.details = detail_views(g.authorization_details);
      gv.created_at = iso_time(g.created_at);
      gv.expires_at = iso_time(g.expires_at);
      v.page.grants.push_back(std::move(gv));
    }
    for (const auto& e : server_.activity_of(session->resident_id, 50)) {
      pages::ActivityView a;
      a.time = iso_time(e.time);
      a.action = e.action;
      auto client = e.client_id.empty() ? std::nullopt : server_.find_client(e.client_id);
      a.client_name = client ? client->client_name : e.client_id;
      a.purpose = e.purpose;
      a.datasets = e.datasets;
      a.outcome = e.outcome;
      v.page.activity.push_back(std::move(a));
    }
    return v;
  };
  auto view = co_await offload(workers_, job);
  const auto lang = lang_of(req);
  if (!view.signed_in) {
    std::string csrf = cookies.login_csrf;
    if (csrf.size() < 32) {
      authz::OsRandom random;
      csrf = random.token(32);
    }
    auto res = page_response(req, http::status::ok, pages::render_login({"/login", "", csrf, "", "", ""}, lang));
    res.insert(http::field::set_cookie, cookie(csrf_cookie_name(ctx.tls), csrf, ctx.tls, "Strict", 3600));
    co_return res;
  }
  co_return page_response(req, http::status::ok, pages::render_account(view.page, lang));
}

awaitable<Response> App::revoke_grant(const Request& req, const RequestContext& ctx) {
  const auto lang = lang_of(req);
  auto form = media_type(req) == kFormType ? authz::parse_form(req.body())
                                           : authz::Expected<authz::Params>(authz::make_error("invalid_request"));
  const auto cookies = read_cookies(req, ctx.tls);
  auto job = [&] {
    if (!form) return false;
    auto session = server_.session_from_cookie(cookies.session);
    if (!session || !authz::constant_time_equal(form->value("csrf_token"), session->csrf_token)) return false;
    server_.revoke_grant(session->resident_id, form->value("grant_id"));
    return true;
  };
  auto ok = co_await offload(workers_, job);
  if (!ok) {
    co_return page_response(req, http::status::forbidden,
                            pages::render_error({"invalid_request", "the form expired or came from another site"}, lang));
  }
  co_return redirect(req, "/account");
}

// A logout request (GET, or a POST without csrf_token) is checked and answered with a form that
// asks the resident to confirm (RP-Initiated Logout §2: the OP asks, so that no other site can
// sign anyone out). The form's POST carries the session's CSRF token and the request's checked
// parameters, which are checked again; it ends the session and goes back to the client's
// registered post_logout_redirect_uri with state, or to /account (the account page's sign-out
// posts only the token). With no session there is nothing to confirm: the answer is that
// redirect at once. An invalid request is shown, never redirected.
awaitable<Response> App::end_session(const Request& req, const RequestContext& ctx, bool get) {
  const std::string target(req.target());
  authz::Expected<authz::Params> params = authz::Params{};
  if (get) {
    params = authz::parse_query(query_of(target));
  } else if (media_type(req) != kFormType) {
    params = authz::make_error("invalid_request", "form body expected");
  } else {
    params = authz::parse_form(req.body());
  }
  if (!params) {
    co_return page_response(
        req, http::status::bad_request,
        pages::render_error({params.error().error, params.error().description}, lang_of(req)));
  }
  const bool confirmed = !get && params->has("csrf_token");
  if (!get && !confirmed) {
    // §2 lets a client send the request as a form POST. The session cookie is SameSite=Lax, so a
    // POST from the client's site arrives without it; the same request as a top-level GET has it.
    const auto& p = *params;
    const std::string again =
        authz::with_params("/logout", {{"id_token_hint", p.value("id_token_hint")},
                                       {"logout_hint", p.value("logout_hint")},
                                       {"client_id", p.value("client_id")},
                                       {"post_logout_redirect_uri", p.value("post_logout_redirect_uri")},
                                       {"state", p.value("state")},
                                       {"ui_locales", p.value("ui_locales")}});
    co_return redirect(req, again);
  }
  const auto cookies = read_cookies(req, ctx.tls);
  struct View {
    authz::Expected<authz::LogoutRequest> request = authz::LogoutRequest{};
    std::optional<storage::LoginSession> session;
    std::string resident_name;
    bool forged = false;
    std::vector<std::string> frontchannel;  // URLs the signed-out page loads in iframes
  };
  auto job = [&] {
    View v;
    v.request = server_.logout_request(*params);
    if (!v.request) return v;
    v.session = server_.session_from_cookie(cookies.session);
    if (!v.session) return v;
    if (confirmed) {
      v.forged = !authz::constant_time_equal(params->value("csrf_token"), v.session->csrf_token);
      if (v.forged) return v;
      auto ended = server_.logout(cookies.session, v.request->client_id);
      if (ended.backchannel_queued > 0 && on_logout_) on_logout_();
      v.frontchannel = std::move(ended.frontchannel_uris);
      return v;
    }
    if (auto r = server_.find_resident(v.session->resident_id))
      v.resident_name = r->name.empty() ? r->username : r->name;
    return v;
  };
  auto view = co_await offload(workers_, job);
  const auto lang = view.request ? lang_of(req, view.request->ui_locales) : lang_of(req);
  if (!view.request) {
    const auto& error = view.request.error();
    co_return page_response(req, http::status::bad_request,
                            pages::render_error({error.error, error.description}, lang));
  }
  if (view.forged) {
    co_return page_response(
        req, http::status::forbidden,
        pages::render_error({"invalid_request", "the form expired or came from another site"}, lang));
  }
  const auto& request = *view.request;
  if (view.session && !confirmed) {
    pages::LogoutPage page{"/logout",           view.session->csrf_token,
                           request.client_name, request.client_id,
                           request.post_logout_redirect_uri,
                           request.state,       request.ui_locales,
                           view.resident_name};
    // The confirmation's answer redirects to the client (see page_response: no form-action).
    co_return page_response(req, http::status::ok, pages::render_logout(page, lang),
                            request.post_logout_redirect_uri);
  }
  const std::string back =
      request.post_logout_redirect_uri.empty()
          ? std::string("/account")
          : authz::with_params(request.post_logout_redirect_uri, {{"state", request.state}});
  if (view.frontchannel.empty()) {
    auto res = redirect(req, back);
    res.insert(http::field::set_cookie,
               cookie(session_cookie_name(ctx.tls), "", ctx.tls, "Lax", 0));
    co_return res;
  }
  // Front-Channel Logout §3: a page that loads each client's logout URI in an iframe, then
  // goes on to where the browser would have been sent. The CSP lets it frame those origins and
  // nothing else.
  auto res = page_response(req, http::status::ok,
                           pages::render_signed_out(view.frontchannel, back, lang), {},
                           view.frontchannel);
  res.insert(http::field::set_cookie,
             cookie(session_cookie_name(ctx.tls), "", ctx.tls, "Lax", 0));
  co_return res;
}

awaitable<Response> App::audit_api(const Request& req, const RequestContext& ctx,
                                   std::string_view path) {
  if (path == "/audit/v1/key") {
    auto job = [this] { return server_.audit().public_jwk(); };
    auto jwk = co_await offload(workers_, job);
    auto res = json_response(req, http::status::ok, std::move(jwk));
    res.set(http::field::content_type, "application/jwk+json");
    co_return res;
  }
  const std::string target(req.target());
  auto query = authz::parse_query(query_of(target));
  if (!query) co_return oauth_error(req, authz::EndpointError{query.error(), {}});
  bool repeated = false;
  const auto facts = request_facts(req, ctx, endpoint_url(server_.settings(), ctx, path), repeated);
  if (repeated) co_return bad_request(req, "more than one Authorization header");
  const bool json_lines = query->value("format") == "jsonl" ||
                          header(req, http::field::accept).find("application/jsonl") != std::string::npos;
  auto job = [&]() -> authz::Answer {
    if (path == "/audit/v1/entries") return server_.audit_entries(*query, facts, json_lines);
    if (path == "/audit/v1/sth") return server_.audit_tree_head(facts);
    if (path == "/audit/v1/proof/inclusion") return server_.audit_inclusion(*query, facts);
    if (path == "/audit/v1/proof/consistency") return server_.audit_consistency(*query, facts);
    return authz::EndpointError{authz::make_error("not_found", "no such audit resource"), {}};
  };
  auto answer = co_await offload(workers_, job);
  if (!answer) {
    if (answer.error().error.error == "not_found")
      co_return json_response(req, http::status::not_found, R"({"error":"not_found"})");
    co_return oauth_error(req, answer.error());
  }
  auto res = json_response(req, static_cast<http::status>(answer->status), std::move(answer->body));
  if (json_lines && path == "/audit/v1/entries") res.set(http::field::content_type, "application/jsonl");
  co_return res;
}

awaitable<Response> App::back_channel(const Request& req, const RequestContext& ctx, std::string_view route) {
  bool repeated = false;
  auto facts = request_facts(req, ctx, endpoint_url(server_.settings(), ctx, route), repeated);
  if (repeated) co_return bad_request(req, "more than one Authorization header");

  const std::string target(req.target());
  if (route == "/userinfo") {
    // RFC 6750 §3: a request to a protected resource that carries no usable access token is
    // answered with the Bearer challenge, invalid_request (§3.1) here: a client that put its
    // token where this server takes none learns why from the header it reads.
    auto refuse = [&req](std::string why) {
      return oauth_error(req, authz::EndpointError{
                                  authz::make_error("invalid_request", std::move(why)), "Bearer"});
    };
    // RFC 9700 §4.3.2 / OAuth 2.1 §5.2: access tokens never travel in the URL.
    if (!query_of(target).empty()) {
      auto q = authz::parse_query(query_of(target));
      if (!q || q->has("access_token"))
        co_return refuse("access tokens are not accepted in the URL");
    }
    if (req.method() == http::verb::post && !req.body().empty()) {
      // RFC 6750 §2.2 (kept by OAuth 2.1 §5.2.1.2): a POST may carry the token as the form
      // parameter access_token instead of in the header, never in both (§2: one method only).
      if (media_type(req) != kFormType)
        co_return refuse("Content-Type must be application/x-www-form-urlencoded");
      auto form = authz::parse_form(req.body());
      if (!form) co_return oauth_error(req, authz::EndpointError{form.error(), "Bearer"});
      if (form->all("access_token").size() > 1)
        co_return refuse("access_token appears more than once");
      const auto token = form->get("access_token");
      if (!token || token->empty()) co_return refuse("access_token is missing");
      if (facts.authorization)
        co_return refuse("the access token is in both the header and the body");
      facts.authorization = "Bearer " + std::string(*token);
    }
    auto job = [&] { return server_.userinfo(facts); };
    auto answer = co_await offload(workers_, job);
    if (!answer) co_return oauth_error(req, answer.error());
    auto res = json_response(req, http::status::ok, std::move(answer->body));
    if (!answer->content_type.empty()) res.set(http::field::content_type, answer->content_type);
    co_return res;
  }
  if (!query_of(target).empty()) co_return bad_request(req, "parameters belong in the body, not the URL");

  if (route == "/register") {
    if (media_type(req) != kJsonType) co_return bad_request(req, "Content-Type must be application/json");
    auto job = [&] { return server_.register_client(req.body(), facts); };
    auto answer = co_await offload(workers_, job);
    if (!answer) co_return oauth_error(req, answer.error());
    co_return json_response(req, static_cast<http::status>(answer->status), std::move(answer->body));
  }

  if (media_type(req) != kFormType)
    co_return bad_request(req, "Content-Type must be application/x-www-form-urlencoded");
  auto form = authz::parse_form(req.body());
  if (!form) co_return oauth_error(req, authz::EndpointError{form.error(), {}});
  const auto& f = *form;
  // A client_credentials token's write is committed below without holding a worker: its
  // group commit then gathers every token issued meanwhile. Such a token is issued right here,
  // on this I/O thread, when that needs no storage (a cached client, fresh keys): two thread
  // hand-overs fewer; otherwise, and for everything else, on a worker. Likewise an
  // introspection answer read before, while nothing a token's answer depends on has changed.
  std::optional<authz::TokenWrite> write;
  std::optional<authz::Answer> from_memory;
  if (route == "/token") from_memory = server_.token_in_memory(f, facts, write);
  if (route == "/introspect") from_memory = server_.introspect_in_memory(f, facts);
  auto job = [&]() -> authz::Answer {
    if (route == "/token") return server_.token(f, facts, &write);
    if (route == "/par") return server_.par(f, facts);
    if (route == "/introspect") return server_.introspect(f, facts);
    return server_.revoke(f, facts);
  };
  const bool issued_on_io_thread = from_memory.has_value();  // or answered there
  if (!from_memory) from_memory = co_await offload(workers_, job);
  auto& answer = *from_memory;
  if (write) {
    // Durable before the answer leaves; a failed write throws, and the client gets a 500.
    auto submit = [this, &write](Done done) {
      server_.store().submit_access_token(std::move(write->record), std::move(write->event),
                                          std::move(done));
    };
    co_await until_done(submit);
  }
  if (!answer) co_return oauth_error(req, answer.error());
  if (route == "/token") {
    metrics_.counter("infobank_tokens_issued_total").inc();
    if (issued_on_io_thread) metrics_.counter("infobank_tokens_issued_on_io_thread_total").inc();
  }
  if (route == "/introspect" && issued_on_io_thread)
    metrics_.counter("infobank_introspections_from_memory_total").inc();
  auto res = json_response(req, static_cast<http::status>(answer->status), std::move(answer->body));
  if (!answer->content_type.empty()) res.set(http::field::content_type, answer->content_type);
  co_return res;
}

awaitable<Response> App::client_configuration(const Request& req, const RequestContext& ctx,
                                              std::string_view path) {
  bool repeated = false;
  const auto facts = request_facts(req, ctx, endpoint_url(server_.settings(), ctx, path), repeated);
  if (repeated) co_return bad_request(req, "more than one Authorization header");
  if (!query_of(std::string(req.target())).empty())
    co_return bad_request(req, "parameters belong in the body, not the URL");
  const bool put = req.method() == http::verb::put;
  if (put && media_type(req) != kJsonType)
    co_return bad_request(req, "Content-Type must be application/json");
  const std::string client_id(path.substr(std::string_view("/register/").size()));
  const std::string method = put ? "PUT" : req.method() == http::verb::delete_ ? "DELETE" : "GET";
  auto job = [&] { return server_.manage_client(method, client_id, req.body(), facts); };
  auto answer = co_await offload(workers_, job);
  if (!answer) co_return oauth_error(req, answer.error());
  auto res = json_response(req, static_cast<http::status>(answer->status), std::move(answer->body));
  if (answer->status == 204) {
    res.erase(http::field::content_type);
    res.prepare_payload();
  }
  co_return res;
}

}  // namespace server
