#include "pages.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>

namespace server::pages {
namespace {

// The one stylesheet. Its exact bytes are hashed into kStyleCspHash (pages.hpp); any edit
// here must update that constant, which test_pages.cpp checks.
constexpr std::string_view kStyle = R"css(
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI","Hiragino Sans","Hiragino Kaku Gothic ProN","Noto Sans JP","Yu Gothic",Meiryo,sans-serif;line-height:1.6;color:#1f2328;background:#f4f5f7}
body{margin:0;padding:2rem 1rem}
main{max-width:36rem;margin:0 auto;background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1.5rem 1.75rem}
h1{font-size:1.4rem;margin:0 0 1rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
p{margin:.5rem 0}
ul{padding-left:1.25rem}
li{margin:.25rem 0}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;background:#f0f2f4;border-radius:4px;padding:0 .25em;overflow-wrap:anywhere}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=text],input[type=password]{width:100%;font:inherit;padding:.5rem .6rem;border:1px solid #8c959f;border-radius:6px}
input:focus,button:focus{outline:3px solid #0969da;outline-offset:1px}
button{font:inherit;font-weight:600;padding:.5rem 1.25rem;border-radius:6px;border:1px solid #8c959f;background:#f6f8fa;color:#1f2328;cursor:pointer}
button.primary{background:#1f6feb;border-color:#1f6feb;color:#fff}
.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin-top:1.5rem}
.alert{border:1px solid #cf222e;background:#ffebe9;color:#82071e;border-radius:6px;padding:.5rem .75rem}
.note{color:#57606a;font-size:.95em}
.detail{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:.75rem 0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.5rem 0}
dt{font-weight:600}
dd{margin:0;overflow-wrap:anywhere}
.warn{color:#9a6700;font-weight:600}
)css";

// The one script: it submits the form_post page's form. Its exact bytes are hashed into
// kFormPostScriptCspHash (pages.hpp), which test_pages.cpp checks.
constexpr std::string_view kFormPostScript = "document.forms[0].submit();";

constexpr std::string_view pick(Lang lang, std::string_view en, std::string_view ja) {
  return lang == Lang::ja ? ja : en;
}

// --- Accept-Language --------------------------------------------------------------------

constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view trim_ows(std::string_view s) {
  // RFC 9110 §5.6.3: OWS = *( SP / HTAB )
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 4647 §2.1: language-range = (1*8ALPHA *("-" 1*8alphanum)) / "*"
bool valid_language_range(std::string_view range) {
  if (range == "*") return true;
  std::size_t subtag = 0;
  bool first = true;
  for (std::size_t i = 0; i <= range.size(); ++i) {
    if (i == range.size() || range[i] == '-') {
      if (subtag == 0 || subtag > 8) return false;
      subtag = 0;
      first = false;
      continue;
    }
    const char c = range[i];
    if (!(is_alpha(c) || (!first && is_digit(c)))) return false;
    ++subtag;
  }
  return true;
}

// RFC 9110 §12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ),
// returned in thousandths so comparisons are exact.
std::optional<int> parse_qvalue(std::string_view v) {
  if (v.empty() || v.size() > 5 || (v[0] != '0' && v[0] != '1')) return std::nullopt;
  int thousandths = (v[0] - '0') * 1000;
  if (v.size() == 1) return thousandths;
  if (v[1] != '.') return std::nullopt;
  int scale = 100;
  for (std::size_t i = 2; i < v.size(); ++i, scale /= 10) {
    if (!is_digit(v[i])) return std::nullopt;
    thousandths += (v[i] - '0') * scale;
  }
  if (thousandths > 1000) return std::nullopt;
  return thousandths;
}

// How well one of our languages matches the header: q in thousandths, whether a range named
// it explicitly (rather than "*"), and where that range stood (earlier wins ties).
struct Match {
  int q = -1;  // -1: not mentioned
  bool explicit_range = false;
  std::size_t position = 0;
};

bool better(const Match& a, const Match& b) {
  if (a.q != b.q) return a.q > b.q;
  if (a.explicit_range != b.explicit_range) return a.explicit_range;
  return a.position < b.position;
}

}  // namespace

// RFC 4647 §3.4 lookup: "ja-JP" falls back to "ja"; we only serve primary languages, whose
// subtag comes first and is case-insensitive (RFC 5646 §2.1.1).
namespace {
std::optional<Lang> served_language(std::string_view tag) {
  const std::string_view primary = tag.substr(0, tag.find('-'));
  auto is = [primary](std::string_view lang) {
    return primary.size() == lang.size() &&
           std::equal(primary.begin(), primary.end(), lang.begin(),
                      [](char a, char b) { return to_lower(a) == b; });
  };
  if (is("ja")) return Lang::ja;
  if (is("en")) return Lang::en;
  return std::nullopt;
}
}  // namespace

std::optional<Lang> ui_locales_language(std::string_view ui_locales) {
  while (!ui_locales.empty()) {
    const std::size_t space = ui_locales.find(' ');
    if (auto lang = served_language(ui_locales.substr(0, space))) return lang;
    ui_locales = space == std::string_view::npos ? std::string_view{} : ui_locales.substr(space + 1);
  }
  return std::nullopt;
}

Lang negotiate_language(std::string_view accept_language) {
  Match ja;
  Match en;
  Match wildcard;
  std::size_t position = 0;
  while (!accept_language.empty()) {
    const std::size_t comma = accept_language.find(',');
    std::string_view element = accept_language.substr(0, comma);
    accept_language =
        comma == std::string_view::npos ? std::string_view{} : accept_language.substr(comma + 1);
    element = trim_ows(element);
    if (element.empty()) continue;  // RFC 9110 §5.6.1: empty list elements are ignored
    ++position;

    const std::size_t semi = element.find(';');
    const std::string_view range = trim_ows(element.substr(0, semi));
    if (!valid_language_range(range)) continue;
    int q = 1000;
    if (semi != std::string_view::npos) {
      // weight = OWS ";" OWS "q=" qvalue; anything else makes the element unusable.
      const std::string_view weight = trim_ows(element.substr(semi + 1));
      if (weight.size() < 2 || to_lower(weight[0]) != 'q' || weight[1] != '=') continue;
      const auto parsed = parse_qvalue(weight.substr(2));
      if (!parsed) continue;
      q = *parsed;
    }

    Match candidate{q, range != "*", position};
    if (range == "*") {
      if (wildcard.q < 0) wildcard = candidate;
      continue;
    }
    const auto served = served_language(range);
    Match* target = served == Lang::ja ? &ja : served == Lang::en ? &en : nullptr;
    // Several ranges may name the same language (ja-JP;q=0.2, ja;q=0.9): keep the best.
    if (target != nullptr && (!target->explicit_range || better(candidate, *target))) {
      *target = candidate;
    }
  }
  // "*" covers only the languages no range named (RFC 4647 §3.3.1).
  if (!ja.explicit_range) ja = wildcard;
  if (!en.explicit_range) en = wildcard;
  if (ja.q > 0 && better(ja, en)) return Lang::ja;
  return Lang::en;
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

// --- HTML building ----------------------------------------------------------------------

void begin_document(std::string& out, Lang lang, std::string_view title) {
  out += "<!DOCTYPE html>\n<html lang=\"";
  out += pick(lang, "en", "ja");
  out +=
      "\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      // The URLs of these pages carry the pending authorization; keep them to ourselves.
      "<meta name=\"referrer\" content=\"no-referrer\">\n"
      "<meta name=\"robots\" content=\"noindex, nofollow\">\n<title>";
  out += escape(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<main>\n";
}

void end_document(std::string& out) { out += "</main>\n</body>\n</html>\n"; }

void append_text(std::string& out, std::string_view text) { out += escape(text); }

void append_element(std::string& out, std::string_view tag, std::string_view text) {
  out += '<';
  out += tag;
  out += '>';
  append_text(out, text);
  out += "</";
  out += tag;
  out += ">\n";
}

void append_hidden(std::string& out, std::string_view name, std::string_view value) {
  out += "<input type=\"hidden\" name=\"";
  out += name;
  out += "\" value=\"";
  append_text(out, value);
  out += "\">\n";
}

void begin_form(std::string& out, std::string_view action) {
  out += "<form method=\"post\" action=\"";
  append_text(out, action);
  out += "\">\n";
}

// Literal identifiers (client ids, scope names, dataset names) in <code>.
void append_code(std::string& out, std::string_view text) {
  out += "<code>";
  append_text(out, text);
  out += "</code>";
}

// --- Scopes and authorization details ---------------------------------------------------

struct ScopeText {
  std::string_view scope;
  std::string_view en;
  std::string_view ja;
};

constexpr auto kScopeTexts = std::to_array<ScopeText>({
    {"openid", "Confirm who you are", "あなたが誰であるかを確認します"},
    {"profile", "Your name", "あなたの氏名"},
    {"email", "Your email address", "あなたのメールアドレス"},
    {"offline_access", "Keep access while you are away (refresh tokens)",
     "あなたが利用していない間もアクセスを続けます（リフレッシュトークン）"},
    {"portability.export", "Export your data from the service that holds it",
     "あなたのデータを保有しているサービスから書き出します"},
    {"portability.import", "Import your data into another service",
     "あなたのデータを別のサービスに取り込みます"},
    {"portability.delete", "Delete your data at the service it is moved from",
     "移行元のサービスであなたのデータを削除します"},
    {"audit.read", "Read the record of who received your data and when",
     "あなたのデータを誰がいつ受け取ったかの記録を閲覧します"},
});

void append_scope_item(std::string& out, std::string_view scope, Lang lang) {
  out += "<li>";
  const auto known = std::find_if(kScopeTexts.begin(), kScopeTexts.end(),
                                  [scope](const ScopeText& t) { return t.scope == scope; });
  if (known != kScopeTexts.end()) {
    append_text(out, pick(lang, known->en, known->ja));
    out += ' ';
  }
  // Unknown scopes are shown as their literal name: we cannot say what they mean.
  append_code(out, scope);
  out += "</li>\n";
}

std::vector<std::string_view> split_scope(std::string_view scope) {
  // RFC 6749 §3.3: scope-token list separated by SP.
  std::vector<std::string_view> out;
  while (!scope.empty()) {
    const std::size_t sp = scope.find(' ');
    if (sp != 0) out.push_back(scope.substr(0, sp));
    if (sp == std::string_view::npos) break;
    scope.remove_prefix(sp + 1);
  }
  return out;
}

void append_dd_row(std::string& out, std::string_view term, std::string_view value, Lang lang) {
  append_element(out, "dt", term);
  append_element(out, "dd", value.empty() ? pick(lang, "Not specified", "指定なし") : value);
}

void append_detail(std::string& out, const AuthorizationDetailView& d, Lang lang) {
  const bool provision = d.type == "personal_data_provision";
  const bool transfer = d.type == "personal_data_transfer";
  out += "<section class=\"detail\">\n<h3>";
  if (provision) {
    append_text(out, pick(lang, "Provide your personal data", "個人データの提供"));
  } else if (transfer) {
    append_text(out, pick(lang, "Move your personal data", "個人データの移行"));
  } else {
    append_code(out, d.type);
  }
  out += "</h3>\n<dl>\n";

  append_element(out, "dt", pick(lang, "Data", "対象データ"));
  out += "<dd>";
  if (d.datasets.empty()) {
    append_text(out, pick(lang, "Not specified", "指定なし"));
  } else {
    out += "<ul>";
    for (const auto& dataset : d.datasets) {
      out += "<li>";
      append_code(out, dataset);
      out += "</li>";
    }
    out += "</ul>";
  }
  out += "</dd>\n";

  // An unknown type shows every field that is set, so nothing the client sent is hidden.
  if (provision || (!transfer && !d.purpose.empty())) {
    append_dd_row(out, pick(lang, "Purpose", "利用目的"), d.purpose, lang);
  }
  if (provision || (!transfer && !d.recipient.empty())) {
    append_dd_row(out, pick(lang, "Recipient", "提供先"), d.recipient, lang);
  }
  // retention_until ends the permission (README, "When a consent ends"); without it the
  // permission lasts until the resident withdraws it.
  if (provision || (!transfer && !d.retention_until.empty())) {
    append_dd_row(out, pick(lang, "Allowed until", "利用期限"),
                  d.retention_until.empty() ? pick(lang, "Until you withdraw it", "取り消すまで")
                                            : std::string_view{d.retention_until},
                  lang);
  }
  if (transfer || (!provision && (!d.source.empty() || !d.destination.empty()))) {
    append_dd_row(out, pick(lang, "From", "移行元"), d.source, lang);
    append_dd_row(out, pick(lang, "To", "移行先"), d.destination, lang);
    append_element(out, "dt", pick(lang, "At the source", "移行元のデータ"));
    if (d.delete_at_source) {
      out += "<dd class=\"warn\">";
      append_text(out, pick(lang, "Your data will be deleted at the source after the move.",
                            "移行後、移行元で削除されます。"));
      out += "</dd>\n";
    } else {
      append_element(out, "dd",
                     pick(lang, "Your data stays at the source.", "移行元にも残ります。"));
    }
  }
  out += "</dl>\n</section>\n";
}

// --- Errors -----------------------------------------------------------------------------

struct ErrorText {
  std::string_view error;
  std::string_view en;
  std::string_view ja;
};

// RFC 6749 §4.1.2.1: when the client or its redirect_uri cannot be trusted, the error is
// shown here and the browser is not sent back to it.
constexpr auto kErrorTexts = std::to_array<ErrorText>({
    {"invalid_client", "This application is not known to us.",
     "このアプリケーションは登録されていません。"},
    {"invalid_redirect_uri",
     "This application asked to send you to an address it has not registered.",
     "このアプリケーションは登録されていない宛先への移動を求めました。"},
    {"invalid_request", "The request from the application is not valid.",
     "アプリケーションからのリクエストが正しくありません。"},
    {"unauthorized_client", "This application is not allowed to make this request.",
     "このアプリケーションにはこのリクエストが許可されていません。"},
    {"access_denied", "Access was denied.", "アクセスが拒否されました。"},
    {"login_required", "Your sign-in has expired. Please start again from the application.",
     "ログインの有効期限が切れました。アプリケーションからもう一度やり直してください。"},
    {"server_error", "Something went wrong on our side. Please try again later.",
     "サーバーで問題が発生しました。しばらくしてからもう一度お試しください。"},
    {"temporarily_unavailable", "The service is busy. Please try again later.",
     "ただいま混み合っています。しばらくしてからもう一度お試しください。"},
});

}  // namespace

std::string render_login(const LoginPage& page, Lang lang) {
  std::string out;
  out.reserve(4096);
  begin_document(out, lang, pick(lang, "Sign in", "ログイン"));
  append_element(out, "h1", pick(lang, "Sign in", "ログイン"));
  if (!page.client_name.empty()) {
    out += "<p>";
    if (lang == Lang::ja) {
      out += "<strong>";
      append_text(out, page.client_name);
      out += "</strong> を利用するには、情報銀行のアカウントでログインしてください。";
    } else {
      out += "Sign in to your information bank account to continue to <strong>";
      append_text(out, page.client_name);
      out += "</strong>.";
    }
    out += "</p>\n";
  }
  if (!page.error.empty()) {
    // One message for unknown user and wrong password alike, so the page does not reveal
    // which usernames exist (OWASP Authentication Cheat Sheet, "Authentication and Error
    // Messages").
    std::string_view message;
    if (page.error == "too_many_attempts") {
      message = pick(lang, "Too many attempts. Please wait a while and try again.",
                     "試行回数が多すぎます。しばらく待ってからもう一度お試しください。");
    } else {
      message = pick(lang, "The username or password is incorrect.",
                     "ユーザー名またはパスワードが正しくありません。");
    }
    out += "<p class=\"alert\" role=\"alert\">";
    append_text(out, message);
    out += "</p>\n";
  }
  begin_form(out, page.action);
  append_hidden(out, "handle", page.handle);
  append_hidden(out, "csrf_token", page.csrf_token);
  out += "<label for=\"username\">";
  append_text(out, pick(lang, "Username", "ユーザー名"));
  out +=
      "</label>\n<input type=\"text\" id=\"username\" name=\"username\" "
      "autocomplete=\"username\" autocapitalize=\"none\" spellcheck=\"false\" required";
  if (page.username.empty()) {
    out += " autofocus";
  }
  out += " value=\"";
  append_text(out, page.username);
  out += "\">\n<label for=\"password\">";
  append_text(out, pick(lang, "Password", "パスワード"));
  out +=
      "</label>\n<input type=\"password\" id=\"password\" name=\"password\" "
      "autocomplete=\"current-password\" required";
  if (!page.username.empty()) {
    out += " autofocus";
  }
  out += ">\n<div class=\"actions\">\n<button type=\"submit\" class=\"primary\">";
  append_text(out, pick(lang, "Sign in", "ログイン"));
  out += "</button>\n</div>\n</form>\n";
  end_document(out);
  return out;
}

std::string render_consent(const ConsentPage& page, Lang lang) {
  std::string out;
  out.reserve(8192);
  begin_document(out, lang, pick(lang, "Allow access?", "アクセスの許可"));
  append_element(out, "h1", pick(lang, "Allow access?", "アクセスを許可しますか？"));

  out += "<p>";
  if (lang == Lang::ja) {
    if (!page.resident_name.empty()) {
      append_text(out, page.resident_name);
      out += "さん、";
    }
    out += "<strong>";
    append_text(out, page.client_name.empty() ? page.client_id : page.client_name);
    out += "</strong>（クライアントID: ";
    append_code(out, page.client_id);
    out += "）が、次のことを求めています。";
  } else {
    if (!page.resident_name.empty()) {
      append_text(out, page.resident_name);
      out += ", ";
    }
    out += "<strong>";
    append_text(out, page.client_name.empty() ? page.client_id : page.client_name);
    out += "</strong> (client ID ";
    append_code(out, page.client_id);
    out += ") is asking for the following.";
  }
  out += "</p>\n";

  if (!page.scopes.empty()) {
    append_element(out, "h2", pick(lang, "Access", "アクセスの範囲"));
    out += "<ul>\n";
    for (const auto& scope : page.scopes) append_scope_item(out, scope, lang);
    out += "</ul>\n";
  }
  if (!page.details.empty()) {
    append_element(out, "h2", pick(lang, "Your personal data", "あなたの個人データ"));
    for (const auto& detail : page.details) append_detail(out, detail, lang);
  }

  out += "<p class=\"note\">";
  if (lang == Lang::ja) {
    out += "選択すると、";
    append_code(out, page.redirect_host);
    out += " に戻ります。許可した内容は、アカウントページからいつでも取り消せます。";
  } else {
    out += "After you choose, you will be sent back to ";
    append_code(out, page.redirect_host);
    out += ". You can withdraw this permission at any time on your account page.";
  }
  out += "</p>\n";

  begin_form(out, page.action);
  append_hidden(out, "handle", page.handle);
  append_hidden(out, "csrf_token", page.csrf_token);
  out +=
      "<div class=\"actions\">\n"
      "<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\">";
  append_text(out, pick(lang, "Allow", "同意する"));
  out += "</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">";
  append_text(out, pick(lang, "Deny", "拒否する"));
  out += "</button>\n</div>\n</form>\n";
  end_document(out);
  return out;
}

std::string render_error(const ErrorPage& page, Lang lang) {
  std::string out;
  out.reserve(4096);
  begin_document(out, lang, pick(lang, "Error", "エラー"));
  append_element(out, "h1",
                 pick(lang, "This request cannot be completed", "このリクエストは処理できません"));
  const auto known = std::find_if(kErrorTexts.begin(), kErrorTexts.end(),
                                  [&page](const ErrorText& t) { return t.error == page.error; });
  if (known != kErrorTexts.end()) {
    append_element(out, "p", pick(lang, known->en, known->ja));
  }
  if (!page.description.empty()) {
    out += "<p class=\"alert\">";
    append_text(out, page.description);
    out += "</p>\n";
  }
  out += "<p class=\"note\">";
  append_text(
      out,
      pick(lang,
           "For your safety you have not been sent back to the application. "
           "You can close this page.",
           "安全のため、アプリケーションには戻っていません。このページは閉じてかまいません。"));
  out += "</p>\n";
  if (!page.error.empty()) {
    out += "<p class=\"note\">";
    append_text(out, pick(lang, "Error code: ", "エラーコード: "));
    append_code(out, page.error);
    out += "</p>\n";
  }
  end_document(out);
  return out;
}

std::string render_form_post(std::string_view action,
                             const std::vector<std::pair<std::string, std::string>>& fields,
                             Lang lang) {
  std::string out;
  out.reserve(2048);
  const auto title = pick(lang, "Returning to the application", "アプリケーションに戻ります");
  begin_document(out, lang, title);
  append_element(out, "h1", title);
  begin_form(out, action);
  for (const auto& [name, value] : fields) append_hidden(out, name, value);
  out += "<p class=\"note\">";
  append_text(out, pick(lang, "If nothing happens, select Continue.",
                        "画面が切り替わらない場合は「続ける」を選んでください。"));
  out += "</p>\n<div class=\"actions\">\n<button type=\"submit\" class=\"primary\">";
  append_text(out, pick(lang, "Continue", "続ける"));
  out += "</button>\n</div>\n</form>\n<script>";
  out += kFormPostScript;
  out += "</script>\n";
  end_document(out);
  return out;
}

std::string render_logout(const LogoutPage& page, Lang lang) {
  std::string out;
  out.reserve(2048);
  begin_document(out, lang, pick(lang, "Sign out", "ログアウト"));
  append_element(out, "h1", pick(lang, "Sign out of infobank?", "infobank からログアウトしますか?"));
  const auto strong = [&out](std::string_view text) {
    out += "<strong>";
    append_text(out, text);
    out += "</strong>";
  };
  out += "<p>";
  if (!page.client_name.empty()) {
    strong(page.client_name);
    append_text(out, pick(lang, " asks to sign you out. ", " がログアウトを求めています。"));
  }
  if (!page.resident_name.empty()) {
    append_text(out, pick(lang, "You are signed in as ", "現在のログイン: "));
    strong(page.resident_name);
    append_text(out, pick(lang, ".", ""));
  }
  out += "</p>\n";
  begin_form(out, page.action);
  append_hidden(out, "csrf_token", page.csrf_token);
  append_hidden(out, "client_id", page.client_id);
  append_hidden(out, "post_logout_redirect_uri", page.post_logout_redirect_uri);
  append_hidden(out, "state", page.state);
  append_hidden(out, "ui_locales", page.ui_locales);
  out += "<div class=\"actions\">\n<button type=\"submit\" class=\"primary\">";
  append_text(out, pick(lang, "Sign out", "ログアウト"));
  out += "</button>\n</div>\n</form>\n";
  out += "<p class=\"note\">";
  append_text(out, pick(lang, "If you did not ask to sign out, close this page: you stay signed in.",
                        "ログアウトを求めていない場合は、このページを閉じてください。"
                        "ログインしたままになります。"));
  out += "</p>\n";
  end_document(out);
  return out;
}

std::string render_signed_out(const std::vector<std::string>& frontchannel_uris,
                              std::string_view next, Lang lang) {
  std::string out;
  out.reserve(1024 + 256 * frontchannel_uris.size());
  const auto title = pick(lang, "Signed out", "ログアウトしました");
  begin_document(out, lang, title);
  out.insert(out.find("<title>"),
             "<meta http-equiv=\"refresh\" content=\"2;url=" + escape(next) + "\">\n");
  append_element(out, "h1", title);
  append_element(out, "p",
                 pick(lang, "You are signed out of infobank, and of the services you signed in to "
                            "with it.",
                      "infobank と、infobank でログインしたサービスからログアウトしました。"));
  for (const auto& uri : frontchannel_uris) {
    out += "<iframe hidden title=\"logout\" src=\"";
    out += escape(uri);
    out += "\"></iframe>\n";
  }
  out += "<p><a href=\"";
  out += escape(next);
  out += "\">";
  append_text(out, pick(lang, "Continue", "続ける"));
  out += "</a></p>\n";
  end_document(out);
  return out;
}

// What an audit log action means to the resident it is about; empty for actions without words.
std::string_view action_words(std::string_view action, Lang lang) {
  struct Words {
    std::string_view action, en, ja;
  };
  static constexpr Words kWords[] = {
      {"login.success", "You signed in", "ログインしました"},
      {"login.failure", "A sign-in failed", "ログインに失敗しました"},
      {"logout", "You signed out", "ログアウトしました"},
      {"consent.granted", "You gave consent", "同意しました"},
      {"consent.amended", "You extended your consent", "同意の範囲を広げました"},
      {"consent.refused", "You refused", "拒否しました"},
      {"consent.withdrawn", "You withdrew consent", "同意を取り消しました"},
      {"consent.expired", "Your consent ended on the date you agreed to",
       "同意した期限が来たため、同意が終了しました"},
      {"token.issued", "The service was given access", "サービスにアクセス権が発行されました"},
      {"token.refreshed", "The service renewed its access", "サービスがアクセス権を更新しました"},
      {"token.revoked", "An access was revoked", "アクセス権が取り消されました"},
      {"code.replayed", "A reused code was refused and its access revoked",
       "再使用されたコードを拒否し、アクセス権を取り消しました"},
      {"refresh.reused", "A reused refresh token was refused and its access revoked",
       "再使用されたリフレッシュトークンを拒否し、アクセス権を取り消しました"},
      {"resident.added", "Your account was created", "アカウントが作成されました"},
  };
  for (const auto& w : kWords) {
    if (w.action == action) return pick(lang, w.en, w.ja);
  }
  return {};
}

std::string render_account(const AccountPage& page, Lang lang) {
  std::string out;
  out.reserve(8192 + page.grants.size() * 2048);
  begin_document(out, lang, pick(lang, "Your account", "アカウント"));
  append_element(out, "h1", pick(lang, "Your account", "アカウント"));
  if (!page.resident_name.empty()) {
    out += "<p>";
    if (lang == Lang::ja) {
      append_text(out, page.resident_name);
      out += "さんとしてログインしています。";
    } else {
      out += "Signed in as ";
      append_text(out, page.resident_name);
      out += '.';
    }
    out += "</p>\n";
  }

  append_element(out, "h2", pick(lang, "Permissions you have given", "許可しているアクセス"));
  if (page.grants.empty()) {
    append_element(out, "p",
                   pick(lang, "You have not allowed any application access.",
                        "アクセスを許可しているアプリケーションはありません。"));
  }
  for (const auto& grant : page.grants) {
    out += "<section class=\"detail\">\n";
    append_element(out, "h3", grant.client_name);
    out += "<dl>\n";
    append_dd_row(out, pick(lang, "Allowed on", "許可した日時"), grant.created_at, lang);
    append_element(out, "dt", pick(lang, "Expires", "有効期限"));
    append_element(out, "dd",
                   grant.expires_at.empty() ? pick(lang, "Until you withdraw it", "取り消すまで")
                                            : std::string_view{grant.expires_at});
    out += "</dl>\n";
    const auto scopes = split_scope(grant.scope);
    if (!scopes.empty()) {
      out += "<ul>\n";
      for (const auto scope : scopes) append_scope_item(out, scope, lang);
      out += "</ul>\n";
    }
    for (const auto& detail : grant.details) append_detail(out, detail, lang);
    begin_form(out, page.revoke_action);
    append_hidden(out, "grant_id", grant.id);
    append_hidden(out, "csrf_token", page.csrf_token);
    out += "<button type=\"submit\">";
    append_text(out, pick(lang, "Withdraw", "取り消す"));
    out += "</button>\n</form>\n</section>\n";
  }

  append_element(out, "h2", pick(lang, "Your contracts with services", "サービスとの契約"));
  if (page.contracts.empty()) {
    append_element(out, "p", pick(lang, "No contract is recorded.", "記録された契約はありません。"));
  }
  for (const auto& c : page.contracts) {
    out += "<section class=\"detail\">\n";
    append_element(out, "h3", c.service_name);
    out += "<dl>\n";
    append_dd_row(out, pick(lang, "Status", "状態"),
                  c.status == "active" ? pick(lang, "Active", "有効")
                                       : pick(lang, "Ended", "終了"),
                  lang);
    append_dd_row(out, pick(lang, "Since", "開始"), c.since, lang);
    if (!c.until.empty()) append_dd_row(out, pick(lang, "Until", "終了"), c.until, lang);
    append_dd_row(out, pick(lang, "Why", "理由"), c.reason, lang);
    out += "</dl>\n</section>\n";
  }

  append_element(out, "h2", pick(lang, "Move your data", "データの移行"));
  if (!page.transfers.empty()) {
    out += "<ul>\n";
    for (const auto& t : page.transfers) {
      out += "<li><a href=\"/account/transfers/";
      append_text(out, t.id);
      out += "\">";
      append_text(out, t.source_name);
      out += " → ";
      append_text(out, t.destination_name);
      out += "</a> ";
      append_code(out, t.state);
      out += " ";
      append_text(out, t.created_at);
      out += "</li>\n";
    }
    out += "</ul>\n";
  }
  if (!page.transfer_action.empty() && page.services.size() >= 2) {
    begin_form(out, page.transfer_action);
    append_hidden(out, "csrf_token", page.csrf_token);
    out += "<label for=\"source\">";
    append_text(out, pick(lang, "From", "移行元"));
    out += "</label>\n<select id=\"source\" name=\"source\">\n";
    for (const auto& s : page.services) {
      if (!s.contracted) continue;
      out += "<option value=\"";
      append_text(out, s.id);
      out += "\">";
      append_text(out, s.name);
      out += "</option>\n";
    }
    out += "</select>\n<label for=\"destination\">";
    append_text(out, pick(lang, "To", "移行先"));
    out += "</label>\n<select id=\"destination\" name=\"destination\">\n";
    for (const auto& s : page.services) {
      out += "<option value=\"";
      append_text(out, s.id);
      out += "\">";
      append_text(out, s.name);
      out += "</option>\n";
    }
    out += "</select>\n<fieldset>\n<legend>";
    append_text(out, pick(lang, "Data", "対象データ"));
    out += "</legend>\n";
    std::vector<std::string> datasets;
    for (const auto& s : page.services) {
      for (const auto& d : s.datasets) {
        if (std::find(datasets.begin(), datasets.end(), d) == datasets.end()) datasets.push_back(d);
      }
    }
    for (const auto& d : datasets) {
      out += "<div><input type=\"checkbox\" name=\"datasets\" id=\"ds-";
      append_text(out, d);
      out += "\" value=\"";
      append_text(out, d);
      out += "\"> <label for=\"ds-";
      append_text(out, d);
      out += "\">";
      append_text(out, d);
      out += "</label></div>\n";
    }
    out += "</fieldset>\n<fieldset>\n<legend>";
    append_text(out, pick(lang, "How", "方法"));
    out += "</legend>\n<div><input type=\"radio\" name=\"mode\" id=\"mode-switch\" "
           "value=\"switch\" checked> <label for=\"mode-switch\">";
    append_text(out, pick(lang, "Switch: move, then delete at the source and end that contract",
                          "乗り換え：移行後に移行元から削除し、その契約を終了する"));
    out += "</label></div>\n<div><input type=\"radio\" name=\"mode\" id=\"mode-copy\" "
           "value=\"copy\"> <label for=\"mode-copy\">";
    append_text(out, pick(lang, "Copy: the source keeps its data", "コピー：移行元のデータは残す"));
    out += "</label></div>\n</fieldset>\n<div class=\"actions\">\n<button type=\"submit\" "
           "class=\"primary\">";
    append_text(out, pick(lang, "Continue", "次へ"));
    out += "</button>\n</div>\n</form>\n";
  }

  append_element(out, "h2", pick(lang, "Who used your data", "あなたのデータの利用記録"));
  if (page.activity.empty()) {
    append_element(out, "p", pick(lang, "Nothing has been recorded yet.", "まだ記録はありません。"));
  } else {
    out += "<table>\n<thead><tr>";
    for (auto heading : {pick(lang, "When", "日時"), pick(lang, "What", "内容"),
                         pick(lang, "Who", "利用者"), pick(lang, "Purpose", "利用目的"),
                         pick(lang, "Data", "データ"), pick(lang, "Result", "結果")}) {
      append_element(out, "th", heading);
    }
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& a : page.activity) {
      std::string datasets;
      for (const auto& d : a.datasets) {
        if (!datasets.empty()) datasets += ", ";
        datasets += d;
      }
      out += "<tr>";
      append_element(out, "td", a.time);
      // Words for people, and the log's own name of the action for anyone comparing with it.
      out += "<td>";
      if (auto words = action_words(a.action, lang); !words.empty()) {
        append_text(out, words);
        out += ' ';
      }
      append_element(out, "code", a.action);
      out += "</td>";
      for (std::string_view cell : {std::string_view{a.client_name}, std::string_view{a.purpose},
                                    std::string_view{datasets}, std::string_view{a.outcome}}) {
        append_element(out, "td", cell);
      }
      out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
  }

  if (!page.logout_action.empty()) {
    begin_form(out, page.logout_action);
    append_hidden(out, "csrf_token", page.csrf_token);
    out += "<div class=\"actions\">\n<button type=\"submit\">";
    append_text(out, pick(lang, "Sign out", "ログアウト"));
    out += "</button>\n</div>\n</form>\n";
  }
  end_document(out);
  return out;
}

namespace {

std::string_view state_words(std::string_view state, Lang lang) {
  struct Words {
    std::string_view state, en, ja;
  };
  static constexpr Words kWords[] = {
      {"requested", "Waiting for your decision", "あなたの同意を待っています"},
      {"consented", "Starting", "開始しています"},
      {"exporting", "Copying from the source", "移行元から取り出しています"},
      {"importing", "Handing over to the destination", "移行先に渡しています"},
      {"verifying", "The destination is checking what it received", "移行先が受け取ったデータを確認しています"},
      {"awaiting_confirmation", "Waiting for your decision about deletion at the source",
       "移行元での削除について、あなたの判断を待っています"},
      {"deleting", "Deleting at the source", "移行元で削除しています"},
      {"completed", "Completed", "完了しました"},
      {"failed", "Failed; nothing more was deleted", "失敗しました（これ以上の削除は行われません）"},
      {"cancelled", "Cancelled", "取り消されました"}};
  for (const auto& w : kWords) {
    if (w.state == state) return pick(lang, w.en, w.ja);
  }
  return state;
}

// Waiting for the resident (no reload while they read and choose) or over.
bool running(std::string_view state) {
  return state != "requested" && state != "awaiting_confirmation" && state != "completed" &&
         state != "failed" && state != "cancelled";
}

// A verified switch that could not carry everything: what deleting at the source would lose,
// name by name, and the choice between deleting anyway and keeping the data at the source.
void append_deletion_decision(std::string& out, const TransferPage& page, Lang lang) {
  out += "<p class=\"warn\">";
  append_text(out, pick(lang,
                        "The destination confirmed everything it received, but not all of your "
                        "data could be carried. If it is deleted at the source, this is lost:",
                        "移行先は受け取ったデータをすべて確認しましたが、一部のデータは移行先に"
                        "移せませんでした。移行元で削除すると、次のものが失われます："));
  out += "</p>\n<ul class=\"lost\">\n";
  const auto lost = [&](const std::string& dataset, const std::vector<std::string>& names,
                        std::string_view why) {
    for (const auto& name : names) {
      out += "<li>";
      append_code(out, dataset);
      out += " ";
      append_code(out, name);
      out += " — ";
      append_text(out, why);
      out += "</li>\n";
    }
  };
  for (const auto& d : page.datasets) {
    lost(d.dataset, d.not_read,
         pick(lang, "not read from the source", "移行元から読み取れない項目"));
    lost(d.dataset, d.not_carried,
         pick(lang, "not carried by the destination's format", "移行先の形式で保持できない項目"));
  }
  out += "</ul>\n<ul>\n<li>";
  append_text(out, pick(lang,
                        "Keep at the source: nothing is deleted; the transfer ends as a copy and "
                        "your contract with the source stays.",
                        "移行元に残す：何も削除せず、コピーとして完了します。移行元との契約も"
                        "続きます。"));
  out += "</li>\n<li>";
  append_text(out, pick(lang,
                        "Delete anyway: the data is deleted at the source, including what is "
                        "listed above, and your contract with the source ends.",
                        "それでも削除する：上に挙げたものも含めて移行元でデータを削除し、移行元"
                        "との契約を終了します。"));
  out += "</li>\n</ul>\n";
  if (!page.decide_by.empty()) {
    out += "<p>";
    append_text(out, pick(lang, "Without your decision by ", ""));
    append_text(out, page.decide_by);
    append_text(out, pick(lang,
                          ", nothing is deleted at the source: the transfer ends as a copy, as "
                          "with \"Keep at the source\".",
                          " までに判断がない場合は、移行元では何も削除せず、「移行元に残す」と"
                          "同じくコピーとして完了します。"));
    out += "</p>\n";
  }
  begin_form(out, page.decision_action);
  append_hidden(out, "csrf_token", page.csrf_token);
  out += "<div class=\"actions\">\n"
         "<button type=\"submit\" name=\"decision\" value=\"keep\" class=\"primary\">";
  append_text(out, pick(lang, "Keep at the source", "移行元に残す"));
  out += "</button>\n<button type=\"submit\" name=\"decision\" value=\"delete\">";
  append_text(out, pick(lang, "Delete anyway", "それでも削除する"));
  out += "</button>\n</div>\n</form>\n";
}

}  // namespace

std::string render_transfer(const TransferPage& page, Lang lang) {
  std::string out;
  const bool deciding = !page.decision_action.empty() && page.state == "requested";
  const bool confirming =
      !page.decision_action.empty() && page.state == "awaiting_confirmation";
  const std::string_view title =
      deciding     ? pick(lang, "Move your data?", "データを移行しますか？")
      : confirming ? pick(lang, "Delete at the source?", "移行元で削除しますか？")
                   : pick(lang, "Moving your data", "データの移行");
  begin_document(out, lang, title);
  if (running(page.state)) {
    // Follows the progress without script (the CSP allows none): the page reloads itself.
    const auto at = out.find("<title>");
    out.insert(at, "<meta http-equiv=\"refresh\" content=\"2\">\n");
  }
  append_element(out, "h1", title);
  out += "<dl>\n";
  append_dd_row(out, pick(lang, "From", "移行元"), page.source_name, lang);
  append_dd_row(out, pick(lang, "To", "移行先"), page.destination_name, lang);
  append_dd_row(out, pick(lang, "State", "状態"), state_words(page.state, lang), lang);
  if (!deciding && !page.step.empty()) append_dd_row(out, pick(lang, "Now", "現在"), page.step, lang);
  if (page.retries > 0)
    append_dd_row(out, pick(lang, "Retries", "再試行"), std::to_string(page.retries), lang);
  out += "</dl>\n";
  if (!page.error.empty()) {
    out += "<p class=\"alert\">";
    append_text(out, page.error);
    out += "</p>\n";
  }
  if (deciding) {
    append_element(out, "p", pick(lang, "infobank will copy this data from the source to the destination, converting its format:",
                                  "infobank が次のデータを移行元から移行先へ、形式を変換してコピーします："));
  }
  for (const auto& d : page.datasets) {
    out += "<section class=\"detail\">\n";
    append_element(out, "h3", d.dataset);
    out += "<dl>\n";
    append_dd_row(out, pick(lang, "Format", "形式"), d.source_format + " → " + d.destination_format, lang);
    if (!deciding) {
      std::string items = std::to_string(d.items_done);
      if (d.items_total > 0) items += " / " + std::to_string(d.items_total);
      append_dd_row(out, pick(lang, "Items moved", "移行済み件数"), items, lang);
      std::string bytes = std::to_string(d.bytes_done);
      if (d.bytes_total > 0) bytes += " / " + std::to_string(d.bytes_total);
      append_dd_row(out, pick(lang, "Bytes", "バイト数"), bytes, lang);
      append_dd_row(out, pick(lang, "Confirmed by the destination", "移行先の確認"),
                    d.verified ? pick(lang, "Yes", "済み") : pick(lang, "Not yet", "未"), lang);
      if (page.delete_at_source)
        append_dd_row(out, pick(lang, "Deleted at the source", "移行元での削除"),
                      d.deleted ? pick(lang, "Yes", "済み") : pick(lang, "Not yet", "未"), lang);
    }
    const auto list_row = [&](const std::vector<std::string>& names, const char* en,
                              const char* ja) {
      if (names.empty()) return;
      std::string joined;
      for (const auto& n : names) joined += (joined.empty() ? "" : ", ") + n;
      append_dd_row(out, pick(lang, en, ja), joined, lang);
    };
    list_row(d.not_read, "Not read from the source (the common model has no place for it)",
             "移行元から読み取れない項目（共通モデルに対応する項目がないもの）");
    list_row(d.not_carried, "Not carried by the destination's format",
             "移行先の形式で保持できない項目");
    out += "</dl>\n</section>\n";
  }
  if (deciding) {
    if (page.delete_at_source) {
      out += "<p class=\"warn\">";
      append_text(out, pick(lang, "After the destination confirms it received everything, this data will be deleted at the source and your contract with it will end.",
                            "移行先がすべて受け取ったことを確認した後、移行元からこのデータを削除し、移行元との契約を終了します。"));
      out += "</p>\n";
    } else {
      append_element(out, "p", pick(lang, "The source keeps its copy.", "移行元のデータは削除されません。"));
    }
    begin_form(out, page.decision_action);
    append_hidden(out, "csrf_token", page.csrf_token);
    out += "<div class=\"actions\">\n<button type=\"submit\" name=\"decision\" value=\"approve\" class=\"primary\">";
    append_text(out, pick(lang, "Move my data", "移行する"));
    out += "</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">";
    append_text(out, pick(lang, "Cancel", "やめる"));
    out += "</button>\n</div>\n</form>\n";
  }
  if (confirming) append_deletion_decision(out, page, lang);
  out += "<p><a href=\"/account\">";
  append_text(out, pick(lang, "Back to your account", "アカウントに戻る"));
  out += "</a></p>\n";
  end_document(out);
  return out;
}

}  // namespace server::pages
