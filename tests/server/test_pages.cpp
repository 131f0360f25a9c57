#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

#include "pages.hpp"

namespace server::pages {
namespace {

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

// A real attribute like ` onclick="`; escaped input can never produce `="`.
bool has_event_handler(std::string_view html) {
  for (auto pos = html.find(" on"); pos != std::string_view::npos;
       pos = html.find(" on", pos + 1)) {
    auto i = pos + 3;
    while (i < html.size() && html[i] >= 'a' && html[i] <= 'z') ++i;
    if (i > pos + 3 && i < html.size() && html[i] == '=' && i + 1 < html.size() &&
        html[i + 1] == '"') {
      return true;
    }
  }
  return false;
}

// CSP 3 §8.4: the hash is over the exact text content of the <style> element, base64.
std::string csp_sha256(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), digest.data(), &digest_len, EVP_sha256(), nullptr),
            1);
  std::array<unsigned char, 4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1> b64{};
  const int n = EVP_EncodeBlock(b64.data(), digest.data(), static_cast<int>(digest_len));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(b64.data()), n) + "'";
}

// The one <style> element's content; fails the test if there is not exactly one.
std::string_view style_of(std::string_view html) {
  EXPECT_EQ(count(html, "<style"), 1u);
  const auto open = html.find("<style>");
  const auto close = html.find("</style>");
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    ADD_FAILURE() << "no <style> element";
    return {};
  }
  return html.substr(open + 7, close - open - 7);
}

// What the CSP allows: no script, no style attributes, no event handlers, nothing external.
void expect_csp_clean(std::string_view html) {
  EXPECT_FALSE(contains(html, "<script")) << html;
  EXPECT_FALSE(contains(html, " style=")) << html;
  EXPECT_FALSE(has_event_handler(html)) << html;
  EXPECT_FALSE(contains(html, " src=")) << html;
  EXPECT_FALSE(contains(html, " href=")) << html;
  EXPECT_FALSE(contains(html, "<link")) << html;
  EXPECT_FALSE(contains(html, "://")) << html;
  EXPECT_EQ(csp_sha256(style_of(html)), kStyleCspHash);
}

constexpr std::string_view kHostile = "<script>alert(1)</script>";
constexpr std::string_view kQuotes = R"(x" onmouseover="alert(1)' y='z)";

LoginPage sample_login() {
  return {.action = "/login",
          .handle = "h-123",
          .csrf_token = "c-456",
          .client_name = "Health Diary",
          .username = "",
          .error = ""};
}

ConsentPage sample_consent() {
  ConsentPage page;
  page.action = "/consent";
  page.handle = "h-123";
  page.csrf_token = "c-456";
  page.client_name = "Health Diary";
  page.client_id = "health-diary";
  page.resident_name = "Hanako";
  page.scopes = {"openid", "profile", "offline_access", "portability.export", "custom.weird"};
  AuthorizationDetailView provision;
  provision.type = "personal_data_provision";
  provision.datasets = {"steps", "heart_rate"};
  provision.purpose = "health advice";
  provision.recipient = "Clinic A";
  provision.retention_until = "2026-03-31";
  AuthorizationDetailView transfer;
  transfer.type = "personal_data_transfer";
  transfer.datasets = {"bank_statements"};
  transfer.source = "Old Bank";
  transfer.destination = "New Bank";
  transfer.delete_at_source = true;
  page.details = {provision, transfer};
  page.redirect_host = "diary.example";
  return page;
}

// --- ui_locales_language -----------------------------------------------------------------

TEST(UiLocales, TheFirstTagWeServeWinsCaseInsensitively) {
  EXPECT_EQ(ui_locales_language("fr-CA JA-jp en"), Lang::ja);
  EXPECT_EQ(ui_locales_language("en-GB ja"), Lang::en);
  EXPECT_EQ(ui_locales_language("Ja"), Lang::ja);
  EXPECT_FALSE(ui_locales_language("fr de-CH"));
  EXPECT_FALSE(ui_locales_language(""));
  EXPECT_EQ(ui_locales_language("jan en-x"), Lang::en);  // "jan" is not "ja"
}

// --- negotiate_language -----------------------------------------------------------------

TEST(NegotiateLanguage, PicksHighestQ) {
  EXPECT_EQ(negotiate_language("ja;q=0.9,en;q=0.8"), Lang::ja);
  EXPECT_EQ(negotiate_language("en;q=0.8, ja;q=0.9"), Lang::ja);
  EXPECT_EQ(negotiate_language("ja;q=0.5, en"), Lang::en);
  EXPECT_EQ(negotiate_language("fr, ja;q=0.3, en;q=0.2"), Lang::ja);
  EXPECT_EQ(negotiate_language("ja;q=0.001"), Lang::ja);
}

TEST(NegotiateLanguage, MatchesPrimarySubtag) {
  EXPECT_EQ(negotiate_language("en-US"), Lang::en);
  EXPECT_EQ(negotiate_language("ja-JP"), Lang::ja);
  EXPECT_EQ(negotiate_language("JA-jp"), Lang::ja);
  EXPECT_EQ(negotiate_language("ja-JP,ja;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::ja);
  EXPECT_EQ(negotiate_language("jav"), Lang::en) << "Javanese is not Japanese";
}

TEST(NegotiateLanguage, WildcardAndDefault) {
  EXPECT_EQ(negotiate_language("*"), Lang::en);
  EXPECT_EQ(negotiate_language(""), Lang::en);
  EXPECT_EQ(negotiate_language("fr, de"), Lang::en);
  EXPECT_EQ(negotiate_language("*, ja"), Lang::ja) << "explicit beats * at equal q";
  EXPECT_EQ(negotiate_language("en;q=0.1, *"), Lang::ja) << "* stands for ja here";
}

TEST(NegotiateLanguage, TiesGoToTheFirstListed) {
  EXPECT_EQ(negotiate_language("ja, en"), Lang::ja);
  EXPECT_EQ(negotiate_language("en, ja"), Lang::en);
}

TEST(NegotiateLanguage, QZeroExcludes) {
  EXPECT_EQ(negotiate_language("ja;q=0"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;q=0, *"), Lang::en);
  EXPECT_EQ(negotiate_language("en;q=0, ja;q=0.1"), Lang::ja);
  EXPECT_EQ(negotiate_language("en;q=0, *;q=0.5"), Lang::ja);
  EXPECT_EQ(negotiate_language("en;q=0.000, ja;q=0.000"), Lang::en) << "nothing fits: default";
}

TEST(NegotiateLanguage, GarbageFallsBackToEnglish) {
  EXPECT_EQ(negotiate_language("garbage;;;,,,"), Lang::en);
  EXPECT_EQ(negotiate_language("\xff\xfe"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;q=2"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;q=1.5"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;q=0.1234"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;q=abc"), Lang::en);
  EXPECT_EQ(negotiate_language("ja;level=1"), Lang::en);
  EXPECT_EQ(negotiate_language("ja_JP"), Lang::en);
  EXPECT_EQ(negotiate_language("ja-toolongsubtag"), Lang::en);
  EXPECT_EQ(negotiate_language(",,ja ; q=0.9 ,"), Lang::ja) << "OWS and empty elements are fine";
  EXPECT_EQ(negotiate_language("ja;Q=1.000"), Lang::ja);
  EXPECT_EQ(negotiate_language(std::string(100000, ',') + "ja"), Lang::ja);
}

// --- escape -----------------------------------------------------------------------------

TEST(Escape, EscapesTheFiveCharacters) {
  EXPECT_EQ(escape(R"(<a href="x">Tom & 'Jerry'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  EXPECT_EQ(escape("日本語 plain"), "日本語 plain");
  EXPECT_EQ(escape(""), "");
}

// The account page's own sign-out form: no client, no redirect.
LogoutPage bare_logout() {
  LogoutPage page;
  page.action = "/logout";
  page.csrf_token = "c";
  return page;
}

// --- style hash ---------------------------------------------------------------------------

TEST(Style, HashConstantMatchesEveryPage) {
  const std::string pages[] = {render_login(sample_login(), Lang::en),
                               render_consent(sample_consent(), Lang::ja),
                               render_error({"invalid_client", "no such client"}, Lang::en),
                               render_logout(bare_logout(), Lang::ja),
                               render_account({.resident_name = "Hanako",
                                               .csrf_token = "c",
                                               .grants = {},
                                               .activity = {},
                                               .revoke_action = "/account/grants/revoke",
                                               .logout_action = "/logout",
                   .contracts = {},
                   .transfers = {},
                   .services = {},
                   .transfer_action = ""},
                                              Lang::ja)};
  for (const auto& html : pages) {
    EXPECT_EQ(csp_sha256(style_of(html)), kStyleCspHash);
  }
}

// --- logout -------------------------------------------------------------------------------

TEST(LogoutPage, AsksWithTheRequestInHiddenFieldsAndNamesWhoAsks) {
  const LogoutPage page{.action = "/logout",
                        .csrf_token = "c-1",
                        .client_name = "Health <Diary>",
                        .client_id = "hd",
                        .post_logout_redirect_uri = "https://rp.test/bye?a=1&b=\"2\"",
                        .state = "s-1",
                        .ui_locales = "ja",
                        .resident_name = "Hanako"};
  const auto html = render_logout(page, Lang::en);
  EXPECT_TRUE(contains(html, R"(<form method="post" action="/logout">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="csrf_token" value="c-1">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="client_id" value="hd">)"));
  EXPECT_TRUE(contains(
      html,
      R"(name="post_logout_redirect_uri" value="https://rp.test/bye?a=1&amp;b=&quot;2&quot;">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="state" value="s-1">)"));
  EXPECT_TRUE(contains(html, "<strong>Health &lt;Diary&gt;</strong> asks to sign you out."));
  EXPECT_TRUE(contains(html, "<strong>Hanako</strong>"));
  EXPECT_TRUE(contains(html, R"(<button type="submit" class="primary">Sign out</button>)"));
  // (The hidden redirect URI is a URL in a value, not a reference; the page without it is clean.)
  expect_csp_clean(render_logout(bare_logout(), Lang::en));
  const auto ja = render_logout(page, Lang::ja);
  EXPECT_TRUE(ja.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
  EXPECT_TRUE(contains(ja, "ログアウトしますか"));
  EXPECT_TRUE(contains(ja, "がログアウトを求めています"));
  // Without a client (the account page's own sign-out has none), no one is named as asking.
  EXPECT_FALSE(contains(render_logout(bare_logout(), Lang::en), "asks"));
}

// Front-Channel Logout: one hidden iframe per client, the URIs escaped as attribute values, and
// the way on (a refresh after two seconds, and a link) to where the browser was going.
TEST(SignedOutPage, LoadsEachFrontChannelUriAndGoesOn) {
  const std::vector<std::string> uris = {"https://a.test/front?iss=x&sid=1",
                                         "https://b.test/front?q=\"><script>"};
  const auto html = render_signed_out(uris, "https://rp.test/bye?state=s&x=1", Lang::en);
  EXPECT_TRUE(contains(
      html, R"(<iframe hidden title="logout" src="https://a.test/front?iss=x&amp;sid=1"></iframe>)"));
  EXPECT_TRUE(contains(
      html,
      R"(<iframe hidden title="logout" src="https://b.test/front?q=&quot;&gt;&lt;script&gt;"></iframe>)"));
  EXPECT_FALSE(contains(html, "<script"));
  EXPECT_TRUE(contains(
      html, R"(<meta http-equiv="refresh" content="2;url=https://rp.test/bye?state=s&amp;x=1">)"));
  EXPECT_TRUE(contains(html, R"(<a href="https://rp.test/bye?state=s&amp;x=1">Continue</a>)"));
  EXPECT_EQ(csp_sha256(style_of(html)), kStyleCspHash);
  const auto ja = render_signed_out({}, "/account", Lang::ja);
  EXPECT_TRUE(contains(ja, "ログアウトしました"));
  EXPECT_FALSE(contains(ja, "<iframe"));
}

// --- login --------------------------------------------------------------------------------

TEST(LoginPage, HasTheFormFields) {
  const auto html = render_login(sample_login(), Lang::en);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">")) << html;
  EXPECT_TRUE(contains(html, R"(<meta charset="utf-8">)"));
  EXPECT_TRUE(contains(html, R"(<meta name="viewport")"));
  EXPECT_TRUE(contains(html, R"(<form method="post" action="/login">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="handle" value="h-123">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="csrf_token" value="c-456">)"));
  EXPECT_TRUE(contains(html, R"(<label for="username">)"));
  EXPECT_TRUE(contains(html, R"(id="username" name="username" autocomplete="username")"));
  EXPECT_TRUE(contains(html, R"(<label for="password">)"));
  EXPECT_TRUE(contains(html, R"(id="password" name="password" autocomplete="current-password")"));
  EXPECT_TRUE(contains(html, R"(<button type="submit")"));
  EXPECT_TRUE(contains(html, "Health Diary"));
  EXPECT_FALSE(contains(html, "role=\"alert\""));
  expect_csp_clean(html);
}

TEST(LoginPage, Japanese) {
  const auto html = render_login(sample_login(), Lang::ja);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
  EXPECT_TRUE(contains(html, "ログイン"));
  EXPECT_TRUE(contains(html, "ユーザー名"));
  EXPECT_TRUE(contains(html, "パスワード"));
  expect_csp_clean(html);
}

TEST(LoginPage, ErrorsDoNotRevealWhetherTheUserExists) {
  auto page = sample_login();
  page.username = "hanako";
  page.error = "invalid_credentials";
  const auto invalid = render_login(page, Lang::en);
  EXPECT_TRUE(contains(invalid, "role=\"alert\""));
  EXPECT_TRUE(contains(invalid, "The username or password is incorrect."));
  EXPECT_TRUE(contains(invalid, R"(value="hanako")"));
  // An unrecognised error code is shown as the generic message, never echoed.
  page.error = "unknown_user <b>";
  const auto unknown = render_login(page, Lang::en);
  EXPECT_EQ(unknown, invalid);
  page.error = "too_many_attempts";
  const auto throttled = render_login(page, Lang::ja);
  EXPECT_TRUE(contains(throttled, "試行回数が多すぎます"));
  page.error = "invalid_credentials";
  EXPECT_TRUE(
      contains(render_login(page, Lang::ja), "ユーザー名またはパスワードが正しくありません"));
}

TEST(LoginPage, EscapesEverythingFromTheCaller) {
  LoginPage page{.action = std::string(kQuotes),
                 .handle = std::string(kQuotes),
                 .csrf_token = std::string(kQuotes),
                 .client_name = std::string(kHostile),
                 .username = std::string(kQuotes),
                 .error = std::string(kHostile)};
  for (const auto lang : {Lang::en, Lang::ja}) {
    const auto html = render_login(page, lang);
    EXPECT_FALSE(contains(html, kHostile));
    EXPECT_FALSE(contains(html, kQuotes));
    EXPECT_FALSE(contains(html, "onmouseover=\""));
    EXPECT_TRUE(contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT_TRUE(contains(html, "x&quot; onmouseover=&quot;alert(1)&#39; y=&#39;z"));
    expect_csp_clean(html);
  }
}

// --- consent ------------------------------------------------------------------------------

TEST(ConsentPage, HasTheFormAndBothDecisions) {
  const auto html = render_consent(sample_consent(), Lang::en);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
  EXPECT_TRUE(contains(html, R"(<form method="post" action="/consent">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="handle" value="h-123">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="csrf_token" value="c-456">)"));
  EXPECT_TRUE(contains(html, R"(<button type="submit" name="decision" value="approve")"));
  EXPECT_TRUE(contains(html, R"(<button type="submit" name="decision" value="deny")"));
  EXPECT_EQ(count(html, "<form"), 1u);
  expect_csp_clean(html);
}

TEST(ConsentPage, SaysWhoAsksForWhatInEnglish) {
  const auto html = render_consent(sample_consent(), Lang::en);
  EXPECT_TRUE(contains(html, "<strong>Health Diary</strong>"));
  EXPECT_TRUE(contains(html, "<code>health-diary</code>"));
  EXPECT_TRUE(contains(html, "Hanako"));
  EXPECT_TRUE(contains(html, "Confirm who you are <code>openid</code>"));
  EXPECT_TRUE(contains(html, "Your name <code>profile</code>"));
  EXPECT_TRUE(contains(html, "Keep access while you are away (refresh tokens)"));
  EXPECT_TRUE(contains(html, "<code>portability.export</code>"));
  EXPECT_TRUE(contains(html, "<li><code>custom.weird</code></li>")) << "unknown scope, literal";
  // Provision.
  EXPECT_TRUE(contains(html, "<code>steps</code>"));
  EXPECT_TRUE(contains(html, "<code>heart_rate</code>"));
  EXPECT_TRUE(contains(html, "<dt>Purpose</dt>\n<dd>health advice</dd>"));
  EXPECT_TRUE(contains(html, "<dt>Recipient</dt>\n<dd>Clinic A</dd>"));
  EXPECT_TRUE(contains(html, "<dt>Allowed until</dt>\n<dd>2026-03-31</dd>"));
  // Transfer.
  EXPECT_TRUE(contains(html, "<code>bank_statements</code>"));
  EXPECT_TRUE(contains(html, "<dt>From</dt>\n<dd>Old Bank</dd>"));
  EXPECT_TRUE(contains(html, "<dt>To</dt>\n<dd>New Bank</dd>"));
  EXPECT_TRUE(contains(html, "will be deleted at the source"));
  // Where the answer goes.
  EXPECT_TRUE(contains(html, "sent back to <code>diary.example</code>"));
}

TEST(ConsentPage, SaysWhoAsksForWhatInJapanese) {
  const auto html = render_consent(sample_consent(), Lang::ja);
  EXPECT_TRUE(html.starts_with("<!DOCTYPE html>\n<html lang=\"ja\">"));
  EXPECT_TRUE(contains(html, "<strong>Health Diary</strong>"));
  EXPECT_TRUE(contains(html, "<code>health-diary</code>"));
  EXPECT_TRUE(contains(html, "あなたが誰であるかを確認します <code>openid</code>"));
  EXPECT_TRUE(contains(html, "リフレッシュトークン"));
  EXPECT_TRUE(contains(html, "<li><code>custom.weird</code></li>"));
  EXPECT_TRUE(contains(html, "<dt>利用目的</dt>\n<dd>health advice</dd>"));
  EXPECT_TRUE(contains(html, "<dt>提供先</dt>\n<dd>Clinic A</dd>"));
  EXPECT_TRUE(contains(html, "<dt>利用期限</dt>\n<dd>2026-03-31</dd>"));
  EXPECT_TRUE(contains(html, "<dt>移行元</dt>\n<dd>Old Bank</dd>"));
  EXPECT_TRUE(contains(html, "<dt>移行先</dt>\n<dd>New Bank</dd>"));
  EXPECT_TRUE(contains(html, "移行元で削除されます"));
  EXPECT_TRUE(contains(html, ">同意する</button>"));
  EXPECT_TRUE(contains(html, ">拒否する</button>"));
  EXPECT_TRUE(contains(html, "<code>diary.example</code> に戻ります"));
  expect_csp_clean(html);
}

TEST(ConsentPage, TransferKeptAtSourceAndMissingFieldsAreSaid) {
  auto page = sample_consent();
  page.details[0].retention_until.clear();
  page.details[1].delete_at_source = false;
  const auto html = render_consent(page, Lang::en);
  EXPECT_TRUE(contains(html, "<dt>Allowed until</dt>\n<dd>Until you withdraw it</dd>"));
  EXPECT_TRUE(contains(html, "Your data stays at the source."));
  EXPECT_FALSE(contains(html, "will be deleted"));
  EXPECT_TRUE(contains(render_consent(page, Lang::ja), "移行元にも残ります"));
}

TEST(ConsentPage, EscapesEverythingFromTheCaller) {
  ConsentPage page;
  page.action = std::string(kQuotes);
  page.handle = std::string(kQuotes);
  page.csrf_token = std::string(kQuotes);
  page.client_name = std::string(kHostile);
  page.client_id = std::string(kHostile);
  page.resident_name = std::string(kHostile);
  page.scopes = {std::string(kHostile), std::string(kQuotes)};
  AuthorizationDetailView d;
  d.type = std::string(kHostile);
  d.datasets = {std::string(kHostile)};
  d.purpose = std::string(kHostile);
  d.recipient = std::string(kHostile);
  d.retention_until = std::string(kHostile);
  d.source = std::string(kHostile);
  d.destination = std::string(kHostile);
  page.details = {d, d};
  page.details[0].type = "personal_data_provision";
  page.details[1].type = "personal_data_transfer";
  page.details.push_back(d);  // unknown type: every field shown, escaped
  page.redirect_host = std::string(kHostile);
  for (const auto lang : {Lang::en, Lang::ja}) {
    const auto html = render_consent(page, lang);
    EXPECT_FALSE(contains(html, kHostile));
    EXPECT_FALSE(contains(html, kQuotes));
    EXPECT_FALSE(contains(html, "onmouseover=\""));
    // Every field shown once: client name, id, resident, scope, redirect host (5); provision
    // datasets, purpose, recipient, until (4); transfer datasets, from, to (3); the unknown
    // type's name and all six fields (7).
    EXPECT_EQ(count(html, "&lt;script&gt;alert(1)&lt;/script&gt;"), 19u);
    expect_csp_clean(html);
  }
}

// --- error --------------------------------------------------------------------------------

TEST(ErrorPage, ShowsCodeAndDescriptionEscaped) {
  const auto en = render_error({"invalid_client", "unknown client_id"}, Lang::en);
  EXPECT_TRUE(contains(en, "This application is not known to us."));
  EXPECT_TRUE(contains(en, "unknown client_id"));
  EXPECT_TRUE(contains(en, "<code>invalid_client</code>"));
  expect_csp_clean(en);
  const auto ja = render_error({"invalid_client", "unknown client_id"}, Lang::ja);
  EXPECT_TRUE(contains(ja, "<html lang=\"ja\">"));
  EXPECT_TRUE(contains(ja, "このアプリケーションは登録されていません。"));

  const auto hostile = render_error({std::string(kHostile), std::string(kQuotes)}, Lang::en);
  EXPECT_FALSE(contains(hostile, kHostile));
  EXPECT_FALSE(contains(hostile, kQuotes));
  expect_csp_clean(hostile);
}

// --- form_post ----------------------------------------------------------------------------

// The form_post page: its one script is the one the CSP hash names, its fields are escaped,
// and it is otherwise as clean as every other page.
TEST(FormPostPage, PostsTheFieldsToTheRedirectUriAndSubmitsItself) {
  const std::vector<std::pair<std::string, std::string>> fields = {
      {"code", "c-1"}, {"state", std::string(kQuotes)}, {"iss", "https://bank.test"}};
  const auto html = render_form_post("https://rp.test/cb?x=1&y=2", fields, Lang::en);
  EXPECT_TRUE(contains(html, R"(<form method="post" action="https://rp.test/cb?x=1&amp;y=2">)"))
      << html;
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="code" value="c-1">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="iss" value="https://bank.test">)"));
  EXPECT_FALSE(contains(html, kQuotes)) << "the state is escaped";
  EXPECT_TRUE(contains(html, "<button type=\"submit\"")) << "works without script too";

  const auto open = html.find("<script>");
  const auto close = html.find("</script>");
  ASSERT_NE(open, std::string::npos);
  ASSERT_NE(close, std::string::npos);
  EXPECT_EQ(html.find("<script", open + 1), std::string::npos) << "one script";
  EXPECT_EQ(csp_sha256(std::string_view(html).substr(open + 8, close - open - 8)),
            kFormPostScriptCspHash);
  EXPECT_EQ(csp_sha256(style_of(html)), kStyleCspHash);
  EXPECT_FALSE(contains(html, " style=")) << html;
  EXPECT_FALSE(has_event_handler(html)) << html;
  EXPECT_FALSE(contains(html, " src=")) << html;
  EXPECT_TRUE(contains(render_form_post("https://rp.test/cb", fields, Lang::ja), "続ける"));
}

// --- account ------------------------------------------------------------------------------

AccountPage sample_account() {
  AccountPage page;
  page.resident_name = "Hanako";
  page.csrf_token = "c-456";
  page.revoke_action = "/account/grants/revoke";
  page.logout_action = "/logout";
  GrantView grant;
  grant.id = "g-1";
  grant.client_name = "Health Diary";
  grant.scope = "openid  offline_access x.y";
  grant.details = sample_consent().details;
  grant.created_at = "2025-01-02T03:04:05Z";
  page.grants = {grant};
  grant.id = "g-2";
  grant.expires_at = "2025-12-31T00:00:00Z";
  page.grants.push_back(grant);
  return page;
}

TEST(AccountPage, ListsGrantsWithRevokeForms) {
  const auto html = render_account(sample_account(), Lang::en);
  EXPECT_EQ(count(html, R"(<form method="post" action="/account/grants/revoke">)"), 2u);
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="grant_id" value="g-1">)"));
  EXPECT_TRUE(contains(html, R"(<input type="hidden" name="grant_id" value="g-2">)"));
  EXPECT_EQ(count(html, R"(<input type="hidden" name="csrf_token" value="c-456">)"), 3u);
  EXPECT_TRUE(contains(html, R"(<form method="post" action="/logout">)"));
  EXPECT_TRUE(contains(html, "Keep access while you are away"));
  EXPECT_TRUE(contains(html, "<li><code>x.y</code></li>"));
  EXPECT_TRUE(contains(html, "Until you withdraw it"));
  EXPECT_TRUE(contains(html, "2025-12-31T00:00:00Z"));
  EXPECT_TRUE(contains(html, "<dt>Recipient</dt>\n<dd>Clinic A</dd>"));
  expect_csp_clean(html);

  const auto ja = render_account(sample_account(), Lang::ja);
  EXPECT_TRUE(contains(ja, "<html lang=\"ja\">"));
  EXPECT_TRUE(contains(ja, ">取り消す</button>"));
  EXPECT_TRUE(contains(ja, "<dt>利用目的</dt>\n<dd>health advice</dd>"));
  EXPECT_TRUE(contains(ja, "移行元で削除されます"));
  expect_csp_clean(ja);
}

TEST(AccountPage, EmptyAndEscaped) {
  AccountPage page{.resident_name = std::string(kHostile),
                   .csrf_token = std::string(kQuotes),
                   .grants = {},
                   .activity = {},
                   .revoke_action = "/account/grants/revoke",
                   .logout_action = "",
                   .contracts = {},
                   .transfers = {},
                   .services = {},
                   .transfer_action = ""};
  auto html = render_account(page, Lang::en);
  EXPECT_TRUE(contains(html, "You have not allowed any application access."));
  EXPECT_EQ(count(html, "<form"), 0u);
  page.grants = sample_account().grants;
  page.grants[0].id = std::string(kQuotes);
  page.grants[0].client_name = std::string(kHostile);
  page.grants[0].scope = std::string(kHostile);
  html = render_account(page, Lang::ja);
  EXPECT_FALSE(contains(html, kHostile));
  EXPECT_FALSE(contains(html, kQuotes));
  expect_csp_clean(html);
}

TEST(AccountPage, ShowsTheResidentsActivityEscaped) {
  AccountPage page = sample_account();
  EXPECT_TRUE(contains(render_account(page, Lang::en), "Nothing has been recorded yet."));
  page.activity.push_back({.time = "2026-11-23 10:00 UTC",
                           .action = "token.issued",
                           .client_name = std::string(kHostile),
                           .purpose = "child-care support",
                           .datasets = {"address", "children"},
                           .outcome = "success"});
  auto en = render_account(page, Lang::en);
  EXPECT_TRUE(contains(en, "Who used your data"));
  EXPECT_TRUE(contains(en, "The service was given access <code>token.issued</code>"));
  EXPECT_TRUE(contains(en, "address, children"));
  EXPECT_TRUE(contains(en, "child-care support"));
  EXPECT_FALSE(contains(en, kHostile));
  expect_csp_clean(en);
  auto ja = render_account(page, Lang::ja);
  EXPECT_TRUE(contains(ja, "あなたのデータの利用記録"));
  EXPECT_TRUE(contains(ja, "サービスにアクセス権が発行されました"));
}

// --- Transfers -------------------------------------------------------------------------------

TransferPage sample_transfer(std::string state) {
  TransferPage page;
  page.id = "t-1";
  page.source_name = "Blog <X>";
  page.destination_name = "Blog Y";
  page.delete_at_source = true;
  page.state = std::move(state);
  page.step = "exporting blog_posts page 2";
  page.csrf_token = "csrf-123";
  TransferDatasetView d;
  d.dataset = "blog_posts";
  d.source_format = "blogger-atom";
  d.destination_format = "dtp-social-post";
  d.items_done = 40;
  d.items_total = 100;
  d.not_carried = {"labels", "updated"};
  page.datasets.push_back(d);
  return page;
}

TEST(TransferPageTest, ConsentFormSaysWhatMovesAndWhatIsDeleted) {
  auto page = sample_transfer("requested");
  page.decision_action = "/account/transfers/t-1/decision";
  const auto html = render_transfer(page, Lang::en);
  EXPECT_TRUE(contains(html, "action=\"/account/transfers/t-1/decision\""));
  EXPECT_TRUE(contains(html, "name=\"decision\" value=\"approve\""));
  EXPECT_TRUE(contains(html, "name=\"decision\" value=\"deny\""));
  EXPECT_TRUE(contains(html, "value=\"csrf-123\""));
  EXPECT_TRUE(contains(html, "deleted at the source"));
  EXPECT_TRUE(contains(html, "blogger-atom → dtp-social-post"));
  EXPECT_TRUE(contains(html, "labels, updated"));
  EXPECT_TRUE(contains(html, "Blog &lt;X&gt;"));
  EXPECT_FALSE(contains(html, "Blog <X>"));
  // Waiting for the resident: nothing to follow yet, so no refresh.
  EXPECT_FALSE(contains(html, "http-equiv=\"refresh\""));
}

// What the source's items held that the model could not take is said, apart from what the
// destination's format could not hold; neither row when there is nothing to say.
TEST(TransferPageTest, NamesWhatWasNotReadFromTheSource) {
  auto page = sample_transfer("completed");
  page.datasets[0].not_read = {"thr:total", "link rel=replies"};
  const auto html = render_transfer(page, Lang::en);
  EXPECT_TRUE(contains(html, "Not read from the source"));
  EXPECT_TRUE(contains(html, "thr:total, link rel=replies"));
  EXPECT_TRUE(contains(render_transfer(page, Lang::ja), "移行元から読み取れない項目"));
  page.datasets[0].not_read.clear();
  page.datasets[0].not_carried.clear();
  const auto plain = render_transfer(page, Lang::en);
  EXPECT_FALSE(contains(plain, "Not read from the source"));
  EXPECT_FALSE(contains(plain, "Not carried by the destination"));
}

TEST(TransferPageTest, CopyDoesNotWarnOfDeletion) {
  auto page = sample_transfer("requested");
  page.delete_at_source = false;
  page.decision_action = "/account/transfers/t-1/decision";
  const auto html = render_transfer(page, Lang::en);
  EXPECT_FALSE(contains(html, "deleted at the source"));
  EXPECT_TRUE(contains(html, "The source keeps its copy."));
}

TEST(TransferPageTest, ProgressRefreshesOnlyWhileRunning) {
  const auto running = render_transfer(sample_transfer("exporting"), Lang::en);
  EXPECT_TRUE(contains(running, "http-equiv=\"refresh\""));
  EXPECT_TRUE(contains(running, "40 / 100"));
  EXPECT_FALSE(contains(running, "name=\"decision\""));
  const auto done = render_transfer(sample_transfer("completed"), Lang::ja);
  EXPECT_FALSE(contains(done, "http-equiv=\"refresh\""));
  EXPECT_TRUE(contains(done, "完了しました"));
}

// A verified switch that could not carry everything: the page lists, name by name, what
// deleting at the source would lose, and offers keep or delete; it does not reload under the
// resident's hand, and has no consent buttons.
TEST(TransferPageTest, AwaitingConfirmationListsWhatDeletingWouldLoseAndAsks) {
  auto page = sample_transfer("awaiting_confirmation");
  page.datasets[0].not_read = {"feed/title"};
  page.decision_action = "/account/transfers/t-1/decision";
  const auto html = render_transfer(page, Lang::en);
  EXPECT_TRUE(contains(html, "<h1>Delete at the source?</h1>"));
  EXPECT_TRUE(contains(html, "Waiting for your decision about deletion at the source"));
  EXPECT_TRUE(contains(html, "<li><code>blog_posts</code> <code>feed/title</code> — not read"));
  EXPECT_TRUE(contains(html, "<li><code>blog_posts</code> <code>labels</code> — not carried"));
  EXPECT_TRUE(contains(html, "<li><code>blog_posts</code> <code>updated</code> — not carried"));
  EXPECT_TRUE(contains(html, "action=\"/account/transfers/t-1/decision\""));
  EXPECT_TRUE(contains(html, "name=\"decision\" value=\"keep\""));
  EXPECT_TRUE(contains(html, "name=\"decision\" value=\"delete\""));
  EXPECT_TRUE(contains(html, "value=\"csrf-123\""));
  EXPECT_FALSE(contains(html, "value=\"approve\""));
  EXPECT_FALSE(contains(html, "http-equiv=\"refresh\""));
  const auto ja = render_transfer(page, Lang::ja);
  EXPECT_TRUE(contains(ja, "移行元で削除しますか？"));
  EXPECT_TRUE(contains(ja, "移行元に残す"));
  EXPECT_TRUE(contains(ja, "それでも削除する"));
  // The time limit is named when known: without a decision, the data stays at the source.
  EXPECT_FALSE(contains(html, "Without your decision by"));
  page.decide_by = "2026-01-15 09:30 UTC";
  EXPECT_TRUE(contains(render_transfer(page, Lang::en),
                       "<p>Without your decision by 2026-01-15 09:30 UTC, nothing is deleted at "
                       "the source: the transfer ends as a copy, as with &quot;Keep at the "
                       "source&quot;.</p>"));
  EXPECT_TRUE(contains(render_transfer(page, Lang::ja),
                       "2026-01-15 09:30 UTC までに判断がない場合は、移行元では何も削除せず"));
  // Once decided, the form is gone.
  page.state = "completed";
  page.decision_action.clear();
  EXPECT_FALSE(contains(render_transfer(page, Lang::en), "name=\"decision\""));
}

TEST(AccountPageTest, ListsContractsTransfersAndTheTransferForm) {
  AccountPage page;
  page.resident_name = "Hanako";
  page.csrf_token = "c";
  page.contracts.push_back({"Blog X", "terminated", "2026-01-01 00:00 UTC",
                            "2026-02-01 00:00 UTC", "switched to Blog Y by transfer t-1"});
  page.transfers.push_back({"t-1", "Blog X", "Blog Y", "completed", "2026-02-01 00:00 UTC"});
  page.services = {{"x", "Blog X", {"blog_posts"}, true}, {"y", "Blog Y", {"blog_posts"}, false}};
  page.transfer_action = "/account/transfers";
  const auto html = render_account(page, Lang::en);
  EXPECT_TRUE(contains(html, "switched to Blog Y by transfer t-1"));
  EXPECT_TRUE(contains(html, "href=\"/account/transfers/t-1\""));
  EXPECT_TRUE(contains(html, "action=\"/account/transfers\""));
  EXPECT_TRUE(contains(html, "name=\"datasets\""));
  // Only a service the resident has a contract with can be the source.
  const auto source = html.substr(html.find("name=\"source\""));
  const auto source_select = source.substr(0, source.find("</select>"));
  EXPECT_TRUE(contains(source_select, "value=\"x\""));
  EXPECT_FALSE(contains(source_select, "value=\"y\""));
}

}  // namespace
}  // namespace server::pages
